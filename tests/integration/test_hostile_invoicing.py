"""Hostile input on the customer balance routes (`/v1/customers/{id}/balance_transactions[/{id}]`):
every row gets a Stripe error envelope with its 4xx and changes nothing (the customer's ledger and
the account's event log are the same before and after). The generic rows and the machinery are
tests/integration/test_hostile_input.py's; the rows here are this route's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import support
from test_hostile_input import SEEDS as BASE_SEEDS
from test_hostile_input import Row, Target, _snapshot, form, get_cases, post_cases

pytestmark = pytest.mark.usefixtures("moto_tables")

LEDGER = "/v1/customers/{ledger_customer}/balance_transactions"
ONE = LEDGER + "/{cbtxn}"
MAX_AMOUNT = 999_999_999_999_999


def _ledger_customer(api: support.Api, get: Callable[[str], str]) -> str:
    """A customer with one −100 usd adjustment (so its balance's currency is usd)."""
    customer = api.post("/v1/customers", {"name": "ledger"}).json["id"]
    made = api.post(f"/v1/customers/{customer}/balance_transactions", {"amount": -100, "currency": "usd"})
    assert made.status == 200, made.text
    return str(customer)


def _cbtxn(api: support.Api, get: Callable[[str], str]) -> str:
    page = api.get(f"/v1/customers/{get('ledger_customer')}/balance_transactions").json
    return str(page["data"][-1]["id"])


def _foreign_cbtxn(api: support.Api, get: Callable[[str], str]) -> str:
    """A balance transaction of another customer of the same account."""
    made = api.post(f"/v1/customers/{get('customer')}/balance_transactions", {"amount": 5, "currency": "usd"})
    return str(made.json["id"])


SEEDS: dict[str, Callable[[support.Api, Callable[[str], str]], str]] = {
    **BASE_SEEDS,
    "ledger_customer": _ledger_customer,
    "cbtxn": _cbtxn,
    "foreign_cbtxn": _foreign_cbtxn,
}


def _row(name: str, method: str, path: str, status: int = 400, **kwargs: Any) -> Row:
    return Row(f"{method} {path} {name}", method, path, status, listing=LEDGER, **kwargs)


VALID = {"amount": -250, "currency": "usd"}
TARGETS = [
    Target(LEDGER, valid=VALID, string_param="currency", listing=LEDGER),
    Target(ONE, valid={"description": "Goodwill"}, string_param="description", listing=LEDGER),
]
ROWS: list[Row] = [
    *(row for target in TARGETS for row in post_cases(target)),
    *get_cases(LEDGER),
    _row("amount missing", "POST", LEDGER, body=form({"currency": "usd"}), code="parameter_missing"),
    _row("amount 0", "POST", LEDGER, body=form({**VALID, "amount": 0}), param="amount"),
    _row("amount as a float", "POST", LEDGER, body=form({**VALID, "amount": "1.5"}), param="amount"),
    _row("amount as a hash", "POST", LEDGER, body=form({**VALID, "amount": {"x": "1"}}), param="amount"),
    _row(
        "amount beyond the limit",
        "POST",
        LEDGER,
        body=form({**VALID, "amount": MAX_AMOUNT + 1}),
        param="amount",
    ),
    _row("amount beyond int64", "POST", LEDGER, body=form({**VALID, "amount": 2**63}), param="amount"),
    _row(
        "balance beyond the limit",
        "POST",
        LEDGER,
        body=form({**VALID, "amount": -MAX_AMOUNT}),
        code="amount_too_large",
        param="amount",
    ),
    _row("currency missing", "POST", LEDGER, body=form({"amount": -1}), code="parameter_missing"),
    _row("unknown currency", "POST", LEDGER, body=form({**VALID, "currency": "xyz"}), param="currency"),
    _row("another currency", "POST", LEDGER, body=form({**VALID, "currency": "eur"}), param="currency"),
    _row("description over 350", "POST", LEDGER, body=form({**VALID, "description": "d" * 351})),
    _row(
        "51 metadata keys",
        "POST",
        LEDGER,
        body=form({**VALID, "metadata": {f"k{i}": "v" for i in range(51)}}),
    ),
    _row(
        "unknown customer",
        "POST",
        "/v1/customers/cus_nope/balance_transactions",
        404,
        body=form(VALID),
        code="resource_missing",
    ),
    _row(
        "expand a field that cannot expand",
        "POST",
        LEDGER,
        body=form({**VALID, "expand": ["amount"]}),
    ),
    _row("update the amount", "POST", ONE, body=form({"amount": 1}), code="parameter_unknown"),
    _row("update the currency", "POST", ONE, body=form({"currency": "usd"}), code="parameter_unknown"),
    _row("update the type", "POST", ONE, body=form({"type": "adjustment"}), code="parameter_unknown"),
    _row("update an unknown one", "POST", LEDGER + "/cbtxn_nope", 404, body=form({"description": "x"})),
    _row(
        "update another customer's",
        "POST",
        LEDGER + "/{foreign_cbtxn}",
        404,
        body=form({"description": "x"}),
        code="resource_missing",
    ),
    _row("retrieve an unknown one", "GET", LEDGER + "/cbtxn_nope", 404),
    _row("retrieve another customer's", "GET", LEDGER + "/{foreign_cbtxn}", 404),
    _row("retrieve with an id of 5,000 chars", "GET", LEDGER + "/" + "x" * 5000, 404),
    _row("retrieve with an unknown param", "GET", ONE, query="nope=1", code="parameter_unknown"),
    _row("list of an unknown customer", "GET", "/v1/customers/cus_nope/balance_transactions", 404),
    _row("list with an over-long invoice", "GET", LEDGER, query="invoice=" + "i" * 300),
    _row("list with invoice as a hash", "GET", LEDGER, query="invoice[x]=1"),
    _row("list with a bad created", "GET", LEDGER, query="created[gt]=soon"),
]


class Seeds:
    """The seeds of test_hostile_input, plus this file's, created on first use."""

    def __init__(self, api: support.Api) -> None:
        self.api = api
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str:
        if name not in self.values:
            self.values[name] = SEEDS[name](self.api, self.get)
        return self.values[name]

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            for name in SEEDS:
                if "{" + name + "}" in value:
                    value = value.replace("{" + name + "}", self.get(name))
            return value
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value


@pytest.fixture(scope="module")
def shared(functions: support.Functions) -> tuple[support.Api, Seeds]:
    api = support.Api(functions, support.new_account())
    return api, Seeds(api)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id[:120])
