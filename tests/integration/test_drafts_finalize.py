"""No invoice stays a draft unless someone asked for it (issue 12, point 2).

Every draft Tally creates with `auto_advance: true` carries `automatically_finalizes_at` (its
creation + the account's grace period) and is finalized by the period close's due index — the
cancel with `invoice_now`, the `always_invoice` update, the last invoice of `cancel_at_period_end`
and of `cancel_at` — in real time and on a test clock.

Calendar of tests/integration/test_subscription_updates.py: subscriptions start on 2025-03-10 00:00
UTC, first period [Mar 10, Apr 10); Mar 20 leaves 21 of 31 days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import support
import time_machine
from test_billing_cycles import close
from test_subscription_updates import APR_10, MAR_20, hybrid, seats_subscription, update
from test_subscriptions_preview import Catalog, Clock, ok, ts

from tally.clock import Clock as TallyClock
from tally.domain.records import Invoice
from tally.store import objects
from tally.store.changes import Change

HOUR = 3600


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


def _later(catalog: Catalog, sub: dict[str, Any]) -> list[dict[str, Any]]:
    found = ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"]}))["data"]
    return [i for i in found if i["billing_reason"] != "subscription_create"]


def _finalizes(catalog: Catalog, functions: support.Functions, clock: Clock, inv: dict[str, Any]) -> str:
    """Run the schedule just before, then just after the draft's `automatically_finalizes_at`;
    returns the invoice's status after each (as `before/after`)."""
    due = inv["automatically_finalizes_at"]
    assert isinstance(due, int), inv
    clock.at(due - 1)
    close(functions, due - 1)
    functions.drain()
    before = ok(catalog.api.get(f"/v1/invoices/{inv['id']}"))["status"]
    clock.at(due + 60)
    close(functions, due + 60)
    functions.drain()
    after = ok(catalog.api.get(f"/v1/invoices/{inv['id']}"))["status"]
    return f"{before}/{after}"


def test_the_invoice_of_a_cancel_with_invoice_now_finalizes(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN 3 seats and tokens at 2 each, 40 tokens on Mar 15
    customer, meter, sub = hybrid(catalog)
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 40)
    # WHEN it is canceled on Mar 20 with invoice_now
    clock.at(MAR_20)
    ok(catalog.api.request("DELETE", f"/v1/subscriptions/{sub['id']}", query="invoice_now=true"))
    # THEN its final draft finalizes an hour later (the default grace period): 40 × 2 = 80, open
    (inv,) = _later(catalog, sub)
    assert (inv["status"], inv["auto_advance"], inv["total"]) == ("draft", True, 80)
    assert inv["automatically_finalizes_at"] == MAR_20 + HOUR
    assert _finalizes(catalog, functions, clock, inv) == "draft/open"


def test_the_invoice_of_an_always_invoice_update_finalizes(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN 2 seats at 10.00, changed to 5 on Mar 20 with always_invoice (−1,355 + 3,387 = 2,032)
    _, sub = seats_subscription(catalog)
    clock.at(MAR_20)
    item = sub["items"]["data"][0]["id"]
    ok(update(catalog, sub, items=[{"id": item, "quantity": 5}], proration_behavior="always_invoice"))
    # THEN the update's draft finalizes after the grace period
    (inv,) = _later(catalog, sub)
    assert (inv["status"], inv["total"], inv["automatically_finalizes_at"]) == ("draft", 2032, MAR_20 + HOUR)
    assert _finalizes(catalog, functions, clock, inv) == "draft/open"


@pytest.mark.parametrize("ending", ["cancel_at_period_end", "cancel_at"])
def test_the_last_invoice_of_a_subscription_ending_finalizes(
    catalog: Catalog, clock: Clock, functions: support.Functions, ending: str
) -> None:
    # GIVEN tokens at 2 each, 40 tokens on Mar 15, the subscription set to end (at the period's end,
    #       or at Mar 25 with cancel_at, cutting the period there)
    customer = catalog.customer()
    meter = catalog.meter()
    tokens = catalog.metered("Tokens", meter, unit_amount=2)
    sub = catalog.subscribe(customer, {"price": tokens["id"]})
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 40)
    end = APR_10 if ending == "cancel_at_period_end" else ts(2025, 3, 25)
    ok(update(catalog, sub, **({ending: "true"} if ending == "cancel_at_period_end" else {ending: end})))
    # WHEN the close runs at the end
    clock.at(end + 60)
    close(functions, end + 60)
    functions.drain()
    # THEN the last invoice (80) is a draft due an hour after the end, and it finalizes then
    (inv,) = _later(catalog, sub)
    assert (inv["status"], inv["total"], inv["period_end"]) == ("draft", 80, end)
    assert ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "canceled"
    assert inv["automatically_finalizes_at"] == end + HOUR
    assert _finalizes(catalog, functions, clock, inv) == "draft/open"


