"""`objects.get_many`: the records `objects.get` would return, one BatchGetItem for all of them,
and the same NotFound for the first that is not there (absent, of another kind, an impossible id)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import support

from tally.clock import Clock
from tally.domain.records import Customer, Meter, Price, Product
from tally.errors import NotFound
from tally.store import objects


def _calls(call: Any) -> tuple[Any, Counter[str]]:
    with support.dynamodb_calls() as calls:
        result = call()
    return result, Counter(op for op, _ in calls)


@pytest.fixture
def catalog(api: support.Api) -> dict[str, str]:
    price = api.post(
        "/v1/prices", {"currency": "usd", "unit_amount": 5, "product_data": {"name": "Seats"}}
    ).json
    meter = api.post(
        "/v1/billing/meters",
        {"display_name": "T", "event_name": "t", "default_aggregation": {"formula": "sum"}},
    ).json
    customer = api.post("/v1/customers", {"name": "C"}).json
    return {
        "price": price["id"],
        "product": price["product"],
        "meter": meter["id"],
        "customer": customer["id"],
    }


def test_records_as_get_returns_them_in_one_read(api: support.Api, catalog: dict[str, str]) -> None:
    clock = Clock.system()
    wanted = [
        (catalog["price"], Price, None),
        (catalog["product"], Product, None),
        (catalog["meter"], Meter, "billing meter"),
        (catalog["customer"], Customer, None),
        (catalog["price"], Price, None),  # named twice: read once
    ]
    found, seen = _calls(lambda: objects.get_many(api.account.id, wanted, clock))
    assert seen == Counter({"BatchGetItem": 1}), seen
    for object_id, cls, _ in wanted:
        assert found[object_id] == objects.get(api.account.id, object_id, cls, clock)


@pytest.mark.parametrize(
    "bad,cls,label,message",
    [
        ("prod_nope", Product, None, "No such product: 'prod_nope'"),
        ("mtr_nope", Meter, "billing meter", "No such billing meter: 'mtr_nope'"),
        ("has#hash and spaces", Price, None, "No such price: 'has#hash and spaces'"),
        ("x" * 300, Price, None, f"No such price: '{'x' * 100}'"),
    ],
)
def test_a_missing_or_impossible_id_is_get_s_not_found(
    api: support.Api, catalog: dict[str, str], bad: str, cls: type, label: str | None, message: str
) -> None:
    clock = Clock.system()
    with pytest.raises(NotFound) as got:
        objects.get_many(api.account.id, [(catalog["price"], Price, None), (bad, cls, label)], clock)
    assert got.value.message == message
    with pytest.raises(NotFound) as direct:
        objects.get(api.account.id, bad, cls, clock, label=label)
    assert direct.value.message == got.value.message


def test_an_object_of_another_kind_or_account_is_not_found(
    api: support.Api, other_account: support.Account, catalog: dict[str, str]
) -> None:
    clock = Clock.system()
    with pytest.raises(NotFound):  # a product asked for as a price
        objects.get_many(api.account.id, [(catalog["product"], Price, None)], clock)
    with pytest.raises(NotFound):  # another account's price
        objects.get_many(other_account.id, [(catalog["price"], Price, None)], clock)
    assert objects.get_many(api.account.id, [], clock) == {}
