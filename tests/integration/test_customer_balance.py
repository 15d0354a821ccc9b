"""The customer balance (Stripe's `customer.balance`, issue 12 point 3): a negative invoice total
becomes credit, later invoices consume it (`starting_balance`, `ending_balance`, `amount_due`), a
voided invoice gives it back, and `/v1/customers/{id}/balance_transactions` shows the ledger.

Calendar of tests/integration/test_subscription_updates.py: subscriptions start on 2025-03-10 00:00
UTC, first period [Mar 10, Apr 10) = 31 days; Mar 20 leaves 21 of 31 days. Seats are 10.00 each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import stripe_shapes
import support
import time_machine
from test_billing_cycles import close
from test_subscription_updates import MAR_20, seats_subscription, update
from test_subscriptions_preview import Catalog, Clock, ok, ts

from tally.billing import balances, cycles, lifecycle
from tally.clock import Clock as TallyClock
from tally.domain.records import Customer, Invoice
from tally.store import objects

HOUR = 3600
APR_20 = ts(2025, 4, 20)


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


def _url(customer: dict[str, Any] | str) -> str:
    cid = customer if isinstance(customer, str) else customer["id"]
    return f"/v1/customers/{cid}/balance_transactions"


def _ledger(catalog: Catalog, customer: dict[str, Any], **params: Any) -> list[tuple[str, int, int]]:
    """(type, amount, ending_balance) of the customer's balance transactions, oldest first."""
    page = ok(catalog.api.get(_url(customer), {"limit": 100, **params}))
    return [(t["type"], t["amount"], t["ending_balance"]) for t in reversed(page["data"])]


def _balance(catalog: Catalog, customer: dict[str, Any]) -> int:
    return int(ok(catalog.api.get(f"/v1/customers/{customer['id']}"))["balance"])


def _later(catalog: Catalog, sub: dict[str, Any]) -> list[dict[str, Any]]:
    found = ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"]}))["data"]
    return [i for i in found if i["billing_reason"] != "subscription_create"]


def _money(inv: dict[str, Any]) -> tuple[str, int, int, int, int | None]:
    return (inv["status"], inv["total"], inv["amount_due"], inv["starting_balance"], inv["ending_balance"])


def _cancel_with_credit(catalog: Catalog, clock: Clock) -> tuple[dict[str, Any], dict[str, Any]]:
    """2 seats from Mar 10, canceled on Mar 20 with invoice_now and prorate: the final invoice
    credits the unused time, −2,000 × 21/31 = −1,354.84 → −1,355."""
    customer, sub = seats_subscription(catalog)
    clock.at(MAR_20)
    ok(catalog.api.request("DELETE", f"/v1/subscriptions/{sub['id']}", query="invoice_now=true&prorate=true"))
    (inv,) = _later(catalog, sub)
    assert _money(inv) == ("draft", -1355, 0, 0, None)
    return customer, inv


