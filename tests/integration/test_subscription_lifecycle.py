"""Subscription lifecycle, through the API and the close: trials (stored `trialing`, the trial's
end, `trial_end` on update), `backdate_start_date`, `cancel_at`, the reminders written before a
period ends (`invoice.upcoming`, `customer.subscription.trial_will_end`) and the per-account grace
period (`/v1/tally/account_settings`).

Same calendar as tests/integration/test_subscription_updates.py: subscriptions start on 2025-03-10
00:00 UTC; a month period [Mar 10, Apr 10) is 31 days. Amounts are hand-computed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import support
import time_machine
from test_subscription_updates import APR_10, MAR_10, MAR_20, hybrid, lines_of, seats_subscription, update
from test_subscriptions_preview import Catalog, Clock, ok, ts

from tally.billing import cycles, subscription_changes, trials
from tally.clock import Clock as TallyClock

DAY = 86_400
MAR_24 = ts(2025, 3, 24)
MAR_25 = ts(2025, 3, 25)


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


def due_for(account: str, sub_id: str, at: int) -> list[int]:
    """The period ends the scheduled close would send for `sub_id` at `at` (read from the due index)."""
    return [
        m["period_end"]
        for m in cycles.due_messages(TallyClock(at))
        if m["account"] == account and m.get("subscription") == sub_id
    ]


def events(catalog: Catalog, kind: str) -> list[dict[str, Any]]:
    return ok(catalog.api.get("/v1/events", {"type": kind, "limit": 100}))["data"]


def subscription(catalog: Catalog, sub: dict[str, Any]) -> dict[str, Any]:
    return ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}"))


def invoices_of(catalog: Catalog, sub: dict[str, Any]) -> list[dict[str, Any]]:
    """The subscription's invoices after its creation invoice (newest first)."""
    found = ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"]}))["data"]
    return [i for i in found if i["billing_reason"] != "subscription_create"]


def creation_invoice(catalog: Catalog, sub: dict[str, Any]) -> dict[str, Any]:
    """The invoice the subscription's creation issued (exactly one)."""
    found = ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"]}))["data"]
    (first,) = [i for i in found if i["billing_reason"] == "subscription_create"]
    return first


def listed(catalog: Catalog, status: str) -> list[str]:
    return [s["id"] for s in ok(catalog.api.get("/v1/subscriptions", {"status": status}))["data"]]


