"""Billing credits applied exactly once (issue 13 point 2): a crash at each write of finalizing,
paying and voiding an invoice that took credits, then the retry; two finalizations of one
customer's invoices interleaved so the second read the grant before the first wrote its debit.
Calendar and plan as tests/integration/test_credit_application.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import support
import time_machine
from test_credit_application import APR_10, DAY, HOUR, MAR_20, Plan, money
from test_subscriptions_preview import Catalog, Clock, ok

from tally.billing import credit_application, cycles, lifecycle
from tally.clock import Clock as TallyClock
from tally.domain.records import Invoice
from tally.store import objects


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


# -- exactly once: crashes and concurrent finalizations --------------------------------------------
def _stored(account: support.Account, invoice_id: str) -> Invoice:
    return objects.get(account.id, invoice_id, Invoice, TallyClock(APR_10 + DAY))


def test_a_crash_at_each_write_of_finalize_and_pay_counts_credits_once(
    catalog: Catalog, clock: Clock, functions: support.Functions, account: support.Account
) -> None:
    # GIVEN 600 of usage and a 10.00 grant (the invoice is then fully covered: finalize, then pay)
    plan = Plan(catalog)
    plan.grant(1000)
    clock.at(MAR_20)
    plan.use(15_000)
    draft = plan.draft(functions, clock)
    at = TallyClock(APR_10 + HOUR + 60)
    # crash point 1: the finalizing transaction (invoice, customer, entries, grant debit) → nothing
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        lifecycle.advance_due(account.id, draft["id"], at)
    assert _stored(account, draft["id"]).status == "draft"
    assert plan.ledger() == [("credit", "credits_granted", 1000)] and plan.summary() == [("usd", 400, 1000)]
    # crash point 2: the paying transaction (nothing due) → open, credits applied once
    with support.TransactionCrash(at=2), pytest.raises(support.InjectedCrash):
        lifecycle.advance_due(account.id, draft["id"], at)
    assert _stored(account, draft["id"]).status == "open"
    assert plan.ledger() == [("credit", "credits_granted", 1000), ("debit", "credits_applied", 600)]
    # retries (and a duplicate) pay it; still applied once
    assert lifecycle.advance_due(account.id, draft["id"], at)[0] == "paid"
    assert lifecycle.advance_due(account.id, draft["id"], at)[0] == "already_finalized"
    assert plan.summary() == [("usd", 400, 400)]


def test_a_crash_in_the_void_transaction_then_retry_reinstates_once(
    catalog: Catalog, clock: Clock, functions: support.Functions, account: support.Account
) -> None:
    # crash point: the void's one transaction (invoice, entries, grant's remaining credits)
    plan = Plan(catalog, seats=True)  # 600 tokens + 1,000 seat: 1,000 stays due, the invoice open
    plan.grant(1000)
    clock.at(MAR_20)
    plan.use(15_000)
    inv = plan.finalize(plan.draft(functions, clock))
    at = TallyClock(APR_10 + 2 * HOUR)
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        lifecycle.void(account.id, inv["id"], at)
    assert _stored(account, inv["id"]).status == "open" and plan.summary() == [("usd", 400, 400)]
    lifecycle.void(account.id, inv["id"], at)
    assert catalog.api.post(f"/v1/invoices/{inv['id']}/void").status == 400
    assert plan.summary() == [("usd", 1000, 1000)]
    assert [k for _, k, _ in plan.ledger()].count("credits_application_invoice_voided") == 1


def test_two_invoices_finalizing_at_once_never_spend_a_credit_twice(
    catalog: Catalog,
    clock: Clock,
    functions: support.Functions,
    account: support.Account,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN one customer with two token subscriptions of 1,200 each and a 10.00 grant
    plan = Plan(catalog)
    other = catalog.subscribe(plan.customer, {"price": plan.prices[0]["id"]})
    plan.grant(1000)
    clock.at(MAR_20)
    plan.use(30_000)  # one meter, two subscriptions: each bills the customer's 30,000 tokens (1,200)
    clock.at(APR_10)
    for sub in (plan.sub, other):
        assert cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(APR_10)).outcome == "billed"
    drafts = ok(catalog.api.get("/v1/invoices", {"customer": plan.cid, "status": "draft"}))["data"]
    assert sorted(d["subscription"] for d in drafts) == sorted([plan.sub["id"], other["id"]])
    inv_a, inv_b = drafts
    assert inv_a["total"] == inv_b["total"] == 1200
    # WHEN B finalizes entirely while A is between reading the grants and writing its debit
    real = credit_application.apply
    interleaved: list[bool] = []

    def apply(*args: Any, **kwargs: Any) -> Any:
        done = real(*args, **kwargs)
        if not interleaved:
            interleaved.append(True)
            lifecycle.finalize(account.id, inv_b["id"], TallyClock(APR_10 + HOUR))
        return done

    monkeypatch.setattr(credit_application, "apply", apply)
    lifecycle.finalize(account.id, inv_a["id"], TallyClock(APR_10 + HOUR))
    # THEN A's stale write was refused and it re-read the grant: B took 1,000, A nothing
    got_a = ok(catalog.api.get(f"/v1/invoices/{inv_a['id']}"))
    got_b = ok(catalog.api.get(f"/v1/invoices/{inv_b['id']}"))
    assert money(got_b) == ("open", 1200, 200, 200) and money(got_a) == ("open", 1200, 1200, 1200)
    assert plan.ledger() == [("credit", "credits_granted", 1000), ("debit", "credits_applied", 1000)]
    assert plan.summary() == [("usd", 0, 0)]
