"""Billing credits, issue 13 points 1 and 3: credit grants (`/v1/billing/credit_grants`), their
ledger (`/v1/billing/credit_balance_transactions`) and the balance summary
(`/v1/billing/credit_balance_summary`), with their events, expiry at the expiry instant (a test
clock's too) and the functions the finalization code uses (`billing.credit_ledger`).

Calendar: the wall clock starts at 2025-03-10 00:00 UTC (MAR_10)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import stripe_shapes
import support
import time_machine
from test_subscriptions_preview import Catalog, Clock, ok, ts

from tally.billing import credit_ledger
from tally.clock import Clock as TallyClock
from tally.domain.credits import APPLIED, CreditGrant

MAR_10 = ts(2025, 3, 10)
DAY = 86_400
GRANTS = "/v1/billing/credit_grants"
SUMMARY = "/v1/billing/credit_balance_summary"
LEDGER = "/v1/billing/credit_balance_transactions"


def grant(api: support.Api, customer: str, value: int = 1000, **fields: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "customer": customer,
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": value}},
        "applicability_config": {"scope": {"price_type": "metered"}},
        **fields,
    }
    return ok(api.post(GRANTS, params))


def summary(api: support.Api, customer: str, **flt: Any) -> list[tuple[str, int, int]]:
    """(currency, available, ledger) per balance of the summary."""
    f = flt or {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}}
    body = ok(api.get(SUMMARY, {"customer": customer, "filter": f}))
    assert stripe_shapes.problems(body) == []
    return [
        (
            b["ledger_balance"]["monetary"]["currency"],
            b["available_balance"]["monetary"]["value"],
            b["ledger_balance"]["monetary"]["value"],
        )
        for b in body["balances"]
    ]


def ledger(api: support.Api, customer: str, **params: Any) -> list[tuple[str, str, int, int]]:
    """(type, kind, amount, effective_at) of the customer's ledger, oldest first."""
    page = ok(api.get(LEDGER, {"customer": customer, "limit": 100, **params}))
    out = []
    for t in reversed(page["data"]):
        assert stripe_shapes.problems(t) == []
        side = t["credit"] or t["debit"]
        out.append((t["type"], side["type"], side["amount"]["monetary"]["value"], t["effective_at"]))
    return out


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


def test_create_a_grant_in_stripes_shape_with_its_ledger_entry(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a customer
    customer = catalog.customer()
    # WHEN it is granted 10.00 USD of promotional credits, priority 10, expiring in 30 days
    g = grant(
        catalog.api,
        customer["id"],
        1000,
        category="promotional",
        priority=10,
        expires_at=MAR_10 + 30 * DAY,
        name="Welcome",
        metadata={"k": "v"},
    )
    # THEN Stripe's billing.credit_grant comes back and reads back the same
    assert stripe_shapes.problems(g) == []
    assert g["id"].startswith("credgr_") and g["object"] == "billing.credit_grant"
    assert g["amount"] == {"monetary": {"currency": "usd", "value": 1000}, "type": "monetary"}
    assert g["applicability_config"] == {"scope": {"price_type": "metered"}}
    assert (g["category"], g["priority"], g["effective_at"], g["expires_at"]) == (
        "promotional",
        10,
        MAR_10,
        MAR_10 + 30 * DAY,
    )
    assert (g["customer"], g["name"], g["metadata"], g["voided_at"], g["test_clock"]) == (
        customer["id"],
        "Welcome",
        {"k": "v"},
        None,
        None,
    )
    assert ok(catalog.api.get(f"{GRANTS}/{g['id']}")) == g
    # AND the ledger holds its credits_granted entry; the balance is 10.00
    assert ledger(catalog.api, customer["id"]) == [("credit", "credits_granted", 1000, MAR_10)]
    assert summary(catalog.api, customer["id"]) == [("usd", 1000, 1000)]


def test_defaults_paid_priority_50(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    g = grant(catalog.api, customer["id"])
    assert (g["category"], g["priority"], g["expires_at"], g["name"]) == ("paid", 50, None, None)


def test_grants_of_gives_live_grants_with_what_is_left(catalog: Catalog, clock: Clock) -> None:
    # GIVEN two grants of one customer, one of them voided
    customer = catalog.customer()
    a = grant(catalog.api, customer["id"], 700)
    b = grant(catalog.api, customer["id"], 300)
    ok(catalog.api.post(f"{GRANTS}/{b['id']}/void"))
    # WHEN the finalization code asks for the customer's grants
    found = credit_ledger.grants_of(catalog.api.account.id, customer["id"], TallyClock.at(MAR_10))
    # THEN only the live one, with all of it left
    assert [(x.grant.id, x.remaining) for x in found] == [(a["id"], 700)]
    assert isinstance(found[0].grant, CreditGrant)


def test_a_debit_never_spends_more_than_is_left(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a grant of 10.00 and the ledger append function
    from tally.errors import Conflict
    from tally.store import transactions

    customer = catalog.customer()
    g = grant(catalog.api, customer["id"], 1000)
    account = catalog.api.account.id
    (b,) = credit_ledger.grants_of(account, customer["id"], TallyClock.at(MAR_10))
    # WHEN 6.00 is applied to an invoice
    first = credit_ledger.entry(
        b.grant,
        APPLIED,
        600,
        effective_at=MAR_10,
        now=MAR_10,
        invoice="in_1",
        invoice_line_item="il_1",
        about=("in_1", "il_1"),
    )
    transactions.commit(account, [credit_ledger.ledger_write(first)], TallyClock.at(MAR_10))
    # THEN 4.00 is left, and a second invoice taking 6.00 more fails, writing nothing
    second = credit_ledger.entry(
        b.grant,
        APPLIED,
        600,
        effective_at=MAR_10,
        now=MAR_10,
        invoice="in_2",
        invoice_line_item="il_2",
        about=("in_2", "il_2"),
    )
    with pytest.raises(Conflict):
        transactions.commit(account, [credit_ledger.ledger_write(second)], TallyClock.at(MAR_10))
    assert summary(catalog.api, customer["id"]) == [("usd", 400, 400)]
    assert [e[:3] for e in ledger(catalog.api, customer["id"])] == [
        ("credit", "credits_granted", 1000),
        ("debit", "credits_applied", 600),
    ]
    # AND the same entry written twice counts once (its id is derived)
    with pytest.raises(Conflict):
        transactions.commit(account, [credit_ledger.ledger_write(first)], TallyClock.at(MAR_10))
    assert summary(catalog.api, customer["id"]) == [("usd", 400, 400)]
    assert g["id"] == b.grant.id