def trial_subscription(
    catalog: Catalog, **fields: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """2 seats at 10.00 and tokens at 2 each, created Mar 10 with a trial."""
    customer = catalog.customer()
    meter = catalog.meter()
    seats = catalog.price("Seats", unit_amount=1000)
    tokens = catalog.metered("Tokens", meter, unit_amount=2)
    sub = catalog.subscribe(
        customer, {"price": seats["id"], "quantity": 2}, {"price": tokens["id"]}, **fields
    )
    return customer, meter, sub


# -- trials: stored status, reminders, the trial's end -------------------------------------------------
def test_a_trial_is_stored_trialing_then_the_close_at_its_end_makes_it_active(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN a 14-day trial from Mar 10 (to Mar 24), 100 tokens used during it
    customer, meter, sub = trial_subscription(catalog, trial_period_days=14)
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 100)
    # THEN it is stored trialing: the status list and search find it, the active list does not
    assert sub["status"] == "trialing"
    assert listed(catalog, "trialing") == [sub["id"]] and listed(catalog, "active") == []
    found = ok(catalog.api.get("/v1/subscriptions/search", {"query": "status:'trialing'"}))["data"]
    assert [s["id"] for s in found] == [sub["id"]]
    # AND its creation invoice is 0 (Stripe's: `Trial period for …` over the trial, and the tokens'
    #     0 line), paid when it was created
    first = creation_invoice(catalog, sub)
    assert (first["total"], first["status"], first["created"]) == (0, "paid", MAR_10)
    assert sorted((d, q, a, p) for d, q, a, _, p in lines_of(first)) == [
        ("0 × Tokens", 0, 0, (MAR_10, MAR_10)),
        ("Trial period for Seats", 2, 0, (MAR_10, MAR_24)),
    ]
    # WHEN the schedule runs 3 days before the trial ends (Mar 21)
    assert due_for(account.id, sub["id"], ts(2025, 3, 21) - 60) == []
    assert due_for(account.id, sub["id"], ts(2025, 3, 21)) == [MAR_24]
    done = cycles.bill_period(account.id, sub["id"], MAR_24, TallyClock(ts(2025, 3, 21)))
    # THEN customer.subscription.trial_will_end is written once (a duplicate message writes nothing)
    assert done.outcome == "reminded"
    assert (
        cycles.bill_period(account.id, sub["id"], MAR_24, TallyClock(ts(2025, 3, 21))).outcome != "reminded"
    )
    (will_end,) = events(catalog, "customer.subscription.trial_will_end")
    assert (will_end["data"]["object"]["id"], will_end["data"]["object"]["trial_end"]) == (sub["id"], MAR_24)
    # AND a day before the trial ends, invoice.upcoming shows the first paid invoice, without an id:
    #     2 seats × 10.00 in advance for [Mar 24, Apr 24), and no usage (the trial's is free)
    assert due_for(account.id, sub["id"], ts(2025, 3, 23)) == [MAR_24]
    assert (
        cycles.bill_period(account.id, sub["id"], MAR_24, TallyClock(ts(2025, 3, 23))).outcome == "reminded"
    )
    (upcoming,) = events(catalog, "invoice.upcoming")
    preview = upcoming["data"]["object"]
    assert "id" not in preview and preview["object"] == "invoice"
    assert (preview["total"], preview["created"], preview["subscription"]) == (2000, MAR_24, sub["id"])
    assert sorted((q, a, p) for _, q, a, _, p in lines_of(preview)) == [
        (0, 0, (MAR_10, MAR_24)),
        (2, 2000, (MAR_24, ts(2025, 4, 24))),
    ]
    # WHEN the close runs at the trial's end
    assert due_for(account.id, sub["id"], ts(2025, 3, 23) + 60) == []
    assert due_for(account.id, sub["id"], MAR_24) == [MAR_24]
    billed = cycles.bill_period(account.id, sub["id"], MAR_24, TallyClock(MAR_24 + 30))
    # THEN it bills the first paid period, 2000, and stores the subscription active
    assert billed.invoice is not None and billed.invoice.total == 2000
    clock.at(ts(2025, 3, 25))
    assert subscription(catalog, sub)["status"] == "active"
    assert listed(catalog, "trialing") == [] and listed(catalog, "active") == [sub["id"]]
    found = ok(catalog.api.get("/v1/subscriptions/search", {"query": "status:'active'"}))["data"]
    assert [s["id"] for s in found] == [sub["id"]]
    updated = events(catalog, "customer.subscription.updated")[0]
    assert updated["data"]["previous_attributes"]["status"] == "trialing"
    assert updated["data"]["object"]["status"] == "active"
    # AND the next reminder is invoice.upcoming a day before Apr 24 (no second trial_will_end)
    assert due_for(account.id, sub["id"], ts(2025, 4, 23)) == [ts(2025, 4, 24)]
    assert len(events(catalog, "customer.subscription.trial_will_end")) == 1


def test_trial_end_moves_the_trial_while_trialing(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a trial to Mar 24
    _, _, sub = trial_subscription(catalog, trial_period_days=14)
    # WHEN on Mar 20 it is moved to Apr 1
    clock.at(MAR_20)
    got = ok(update(catalog, sub, trial_end=ts(2025, 4, 1)))
    # THEN the trial, its period and the anchor end Apr 1; it is still trialing; nothing billed
    assert (got["status"], got["trial_end"], got["current_period_end"], got["billing_cycle_anchor"]) == (
        "trialing",
        ts(2025, 4, 1),
        ts(2025, 4, 1),
        ts(2025, 4, 1),
    )
    assert invoices_of(catalog, sub) == []
    previous = events(catalog, "customer.subscription.updated")[0]["data"]["previous_attributes"]
    assert previous["trial_end"] == MAR_24


def test_trial_end_now_ends_the_trial_and_invoices_the_first_period(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN a trial to Mar 24 with 100 tokens used on Mar 15
    customer, meter, sub = trial_subscription(catalog, trial_period_days=14)
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 100)
    # WHEN on Mar 20 the trial is ended now
    clock.at(MAR_20)
    got = ok(update(catalog, sub, trial_end="now"))
    # THEN it is active from now: the anchor resets to now, the period is [Mar 20, Apr 20)
    apr_20 = ts(2025, 4, 20)
    assert (got["status"], got["trial_end"], got["billing_cycle_anchor"]) == ("active", MAR_20, MAR_20)
    assert (got["current_period_start"], got["current_period_end"]) == (MAR_20, apr_20)
    # AND one invoice bills 2 seats in advance for [Mar 20, Apr 20), and no trial usage: 2000
    (inv,) = invoices_of(catalog, sub)
    assert (inv["billing_reason"], inv["status"], inv["period_start"], inv["period_end"]) == (
        "subscription_update",
        "draft",
        MAR_10,
        MAR_20,
    )
    assert sorted((q, a, p) for _, q, a, _, p in lines_of(inv)) == [
        (0, 0, (MAR_10, MAR_20)),
        (2, 2000, (MAR_20, apr_20)),
    ]
    assert (inv["total"], inv["automatically_finalizes_at"]) == (2000, MAR_20 + 3600)
    assert events(catalog, "invoice.created")[0]["data"]["object"]["id"] == inv["id"]
    previous = events(catalog, "customer.subscription.updated")[0]["data"]["previous_attributes"]
    assert previous["status"] == "trialing"
    # AND the trial's period is never billed again; the next close bills [Mar 20, Apr 20)
    assert cycles.bill_period(account.id, sub["id"], MAR_24, TallyClock(MAR_24)).outcome == "already_billed"
    clock.at(ts(2025, 3, 25))
    catalog.usage(meter, customer, 30)
    nxt = cycles.bill_period(account.id, sub["id"], apr_20, TallyClock(apr_20))
    assert nxt.invoice is not None
    assert sorted((ln.quantity, ln.amount) for ln in nxt.invoice.lines) == [(2, 2000), (30, 60)]
    assert len(invoices_of(catalog, sub)) == 2


def test_a_crash_in_the_trial_ending_transaction_writes_nothing(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN a trial to Mar 24
    _, _, sub = trial_subscription(catalog, trial_period_days=14)
    upd = subscription_changes.Update(trial_end=trials.NOW)
    # WHEN the process dies at the update's one transaction (subscription, invoice, claim, events)
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        subscription_changes.update(account.id, sub["id"], upd, TallyClock(MAR_20))
    # THEN nothing was written; the retry ends the trial with one invoice, and a second "now"
    #      is refused (no longer trialing): the period is invoiced once
    clock.at(MAR_20)
    assert subscription(catalog, sub)["status"] == "trialing" and invoices_of(catalog, sub) == []
    done = subscription_changes.update(account.id, sub["id"], upd, TallyClock(MAR_20))
    assert done.invoice is not None and done.invoice.total == 2000
    refused = update(catalog, sub, trial_end="now")
    support.assert_stripe_error(refused.status, refused.json, 400, param="trial_end")
    assert len(invoices_of(catalog, sub)) == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"trial_end": "tomorrow"}, "parameter_invalid_integer"),
        ({"trial_end": MAR_20 - 1}, "parameter_invalid"),
        ({"trial_end": MAR_10 + 731 * DAY}, "parameter_invalid"),
    ],
)
def test_bad_trial_ends_change_nothing(
    catalog: Catalog, clock: Clock, fields: dict[str, Any], code: str
) -> None:
    _, _, sub = trial_subscription(catalog, trial_period_days=14)
    clock.at(MAR_20)
    before = subscription(catalog, sub)
    refused = update(catalog, sub, **fields)
    support.assert_stripe_error(refused.status, refused.json, 400, param="trial_end", code=code)
    assert subscription(catalog, sub) == before