# -- on a test clock --------------------------------------------------------------------------------
CLOCKS = "/v1/test_helpers/test_clocks"
T0 = int(dt.datetime(2031, 1, 15, tzinfo=dt.UTC).timestamp())
DAY = 86_400


@pytest.mark.parametrize("grace", [0, 60])
def test_on_a_test_clock_the_drafts_of_cancels_and_updates_finalize(
    api: support.Api, functions: support.Functions, grace: int
) -> None:
    # GIVEN an account whose grace period is `grace`, a clock and two customers on it: one with
    #       seats (2 at 10.00), one with tokens at 2 each (40 used)
    ok(api.post("/v1/tally/account_settings", {"invoice_grace_period": grace}))
    catalog = Catalog(api)
    tc = ok(api.post(CLOCKS, {"frozen_time": T0}))
    seats = catalog.price("Seats", unit_amount=1000)
    meter = catalog.meter()
    tokens = catalog.metered("Tokens", meter, unit_amount=2)
    a = catalog.customer(test_clock=tc["id"])
    b = catalog.customer(test_clock=tc["id"])
    updated = catalog.subscribe(a, {"price": seats["id"], "quantity": 2})
    canceled = catalog.subscribe(b, {"price": tokens["id"]})
    catalog.usage(meter, b, 40)
    assert support.advance_clock(api, functions, tc["id"], T0 + 5 * DAY)["status"] == "ready"
    # WHEN on day 5 the seats go to 5 with always_invoice, and the tokens are canceled with invoice_now
    item = updated["items"]["data"][0]["id"]
    ok(update(catalog, updated, items=[{"id": item, "quantity": 5}], proration_behavior="always_invoice"))
    ok(api.request("DELETE", f"/v1/subscriptions/{canceled['id']}", query="invoice_now=true"))
    drafts = [*_later(catalog, updated), *_later(catalog, canceled)]
    assert [d["automatically_finalizes_at"] for d in drafts] == [T0 + 5 * DAY + grace] * 2
    # AND the clock is advanced 30 days
    assert support.advance_clock(api, functions, tc["id"], T0 + 35 * DAY)["status"] == "ready"
    # THEN neither is a draft any more: both were finalized (open, with something to pay)
    statuses = [ok(api.get(f"/v1/invoices/{d['id']}"))["status"] for d in drafts]
    assert statuses == ["open", "open"]


def test_a_draft_written_before_the_rule_gets_its_grace_when_updated(
    catalog: Catalog, clock: Clock, functions: support.Functions, account: support.Account
) -> None:
    # GIVEN a draft stored as before issue 12: auto_advance true, no automatically_finalizes_at
    _, sub = seats_subscription(catalog)
    clock.at(MAR_20)
    item = sub["items"]["data"][0]["id"]
    ok(update(catalog, sub, items=[{"id": item, "quantity": 5}], proration_behavior="always_invoice"))
    (inv,) = _later(catalog, sub)
    stored = objects.load(account.id, inv["id"], Invoice, TallyClock(MAR_20))
    legacy = replace(stored.record, automatically_finalizes_at=None)
    objects.update(account.id, stored, Change(legacy, None, {}), TallyClock(MAR_20))
    assert ok(catalog.api.get(f"/v1/invoices/{inv['id']}"))["automatically_finalizes_at"] is None
    # WHEN it is updated (auto_advance=true) an hour later
    clock.at(MAR_20 + HOUR)
    got = ok(catalog.api.post(f"/v1/invoices/{inv['id']}", {"auto_advance": "true"}))
    # THEN it finalizes after the grace period from then
    assert got["automatically_finalizes_at"] == MAR_20 + 2 * HOUR
    assert _finalizes(catalog, functions, clock, got) == "draft/open"