def test_hostile_balance_input_gets_a_4xx_stripe_error_and_changes_nothing(
    shared: tuple[support.Api, Seeds], row: Row
) -> None:
    # GIVEN a customer with a ledger, and a snapshot of it and of the event log
    api, seeds = shared
    path, listing, query = seeds.fill(row.path), seeds.fill(row.listing), seeds.fill(row.query)
    body, ctype = row.body(seeds.fill) if row.body else (b"", "application/x-www-form-urlencoded")
    before = _snapshot(api, listing)
    # WHEN the hostile request is sent
    response = api.request(row.method, path, body=body, query=query, content_type=ctype, headers=row.headers)
    # THEN a Stripe error with the expected 4xx, and nothing stored or changed
    assert 400 <= response.status < 500, (response.status, response.text[:500])
    support.assert_stripe_error(response.status, response.json, row.status, code=row.code, param=row.param)
    assert _snapshot(api, listing) == before


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.path)
def test_each_valid_request_succeeds(api: support.Api, target: Target) -> None:
    # GIVEN a target's valid request WHEN sent THEN it succeeds and the ledger changes, so the rows
    # above fail for their hostile part only
    seeds = Seeds(api)
    path, listing = seeds.fill(target.path), seeds.fill(target.listing)
    body, ctype = form(target.valid)(seeds.fill)
    before = _snapshot(api, listing)
    response = api.request("POST", path, body=body, content_type=ctype)
    assert response.status == 200, response.text
    assert _snapshot(api, listing) != before