def test_trial_end_on_an_active_subscription_is_refused(catalog: Catalog, clock: Clock) -> None:
    _, sub = seats_subscription(catalog)
    clock.at(MAR_20)
    for value in ("now", ts(2025, 4, 1)):
        refused = update(catalog, sub, trial_end=value)
        support.assert_stripe_error(refused.status, refused.json, 400, param="trial_end")
    assert invoices_of(catalog, sub) == []


# -- invoice.upcoming ------------------------------------------------------------------------------
def test_invoice_upcoming_is_written_once_a_day_before_each_renewal(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN 2 seats at 10.00 from Mar 10 (renews Apr 10)
    _, sub = seats_subscription(catalog)
    apr_9 = APR_10 - DAY
    # WHEN the schedule runs before Apr 9: nothing is due
    assert due_for(account.id, sub["id"], apr_9 - 1) == []
    # WHEN it runs on Apr 9, and the worker gets the message (twice: a duplicate delivery)
    assert due_for(account.id, sub["id"], apr_9) == [APR_10]
    first = cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(apr_9 + 5))
    again = cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(apr_9 + 6))
    # THEN one invoice.upcoming: the invoice the renewal will create, 2000, with no id; no invoice
    assert (first.outcome, again.outcome) == ("reminded", "not_due")
    (upcoming,) = events(catalog, "invoice.upcoming")
    assert "id" not in upcoming["data"]["object"]
    assert (upcoming["data"]["object"]["amount_due"], upcoming["created"]) == (2000, apr_9 + 5)
    assert invoices_of(catalog, sub) == []
    # AND the due entry moved to the period end; the renewal bills, and the next reminder is May 9
    assert due_for(account.id, sub["id"], apr_9 + 60) == []
    assert cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(APR_10)).outcome == "billed"
    may_10 = ts(2025, 5, 10)
    assert due_for(account.id, sub["id"], may_10 - DAY - 1) == []
    assert due_for(account.id, sub["id"], may_10 - DAY) == [may_10]
    assert len(events(catalog, "invoice.upcoming")) == 1