# -- a negative total becomes credit, and the next invoices consume it ----------------------------
def test_a_negative_total_becomes_credit_that_later_invoices_consume(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN a cancel whose final invoice is −1,355
    customer, credit = _cancel_with_credit(catalog, clock)
    # WHEN it finalizes on its own after the grace period
    clock.at(MAR_20 + HOUR + 60)
    close(functions, MAR_20 + HOUR + 60)
    functions.drain()
    # THEN it is paid with nothing due, and the customer holds a 1,355 credit (not lost)
    credit = ok(catalog.api.get(f"/v1/invoices/{credit['id']}"))
    assert _money(credit) == ("paid", -1355, 0, 0, -1355)
    assert _balance(catalog, customer) == -1355
    assert _ledger(catalog, customer) == [("applied_to_invoice", -1355, -1355)]
    # WHEN the customer subscribes again to 1 seat (its creation invoice: 1,000, finalized at once)
    clock.at(MAR_20 + 2 * HOUR)
    seats = catalog.price("Seats", unit_amount=1000)
    sub = catalog.subscribe(customer, {"price": seats["id"], "quantity": 1})
    first = ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"]}))["data"][0]
    # THEN the credit pays it: starting −1,355, due 0, ending −355, paid
    assert _money(first) == ("paid", 1000, 0, -1355, -355)
    assert _balance(catalog, customer) == -355
    # WHEN its first period closes (Apr 20): the draft shows the credit it expects to use
    clock.at(APR_20 + 2 * HOUR + 60)
    close(functions, APR_20 + 2 * HOUR + 60)
    functions.drain()
    (renewal,) = _later(catalog, sub)
    assert _money(renewal) == ("draft", 1000, 645, -355, None)
    # AND it is finalized: the last 355 of credit is used, 645 is due
    renewal = ok(catalog.api.post(f"/v1/invoices/{renewal['id']}/finalize"))
    assert _money(renewal) == ("open", 1000, 645, -355, 0)
    assert renewal["amount_remaining"] == 645
    assert _balance(catalog, customer) == 0
    # WHEN it is voided THEN the credit it used comes back (Stripe's unapplied_from_invoice)
    ok(catalog.api.post(f"/v1/invoices/{renewal['id']}/void"))
    assert _balance(catalog, customer) == -355
    assert _ledger(catalog, customer) == [
        ("applied_to_invoice", -1355, -1355),
        ("applied_to_invoice", 1000, -355),
        ("applied_to_invoice", 355, 0),
        ("unapplied_from_invoice", -355, -355),
    ]
    # AND the ledger filters by invoice, and each entry has Stripe's shape
    assert _ledger(catalog, customer, invoice=renewal["id"]) == [
        ("applied_to_invoice", 355, 0),
        ("unapplied_from_invoice", -355, -355),
    ]
    for t in ok(catalog.api.get(_url(customer)))["data"]:
        assert stripe_shapes.problems(t) == [], t
        assert t["customer"] == customer["id"] and t["currency"] == "usd" and t["id"].startswith("cbtxn_")
    shown = ok(catalog.api.get(f"/v1/customers/{customer['id']}"))
    assert shown["currency"] == "usd" and stripe_shapes.problems(shown) == []
    assert stripe_shapes.problems(renewal) == []


def test_a_debit_is_added_to_the_next_invoice(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a customer owing 250 (a positive adjustment), with 2 seats (creation invoice 2,000)
    customer, sub = seats_subscription(catalog)
    ok(catalog.api.post(_url(customer), {"amount": 250, "currency": "usd"}))
    # WHEN 2 → 5 seats on Mar 20 with always_invoice (−1,355 + 3,387 = 2,032) is finalized
    clock.at(MAR_20)
    item = sub["items"]["data"][0]["id"]
    ok(update(catalog, sub, items=[{"id": item, "quantity": 5}], proration_behavior="always_invoice"))
    (inv,) = _later(catalog, sub)
    inv = ok(catalog.api.post(f"/v1/invoices/{inv['id']}/finalize"))
    # THEN 2,032 + 250 = 2,282 is due and the balance is settled
    assert _money(inv) == ("open", 2032, 2282, 250, 0)
    assert _balance(catalog, customer) == 0
    assert _ledger(catalog, customer) == [("adjustment", 250, 250), ("applied_to_invoice", -250, 0)]


# -- the API ----------------------------------------------------------------------------------------
def test_balance_transactions_are_created_retrieved_updated_and_listed(
    catalog: Catalog, clock: Clock, other_account: support.Account
) -> None:
    # GIVEN a customer without a currency
    customer = catalog.customer()
    assert ok(catalog.api.get(f"/v1/customers/{customer['id']}"))["currency"] is None
    # WHEN a credit of 500 is added THEN Stripe's object, and the customer's balance and currency
    made = ok(
        catalog.api.post(
            _url(customer),
            {"amount": -500, "currency": "USD", "description": "Goodwill", "metadata": {"ticket": "7"}},
        )
    )
    assert stripe_shapes.problems(made) == []
    assert made["object"] == "customer_balance_transaction" and made["id"].startswith("cbtxn_")
    assert (made["amount"], made["ending_balance"], made["type"], made["currency"]) == (
        -500,
        -500,
        "adjustment",
        "usd",
    )
    assert (made["invoice"], made["credit_note"], made["description"]) == (None, None, "Goodwill")
    assert made["created"] == ts(2025, 3, 10) and made["metadata"] == {"ticket": "7"}
    shown = ok(catalog.api.get(f"/v1/customers/{customer['id']}"))
    assert (shown["balance"], shown["currency"]) == (-500, "usd")
    # AND customer.updated shows the balance moving
    event = ok(catalog.api.get("/v1/events", {"type": "customer.updated"}))["data"][0]
    assert event["data"]["previous_attributes"] == {"balance": 0, "currency": None}
    # WHEN another is added a minute later THEN the list is newest first, with cursors and filters
    clock.at(ts(2025, 3, 10, 0, 1))
    second = ok(catalog.api.post(_url(customer), {"amount": 120, "currency": "usd"}))
    assert second["ending_balance"] == -380
    page = ok(catalog.api.get(_url(customer), {"limit": 1}))
    assert [t["id"] for t in page["data"]] == [second["id"]] and page["has_more"] is True
    assert page["url"] == _url(customer)
    rest = ok(catalog.api.get(_url(customer), {"starting_after": second["id"]}))
    assert [t["id"] for t in rest["data"]] == [made["id"]] and rest["has_more"] is False
    assert [
        t["id"] for t in ok(catalog.api.get(_url(customer), {"created": {"lt": made["created"] + 1}}))["data"]
    ] == [made["id"]]
    # AND retrieve answers it; update changes only description and metadata
    assert ok(catalog.api.get(f"{_url(customer)}/{made['id']}")) == made
    changed = ok(
        catalog.api.post(f"{_url(customer)}/{made['id']}", {"description": "", "metadata": {"ticket": ""}})
    )
    assert (changed["description"], changed["metadata"], changed["amount"]) == (None, {}, -500)
    assert ok(catalog.api.get(f"{_url(customer)}/{made['id']}")) == changed
    # AND expand[]=customer embeds the customer
    expanded = ok(catalog.api.get(f"{_url(customer)}/{made['id']}", {"expand": ["customer"]}))
    assert expanded["customer"]["id"] == customer["id"]
    # AND another account sees none of it
    other = catalog.api.as_(other_account)
    assert other.get(f"{_url(customer)}/{made['id']}").status == 404
    assert other.get(_url(customer)).status == 404


def test_the_balance_has_one_currency(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a customer charged in usd (its first subscription)
    customer, _ = seats_subscription(catalog)
    assert ok(catalog.api.get(f"/v1/customers/{customer['id']}"))["currency"] == "usd"
    # WHEN an adjustment in eur THEN 400 naming currency, nothing written
    refused = catalog.api.post(_url(customer), {"amount": -100, "currency": "eur"})
    support.assert_stripe_error(refused.status, refused.json, 400, param="currency")
    assert _ledger(catalog, customer) == [] and _balance(catalog, customer) == 0
    # WHEN a subscription in eur THEN 400, nothing written
    eur = catalog.price("Sitze", currency="eur", unit_amount=900)
    refused = catalog.api.post(
        "/v1/subscriptions", {"customer": customer["id"], "items": [{"price": eur["id"]}]}
    )
    support.assert_stripe_error(refused.status, refused.json, 400, param="items")
    assert len(ok(catalog.api.get("/v1/subscriptions", {"customer": customer["id"]}))["data"]) == 1


# -- exactly once: crashes and concurrent writers ------------------------------------------------------
def _stored(account: support.Account, object_id: str, cls: Any) -> Any:
    return objects.get(account.id, object_id, cls, TallyClock(APR_20))


def test_a_crash_at_each_step_of_finalizing_a_credit_counts_it_once(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN the −1,355 draft, due at MAR_20 + 1 h
    customer, credit = _cancel_with_credit(catalog, clock)
    at = TallyClock(MAR_20 + HOUR + 60)
    # WHEN the process dies in the finalizing transaction (invoice, customer + balance, ledger entry)
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        lifecycle.advance_due(account.id, credit["id"], at)
    # THEN nothing was written: still a draft, no balance, no entry
    assert _stored(account, credit["id"], Invoice).status == "draft"
    assert _stored(account, customer["id"], Customer).balance == 0 and _ledger(catalog, customer) == []
    # WHEN it dies after it, in the transaction paying the invoice (nothing is due)
    with support.TransactionCrash(at=2), pytest.raises(support.InjectedCrash):
        lifecycle.advance_due(account.id, credit["id"], at)
    # THEN the credit is recorded once, and the invoice is open with nothing remaining
    assert _stored(account, credit["id"], Invoice).status == "open"
    assert _ledger(catalog, customer) == [("applied_to_invoice", -1355, -1355)]
    # WHEN the schedule retries (twice: a duplicate) THEN it is paid, and the credit still counted once
    assert lifecycle.advance_due(account.id, credit["id"], at)[0] == "paid"
    assert lifecycle.advance_due(account.id, credit["id"], at)[0] == "already_finalized"
    assert _stored(account, customer["id"], Customer).balance == -1355
    assert _ledger(catalog, customer) == [("applied_to_invoice", -1355, -1355)]


def test_a_crash_in_an_adjustment_or_a_void_writes_nothing(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN 2 seats (creation invoice 2,000, open)
    customer, sub = seats_subscription(catalog)
    first = ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"]}))["data"][0]
    # WHEN an adjustment dies in its one transaction THEN nothing; the retry adds it once
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        balances.create(account.id, customer["id"], TallyClock(MAR_20), amount=-700, currency="usd")
    assert _ledger(catalog, customer) == [] and _balance(catalog, customer) == 0
    balances.create(account.id, customer["id"], TallyClock(MAR_20), amount=-700, currency="usd")
    # AND a 2 → 5 seats always_invoice draft (2,032) finalized: it takes the 700
    clock.at(MAR_20)
    item = sub["items"]["data"][0]["id"]
    ok(update(catalog, sub, items=[{"id": item, "quantity": 5}], proration_behavior="always_invoice"))
    (inv,) = _later(catalog, sub)
    assert _money(ok(catalog.api.post(f"/v1/invoices/{inv['id']}/finalize"))) == ("open", 2032, 1332, -700, 0)
    # WHEN voiding it dies in its transaction THEN it is still open, the balance still 0
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        lifecycle.void(account.id, inv["id"], TallyClock(MAR_20))
    assert _stored(account, inv["id"], Invoice).status == "open" and _balance(catalog, customer) == 0
    # WHEN retried (and repeated) THEN void once, 700 given back once
    lifecycle.void(account.id, inv["id"], TallyClock(MAR_20))
    assert catalog.api.post(f"/v1/invoices/{inv['id']}/void").status == 400
    assert _balance(catalog, customer) == -700
    assert _ledger(catalog, customer) == [
        ("adjustment", -700, -700),
        ("applied_to_invoice", 700, 0),
        ("unapplied_from_invoice", -700, -700),
    ]
    # AND voiding an invoice that left the balance alone writes no entry
    ok(catalog.api.post(f"/v1/invoices/{first['id']}/void"))
    assert len(_ledger(catalog, customer)) == 3


def test_two_invoices_finalizing_at_once_share_the_credit_exactly(
    catalog: Catalog, clock: Clock, account: support.Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a customer with two seat subscriptions, each with a 2,032 always_invoice draft, and a
    #       3,000 credit
    customer, a = seats_subscription(catalog)
    seats = catalog.price("Seats", unit_amount=1000)
    b = catalog.subscribe(customer, {"price": seats["id"], "quantity": 2})
    clock.at(MAR_20)
    for sub in (a, b):
        item = sub["items"]["data"][0]["id"]
        ok(update(catalog, sub, items=[{"id": item, "quantity": 5}], proration_behavior="always_invoice"))
    (inv_a,), (inv_b,) = _later(catalog, a), _later(catalog, b)
    ok(catalog.api.post(_url(customer), {"amount": -3000, "currency": "usd"}))
    # WHEN B finalizes entirely while A's finalization is between its read of the balance and its write
    real = balances.settle
    interleaved: list[bool] = []

    def settle(*args: Any, **kwargs: Any) -> Any:
        done = real(*args, **kwargs)
        if not interleaved:
            interleaved.append(True)
            lifecycle.finalize(account.id, inv_b["id"], TallyClock(MAR_20))
        return done

    monkeypatch.setattr(balances, "settle", settle)
    lifecycle.finalize(account.id, inv_a["id"], TallyClock(MAR_20))
    # THEN A's stale write was refused and it re-read the balance: B took 2,032, A the last 968
    got_a = ok(catalog.api.get(f"/v1/invoices/{inv_a['id']}"))
    got_b = ok(catalog.api.get(f"/v1/invoices/{inv_b['id']}"))
    assert _money(got_b) == ("paid", 2032, 0, -3000, -968)  # nothing due: paid at once
    assert _money(got_a) == ("open", 2032, 1064, -968, 0)
    assert _balance(catalog, customer) == 0
    assert [amount for _, amount, _ in _ledger(catalog, customer)] == [-3000, 2032, 968]


# -- late usage after a subscription's final invoice --------------------------------------------------
def test_late_usage_after_the_final_invoice_is_billed_by_a_last_true_up(
    catalog: Catalog, clock: Clock, functions: support.Functions, account: support.Account
) -> None:
    # GIVEN tokens at 2 each from Mar 10: 40 used on Mar 15, 30 on Mar 19 12:00 (identifier "late-30")
    customer = catalog.customer()
    meter = catalog.meter()
    tokens = catalog.metered("Tokens", meter, unit_amount=2)
    sub = catalog.subscribe(customer, {"price": tokens["id"]})
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 40)
    clock.at(ts(2025, 3, 19, 12))
    event = {"event_name": meter["event_name"], "identifier": "late-30"}
    ok(
        catalog.api.post(
            "/v1/billing/meter_events",
            {**event, "payload": {"stripe_customer_id": customer["id"], "value": "30"}},
        )
    )
    # AND canceled on Mar 20 with invoice_now: its final invoice, 70 × 2 = 140, finalized an hour later
    clock.at(MAR_20)
    ok(catalog.api.request("DELETE", f"/v1/subscriptions/{sub['id']}", query="invoice_now=true"))
    clock.at(MAR_20 + HOUR + 60)
    close(functions, MAR_20 + HOUR + 60)
    functions.drain()
    (final,) = _later(catalog, sub)
    assert (final["status"], final["total"]) == ("open", 140)
    # WHEN, after it, the 30 are cancelled (within 24 h of receipt) and 10 arrive stamped Mar 16
    clock.at(MAR_20 + 2 * HOUR)
    ok(
        catalog.api.post(
            "/v1/billing/meter_event_adjustments",
            {"event_name": meter["event_name"], "type": "cancel", "cancel": {"identifier": "late-30"}},
        )
    )
    clock.at(ts(2025, 3, 22))
    catalog.usage(meter, customer, 10, at=ts(2025, 3, 16))
    # AND the schedule runs once the period can no longer change (36 days after the end: Apr 25)
    settles = MAR_20 + 36 * 86_400
    clock.at(settles - 60)
    close(functions, settles - 60)
    functions.drain()
    assert len(_later(catalog, sub)) == 1  # not before
    # AND (crash point) the worker dies in the last true-up's one transaction: nothing is written
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        cycles.bill_period(account.id, sub["id"], settles, TallyClock(settles + 30))
    assert len(_later(catalog, sub)) == 1
    clock.at(settles + 60)
    close(functions, settles + 60)
    functions.drain()
    # THEN one last true-up invoice bills it: (40 + 10) × 2 − 140 = −40 over [Mar 10, Mar 20)
    last, _ = _later(catalog, sub)
    assert (last["status"], last["total"], last["billing_reason"]) == ("draft", -40, "subscription_update")
    assert (last["period_start"], last["period_end"]) == (ts(2025, 3, 10), MAR_20)
    assert [ln["amount"] for ln in last["lines"]["data"]] == [-40]
    assert ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}"))["latest_invoice"] == last["id"]
    # AND it finalizes on its own: the credit goes to the customer balance, not lost
    assert last["automatically_finalizes_at"] == settles + 60 + HOUR
    clock.at(settles + 2 * HOUR)
    close(functions, settles + 2 * HOUR)
    functions.drain()
    assert _money(ok(catalog.api.get(f"/v1/invoices/{last['id']}"))) == ("paid", -40, 0, 0, -40)
    assert _balance(catalog, customer) == -40
    # AND nothing more is ever billed for it (a duplicate message finds it done)
    assert cycles.bill_period(account.id, sub["id"], settles, TallyClock(settles + 90)).outcome == "ended"
    close(functions, settles + 90 * 86_400)
    functions.drain()
    assert len(_later(catalog, sub)) == 2


def test_on_a_test_clock_the_last_true_up_is_billed_by_an_advance(
    api: support.Api, functions: support.Functions
) -> None:
    # GIVEN a clock, a customer on it with tokens at 2 each, 40 used, canceled on day 5 with
    #       invoice_now (80), finalized on day 6
    t0, day = int(dt.datetime(2031, 1, 15, tzinfo=dt.UTC).timestamp()), 86_400
    catalog = Catalog(api)
    tc = ok(api.post("/v1/test_helpers/test_clocks", {"frozen_time": t0}))
    customer = catalog.customer(test_clock=tc["id"])
    meter = catalog.meter()
    sub = catalog.subscribe(customer, {"price": catalog.metered("Tokens", meter, unit_amount=2)["id"]})
    catalog.usage(meter, customer, 40)
    support.advance_clock(api, functions, tc["id"], t0 + 5 * day)
    ok(api.request("DELETE", f"/v1/subscriptions/{sub['id']}", query="invoice_now=true"))
    support.advance_clock(api, functions, tc["id"], t0 + 6 * day)
    (final,) = _later(catalog, sub)
    assert (final["status"], final["total"]) == ("open", 80)
    # WHEN 10 more tokens stamped day 2 arrive, and the clock passes the end + 36 days (day 41)
    catalog.usage(meter, customer, 10, at=t0 + 2 * day)
    assert support.advance_clock(api, functions, tc["id"], t0 + 42 * day)["status"] == "ready"
    # THEN a last true-up invoice billed them, 10 × 2 = 20, and it finalized (the grace is 1 h)
    last, _ = _later(catalog, sub)
    assert (last["status"], last["total"], last["created"]) == ("open", 20, t0 + 41 * day)