def test_no_invoice_upcoming_before_a_period_that_ends_the_subscription(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    _, sub = seats_subscription(catalog)
    ok(update(catalog, sub, cancel_at_period_end="true"))
    assert due_for(account.id, sub["id"], APR_10 - 60) == []
    assert due_for(account.id, sub["id"], APR_10) == [APR_10]


def test_a_crash_in_the_reminder_transaction_writes_nothing_and_the_retry_writes_it_once(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    _, sub = seats_subscription(catalog)
    at = TallyClock(APR_10 - DAY + 5)
    # WHEN the process dies at the reminder's one transaction (subscription and event)
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        cycles.bill_period(account.id, sub["id"], APR_10, at)
    # THEN nothing was written and it is still due; the retry writes it once
    assert events(catalog, "invoice.upcoming") == []
    assert due_for(account.id, sub["id"], at.now) == [APR_10]
    assert cycles.bill_period(account.id, sub["id"], APR_10, at).outcome == "reminded"
    assert cycles.bill_period(account.id, sub["id"], APR_10, at).outcome == "not_due"
    assert len(events(catalog, "invoice.upcoming")) == 1


# -- backdate_start_date ------------------------------------------------------------------------------
def test_backdate_start_date_bills_the_past_on_the_first_invoice(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN 50 tokens used on Mar 1, before the subscription exists
    customer = catalog.customer()
    meter = catalog.meter()
    seats = catalog.price("Seats", unit_amount=1000)
    tokens = catalog.metered("Tokens", meter, unit_amount=2)
    catalog.usage(meter, customer, 50, at=ts(2025, 3, 1))
    # WHEN on Mar 10 it is created backdated to Feb 24 (2 seats, tokens)
    feb_24 = ts(2025, 2, 24)
    sub = catalog.subscribe(
        customer,
        {"price": seats["id"], "quantity": 2},
        {"price": tokens["id"]},
        backdate_start_date=feb_24,
    )
    # THEN it started Feb 24, was created now, and its billing cycle runs from now
    assert (sub["start_date"], sub["created"], sub["billing_cycle_anchor"]) == (feb_24, MAR_10, MAR_10)
    assert (sub["current_period_start"], sub["current_period_end"]) == (MAR_10, APR_10)
    # AND its creation invoice (Stripe's: the backdated time, billed at creation) closes
    #     [Feb 24, Mar 10) at once, finalized: the backdated seats, 2000 × 14/28 days of an
    #     imagined month [Feb 24, Mar 24) = 1000; 50 tokens × 2 = 100 over [Feb 24, Mar 10); and
    #     2 seats in advance for [Mar 10, Apr 10), 2000: 3100 in all
    inv = creation_invoice(catalog, sub)
    assert (inv["period_start"], inv["period_end"], inv["total"]) == (feb_24, MAR_10, 3100)
    assert (inv["status"], inv["created"], inv["status_transitions"]["finalized_at"]) == (
        "open",
        MAR_10,
        MAR_10,
    )
    assert sorted((q, a, prorated, p) for _, q, a, prorated, p in lines_of(inv)) == [
        (2, 1000, True, (feb_24, MAR_10)),
        (2, 2000, False, (MAR_10, APR_10)),
        (50, 100, False, (feb_24, MAR_10)),
    ]
    # AND the close never bills that span again: nothing is due before the normal renewal
    assert due_for(account.id, sub["id"], MAR_10 + 60) == []
    assert (
        cycles.bill_period(account.id, sub["id"], MAR_10, TallyClock(MAR_10 + 60)).outcome == "already_billed"
    )
    assert due_for(account.id, sub["id"], APR_10) == [APR_10]
    # AND 10 late tokens stamped Mar 5 (inside the span the creation invoice billed) arrive
    catalog.usage(meter, customer, 10, at=ts(2025, 3, 5))
    # THEN the renewal bills [Mar 10, Apr 10): no tokens since, 2 seats for [Apr 10, May 10), and
    #      the late tokens as a true-up of the backdated span: 10 × 2 = 20
    renewal = cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(APR_10))
    assert renewal.invoice is not None
    assert sorted((ln.quantity, ln.amount, ln.true_up) for ln in renewal.invoice.lines) == [
        (0, 0, False),
        (2, 2000, False),
        (10, 20, True),
    ]
    assert len(invoices_of(catalog, sub)) == 1


def test_backdate_start_date_with_a_future_anchor_bills_up_to_the_anchor_at_creation(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN 50 tokens used on Mar 1
    customer = catalog.customer()
    meter = catalog.meter()
    seats = catalog.price("Seats", unit_amount=1000)
    tokens = catalog.metered("Tokens", meter, unit_amount=2)
    catalog.usage(meter, customer, 50, at=ts(2025, 3, 1))
    # WHEN on Mar 10 it is created backdated to Feb 24 with its billing cycle anchored on Apr 1
    feb_24, apr_1 = ts(2025, 2, 24), ts(2025, 4, 1)
    sub = catalog.subscribe(
        customer,
        {"price": seats["id"], "quantity": 2},
        {"price": tokens["id"]},
        backdate_start_date=feb_24,
        billing_cycle_anchor=apr_1,
    )
    assert (sub["current_period_start"], sub["current_period_end"]) == (feb_24, apr_1)
    # THEN the creation invoice bills the seats from Feb 24 up to the anchor in one line, prorated
    #      over an imagined month from Feb 24 (Stripe's rule): 2000 × 36/28 days = 2571.43 → 2571;
    #      the tokens' line is 0 (their usage is billed with the first period, in arrears)
    inv = creation_invoice(catalog, sub)
    assert (inv["period_start"], inv["period_end"], inv["total"], inv["status"]) == (
        MAR_10,
        MAR_10,
        2571,
        "open",
    )
    assert sorted((d, q, a, prorated, p) for d, q, a, prorated, p in lines_of(inv)) == [
        ("0 × Tokens", 0, 0, False, (MAR_10, MAR_10)),
        ("Time on 2 × Seats from 24 Feb 2025", 2, 2571, True, (feb_24, apr_1)),
    ]
    # AND the close at the anchor bills the 50 tokens of [Feb 24, Apr 1), 100, and 2 seats in
    #     advance for [Apr 1, May 1), 2000 — the backdated seats are not billed again
    assert due_for(account.id, sub["id"], apr_1) == [apr_1]
    billed = cycles.bill_period(account.id, sub["id"], apr_1, TallyClock(apr_1))
    assert billed.invoice is not None
    assert (billed.invoice.period_start, billed.invoice.total) == (feb_24, 2100)
    assert sorted((ln.quantity, ln.amount, ln.proration) for ln in billed.invoice.lines) == [
        (2, 2000, False),
        (50, 100, False),
    ]


@pytest.mark.parametrize(
    "fields",
    [
        {"backdate_start_date": MAR_10 + DAY},  # in the future
        {"backdate_start_date": MAR_10},  # not in the past
        {"backdate_start_date": ts(2025, 2, 9)},  # more than one interval back
        {"backdate_start_date": ts(2025, 3, 1), "trial_period_days": 7},
        {"backdate_start_date": "yesterday"},
    ],
)
def test_bad_backdates_create_nothing(catalog: Catalog, clock: Clock, fields: dict[str, Any]) -> None:
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    refused = catalog.api.post(
        "/v1/subscriptions", {"customer": customer["id"], "items": [{"price": seats["id"]}], **fields}
    )
    support.assert_stripe_error(refused.status, refused.json, 400, param="backdate_start_date")
    assert (
        ok(catalog.api.get("/v1/subscriptions", {"customer": customer["id"], "status": "all"}))["data"] == []
    )


# -- cancel_at ------------------------------------------------------------------------------------------
def test_cancel_at_cuts_the_period_short_and_the_close_ends_it(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN 3 seats at 10.00 and tokens at 2 each from Mar 10; 40 tokens on Mar 15
    customer, meter, sub = hybrid(catalog)
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 40)
    # WHEN on Mar 20 it is set to cancel on Mar 25
    clock.at(MAR_20)
    got = ok(update(catalog, sub, cancel_at=MAR_25))
    # THEN it shows cancel_at, still active, with a pending credit for the seats' unused time
    #      [Mar 25, Apr 10): -3000 × 16/31 = -1548.39 → -1548
    assert (got["cancel_at"], got["cancel_at_period_end"], got["status"]) == (MAR_25, False, "active")
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert sorted((q, a, prorated, p) for _, q, a, prorated, p in lines_of(preview)) == [
        (3, -1548, True, (MAR_25, APR_10)),
        (40, 80, False, (MAR_10, MAR_25)),
    ]
    # AND 10 more tokens before the end, 7 after it
    clock.at(ts(2025, 3, 24))
    catalog.usage(meter, customer, 10)
    clock.at(ts(2025, 3, 26))
    catalog.usage(meter, customer, 7)
    # WHEN the close runs at Mar 25
    assert due_for(account.id, sub["id"], MAR_25) == [MAR_25]
    billed = cycles.bill_period(account.id, sub["id"], MAR_25, TallyClock(MAR_25 + 30))
    # THEN the final invoice bills [Mar 10, Mar 25): 50 tokens = 100 and the credit; no seats ahead
    assert billed.invoice is not None
    inv = ok(catalog.api.get(f"/v1/invoices/{billed.invoice.id}"))
    assert (inv["period_start"], inv["period_end"], inv["total"], inv["amount_due"]) == (
        MAR_10,
        MAR_25,
        100 - 1548,
        0,
    )
    assert sorted((q, a) for _, q, a, _, _ in lines_of(inv)) == [(3, -1548), (50, 100)]
    # AND it is canceled at Mar 25, and never due again
    shown = subscription(catalog, sub)
    assert (shown["status"], shown["ended_at"], shown["cancel_at"]) == ("canceled", MAR_25, None)
    assert events(catalog, "customer.subscription.deleted")[0]["data"]["object"]["id"] == sub["id"]
    assert due_for(account.id, sub["id"], APR_10 + 60) == []


def test_cancel_at_and_cancel_at_period_end_replace_each_other(catalog: Catalog, clock: Clock) -> None:
    # GIVEN 3 seats set on Mar 20 to cancel Mar 25 (credit -1548)
    _, _, sub = hybrid(catalog)
    clock.at(MAR_20)
    ok(update(catalog, sub, cancel_at=MAR_25))
    # WHEN cancel_at_period_end=true THEN it ends Apr 10 instead, and the credit is charged back
    got = ok(update(catalog, sub, cancel_at_period_end="true"))
    assert (got["cancel_at"], got["cancel_at_period_end"]) == (APR_10, True)
    preview = ok(catalog.preview(subscription=sub["id"]))
    prorations = sorted(a for _, _, a, prorated, _ in lines_of(preview) if prorated)
    assert prorations == [-1548, 1548]
    # WHEN cancel_at is cleared and cancel_at_period_end=false THEN it renews again
    got = ok(update(catalog, sub, cancel_at_period_end="false"))
    assert (got["cancel_at"], got["cancel_at_period_end"]) == (None, False)
    # AND cancel_at at the period end is cancel_at_period_end
    got = ok(update(catalog, sub, cancel_at=APR_10))
    assert (got["cancel_at"], got["cancel_at_period_end"]) == (APR_10, True)
    # AND cancel_at="" clears a cancel_at
    ok(update(catalog, sub, cancel_at=MAR_25))
    got = ok(update(catalog, sub, cancel_at=""))
    assert (got["cancel_at"], got["cancel_at_period_end"]) == (None, False)


def test_cancel_at_without_prorations_charges_nothing_back(catalog: Catalog, clock: Clock) -> None:
    # GIVEN 3 seats set on Mar 20 to cancel Mar 25 without prorations
    _, _, sub = hybrid(catalog)
    clock.at(MAR_20)
    ok(update(catalog, sub, cancel_at=MAR_25, proration_behavior="none"))
    # WHEN cancel_at is cleared (default prorations) THEN no credit was given, none is charged back
    ok(update(catalog, sub, cancel_at=""))
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert [a for _, _, a, prorated, _ in lines_of(preview) if prorated] == []


def test_delete_with_prorate_credits_once_after_a_cancel_at_credit(catalog: Catalog, clock: Clock) -> None:
    # GIVEN 3 seats, 40 tokens on Mar 15, set on Mar 20 to cancel Mar 25 (pending credit -1548)
    customer, meter, sub = hybrid(catalog)
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 40)
    clock.at(MAR_20)
    ok(update(catalog, sub, cancel_at=MAR_25))
    # WHEN it is canceled now with invoice_now and prorate
    ok(catalog.api.request("DELETE", f"/v1/subscriptions/{sub['id']}", query="invoice_now=true&prorate=true"))
    # THEN the unused time [Mar 20, Apr 10) is credited once: -3000 × 21/31 = -2032, the pending
    #      -1548 and its charge-back +1548 cancel out; with 80 of tokens
    (inv,) = invoices_of(catalog, sub)
    amounts = sorted(a for _, _, a, _, _ in lines_of(inv))
    assert amounts == [-2032, -1548, 80, 1548]
    assert inv["total"] == 80 - 2032


def test_cancel_at_on_create(catalog: Catalog, clock: Clock, account: support.Account) -> None:
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    sub = catalog.subscribe(customer, {"price": seats["id"]}, cancel_at=MAR_25)
    assert (sub["cancel_at"], sub["status"]) == (MAR_25, "active")
    # THEN the creation invoice bills the seat only up to cancel_at: 1000 × 15/31 days of
    #      [Mar 10, Apr 10) = 483.87 → 484
    first = creation_invoice(catalog, sub)
    assert [(a, prorated, p) for _, _, a, prorated, p in lines_of(first)] == [(484, True, (MAR_10, MAR_25))]
    assert due_for(account.id, sub["id"], MAR_25) == [MAR_25]
    billed = cycles.bill_period(account.id, sub["id"], MAR_25, TallyClock(MAR_25))
    assert billed.invoice is not None and billed.invoice.lines == ()  # nothing in advance
    assert subscription(catalog, sub)["status"] == "canceled"


def test_cancel_at_period_end_on_create(catalog: Catalog, clock: Clock, account: support.Account) -> None:
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    sub = catalog.subscribe(customer, {"price": seats["id"]}, cancel_at_period_end="true")
    assert (sub["cancel_at"], sub["cancel_at_period_end"]) == (APR_10, True)
    at_end = catalog.subscribe(customer, {"price": seats["id"]}, cancel_at=APR_10)
    assert (at_end["cancel_at"], at_end["cancel_at_period_end"]) == (APR_10, True)
    billed = cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(APR_10))
    assert billed.invoice is not None and billed.invoice.lines == ()
    assert subscription(catalog, sub)["status"] == "canceled"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"cancel_at": MAR_20}, "cancel_at"),  # now: not in the future
        ({"cancel_at": MAR_20 - DAY}, "cancel_at"),
        ({"cancel_at": "soon"}, "cancel_at"),
        ({"cancel_at": MAR_25, "cancel_at_period_end": "true"}, "cancel_at"),
    ],
)
def test_bad_cancel_ats_change_nothing(
    catalog: Catalog, clock: Clock, fields: dict[str, Any], param: str
) -> None:
    _, sub = seats_subscription(catalog)
    clock.at(MAR_20)
    before = subscription(catalog, sub)
    refused = update(catalog, sub, **fields)
    support.assert_stripe_error(refused.status, refused.json, 400, param=param)
    assert subscription(catalog, sub) == before
    refused = catalog.api.post(
        "/v1/subscriptions",
        {"customer": sub["customer"], "items": [{"price": sub["items"]["data"][0]["price"]["id"]}], **fields},
    )
    support.assert_stripe_error(refused.status, refused.json, 400)


# -- the account's grace period ------------------------------------------------------------------------
def test_the_account_grace_period_sets_new_drafts_finalization(
    catalog: Catalog, clock: Clock, account: support.Account, other_account: support.Account
) -> None:
    # GIVEN the deployment's 1 h
    url = "/v1/tally/account_settings"
    shown = ok(catalog.api.get(url))
    assert (shown["object"], shown["invoice_grace_period"], shown["invoice_grace_period_source"]) == (
        "tally.account_settings",
        3600,
        "deployment",
    )
    # WHEN the account sets 3 h
    got = ok(catalog.api.post(url, {"invoice_grace_period": 3 * 3600}))
    assert (got["invoice_grace_period"], got["invoice_grace_period_source"]) == (10800, "account")
    assert ok(catalog.api.get(url)) == got
    assert events(catalog, "tally.account_settings.updated")[0]["data"]["previous_attributes"] == {
        "invoice_grace_period": 3600,
        "invoice_grace_period_source": "deployment",
    }
    # THEN a period closed now stays draft 3 h
    _, sub = seats_subscription(catalog)
    first = cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(APR_10))
    assert first.invoice is not None and first.invoice.automatically_finalizes_at == APR_10 + 10800
    # AND changing it moves no draft; the next draft takes the new one
    ok(catalog.api.post(url, {"invoice_grace_period": 0}))
    assert (
        ok(catalog.api.get(f"/v1/invoices/{first.invoice.id}"))["automatically_finalizes_at"]
        == APR_10 + 10800
    )
    may_10 = ts(2025, 5, 10)
    second = cycles.bill_period(account.id, sub["id"], may_10, TallyClock(may_10))
    assert second.invoice is not None and second.invoice.automatically_finalizes_at == may_10
    # AND another account keeps the deployment's; "" goes back to it
    assert ok(catalog.api.as_(other_account).get(url))["invoice_grace_period"] == 3600
    assert (
        ok(catalog.api.post(url, {"invoice_grace_period": ""}))["invoice_grace_period_source"] == "deployment"
    )


@pytest.mark.parametrize("value", [72 * 3600 + 1, -1, "3h", "1.5"])
def test_bad_grace_periods_change_nothing(catalog: Catalog, clock: Clock, value: Any) -> None:
    url = "/v1/tally/account_settings"
    refused = catalog.api.post(url, {"invoice_grace_period": value})
    support.assert_stripe_error(refused.status, refused.json, 400, param="invoice_grace_period")
    assert ok(catalog.api.get(url))["invoice_grace_period_source"] == "deployment"
    unknown = catalog.api.post(url, {"grace": 60})
    support.assert_stripe_error(unknown.status, unknown.json, 400, param="grace", code="parameter_unknown")


# -- Stripe's types ----------------------------------------------------------------------------------
def test_the_new_objects_have_stripes_types(catalog: Catalog, clock: Clock, account: support.Account) -> None:
    import stripe_shapes

    # GIVEN a trialing subscription, a backdated one with cancel_at, the trial ended now, reminders
    _, _, trialing = trial_subscription(catalog, trial_period_days=14)
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    backdated = catalog.subscribe(
        customer, {"price": seats["id"]}, backdate_start_date=ts(2025, 3, 1), cancel_at=MAR_25
    )
    cycles.bill_period(account.id, trialing["id"], MAR_24, TallyClock(ts(2025, 3, 21)))
    _, sub = seats_subscription(catalog)
    cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(APR_10 - DAY))
    clock.at(MAR_20)
    ended = ok(update(catalog, trialing, trial_end="now"))
    served = {
        "trialing": trialing,
        "backdated": backdated,
        "trial ended": ended,
        "trial-ending invoice": invoices_of(catalog, trialing)[0],
        "trial_will_end": events(catalog, "customer.subscription.trial_will_end")[0]["data"]["object"],
        "upcoming": events(catalog, "invoice.upcoming")[0]["data"]["object"],
    }
    # THEN each reads as Stripe's SDKs read it — but for the upcoming invoice's `id`, which Stripe
    #      documents as "always present unless the invoice is an upcoming invoice"
    assert {name: p for name, obj in served.items() if (p := stripe_shapes.problems(obj))} == {
        "upcoming": ["invoice.id: missing, but Stripe always sends it (required)"]
    }
