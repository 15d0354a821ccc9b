"""Every unit billed exactly once, at second resolution (issue 12, point 1).

Usage stamped in `[start, end)` of a subscription's life is billed exactly once across all its
invoices, whatever second its boundaries fall on; an alert counts usage from its creation instant.
The store reads a boundary inside a minute from that minute's per-second item
(`tally.store.usage.read`); these tests cross boundaries through the API, the use cases and the
store, with hand-computed amounts.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
import support
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_subscriptions_preview import Catalog, Clock, ok, ts

from tally.domain.aggregation import HOUR, Formula
from tally.domain.records import Meter, MeterEvent
from tally.store import usage

pytestmark = pytest.mark.usefixtures("moto_tables")

MAR_10 = ts(2025, 3, 10)
MAR_20_NOON = ts(2025, 3, 20) + 12 * HOUR
STORE_NOW = int(time.time())
BASE = STORE_NOW // HOUR * HOUR - 48 * HOUR  # an hour start two days back (events within 35 days)


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


def _cancel(catalog: Catalog, sub: dict[str, Any]) -> dict[str, Any]:
    ok(catalog.api.request("DELETE", f"/v1/subscriptions/{sub['id']}", query="invoice_now=true"))
    found = ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"]}))["data"]
    final = [i for i in found if i["billing_reason"] == "subscription_update"]
    assert len(final) == 1
    return final[0]


def _tokens(catalog: Catalog, **price: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(customer, meter, subscription) on one metered price, subscribed at the clock's instant."""
    customer, meter = catalog.customer(), catalog.meter()
    tokens = catalog.metered("Tokens", meter, **price)
    return customer, meter, catalog.subscribe(customer, {"price": tokens["id"]})


# -- the cancel's final invoice (the reports) -----------------------------------------------
def test_an_event_sent_7_seconds_before_a_cancel_is_billed_on_the_final_invoice(catalog, clock):
    # GIVEN tokens at 1 cent, subscribed on Mar 10, 100 tokens sent at 12:00:30 on Mar 20
    customer, meter, sub = _tokens(catalog, unit_amount=1)
    clock.at(MAR_20_NOON + 30)
    catalog.usage(meter, customer, 100)
    # WHEN it is canceled with invoice_now at 12:00:37 (the same minute)
    clock.at(MAR_20_NOON + 37)
    final = _cancel(catalog, sub)
    # THEN the final invoice bills the 100 tokens: 100 × 1 = 100
    assert final["total"] == 100
    assert [(ln["quantity"], ln["amount"]) for ln in final["lines"]["data"]] == [(100, 100)]


def test_tokens_sent_in_the_cancels_minute_are_billed_at_the_walkthrough_price(catalog, clock):
    # GIVEN the walkthrough price (4 cents per 100 tokens, rounded up), 2,500 tokens on Mar 15
    customer, meter, sub = _tokens(
        catalog, unit_amount=4, transform_quantity={"divide_by": 100, "round": "up"}
    )
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 2_500)
    # AND 300 more in the minute of the cancel, 20 s before it
    clock.at(MAR_20_NOON + 10)
    catalog.usage(meter, customer, 300)
    # WHEN it is canceled with invoice_now at 12:00:30
    clock.at(MAR_20_NOON + 30)
    final = _cancel(catalog, sub)
    # THEN 2,800 tokens are billed: 28 × 4 = 112 (not 25 × 4 = 100)
    assert final["total"] == 112


def test_usage_stamped_at_the_cancel_instant_is_billed_on_a_test_clock(api):
    # GIVEN a subscription on a test clock (Jan 15, 00:00), advanced to Jan 20, 00:00
    from test_test_clocks import JAN_20, _advanced, _event, _invoices, _setup

    ids = _setup(api)  # the walkthrough price: 4 cents per 100 tokens, rounded up
    assert _advanced(api, ids["clock"], JAN_20)["status"] == "ready"
    # AND 100,000 tokens sent at the clock's time (stamped Jan 20, 00:00:00: the cancel's instant)
    assert ok(_event(api, ids["customer"], 100_000))["timestamp"] == JAN_20
    # WHEN it is canceled at once with invoice_now (at the clock's time)
    ok(api.request("DELETE", f"/v1/subscriptions/{ids['subscription']}", query="invoice_now=true"))
    # THEN the final invoice's metered line bills them: 1,000 × 4 = 4,000
    final = _invoices(api, ids["subscription"])[-1]
    assert [(ln["quantity"], ln["amount"]) for ln in final["lines"]["data"]] == [(1_000, 4_000)]
    assert final["period_end"] == JAN_20


# -- an alert counts from its creation instant ------------------------------------------------------
def test_an_alert_counts_usage_sent_right_after_its_creation(api, clock):
    from test_alerts import TRIGGERED, _alert, _customer, _event, _meter

    # GIVEN an alert at 100 tokens on a customer, created at 12:00:30
    clock.at(MAR_20_NOON + 30)
    meter, cus = _meter(api), _customer(api)
    alert = ok(_alert(api, meter["id"], 100, customer=cus))
    # WHEN 170 tokens are sent right away (stamped 12:00:30, the creation's second)
    assert ok(_event(api, cus, 170))["timestamp"] == MAR_20_NOON + 30
    # THEN the alert fires, with the 170 tokens
    fired = [e for e in support.stored_events(api.account.id) if e["type"] == TRIGGERED]
    assert [(e["data"]["object"]["alert"]["id"], e["data"]["object"]["value"]) for e in fired] == [
        (alert["id"], 170)
    ]
    # AND usage stamped before the creation (12:00:29) never counts
    other = _customer(api)
    late = ok(_alert(api, meter["id"], 100, customer=other))
    ok(_event(api, other, 170, ts=MAR_20_NOON + 29))
    assert not [
        e
        for e in support.stored_events(api.account.id)
        if e["data"]["object"].get("alert", {}).get("id") == late["id"]
    ]


# -- the store, to the second --------------------------------------------------------------------
def _meter(formula: str = "sum", shards: int = 1, meter_id: str = "mtr_b") -> Meter:
    return support.usage_meter(meter_id, formula, shards)


def _ev(ident: str, value: int, at: int, meter_id: str = "mtr_b") -> MeterEvent:
    return MeterEvent(ident, "e", meter_id, "cus_b", value, at, {"value": str(value)}, STORE_NOW)


def test_a_boundary_inside_a_minute_is_read_to_the_second():
    # GIVEN 1 at h:00:10, 2 at h:00:30, 4 at h:00:59, 8 at h:01:00, 16 at (h+1):00:05
    account, h = f"acct_sec{time.monotonic_ns()}", BASE
    events = [_ev("a", 1, h + 10), _ev("b", 2, h + 30), _ev("c", 4, h + 59), _ev("d", 8, h + 60)]
    usage.record(account, Formula.SUM, 1, [*events, _ev("e", 16, h + HOUR + 5)], now=STORE_NOW)
    m = _meter()
    # THEN any [start, end) counts exactly the events stamped in it
    assert usage.aggregate(account, m, "cus_b", h + 30, h + 60) == 2 + 4
    assert usage.aggregate(account, m, "cus_b", h, h + 30) == 1
    assert usage.aggregate(account, m, "cus_b", h + 30, h + 31) == 2
    assert usage.aggregate(account, m, "cus_b", h + 11, h + HOUR + 6) == 2 + 4 + 8 + 16
    assert usage.aggregate(account, m, "cus_b", h + 11, h + HOUR + 5) == 2 + 4 + 8
    assert usage.aggregate(account, m, "cus_b", h + 61, h + HOUR + 5) == 0


def test_the_latest_value_of_a_last_meter_is_read_to_the_second():
    # GIVEN a `last` meter: 5 at h:00:10, 7 at h:00:40, 9 at h:02:00
    account, h = f"acct_last{time.monotonic_ns()}", BASE
    usage.record(
        account,
        Formula.LAST,
        1,
        [_ev("a", 5, h + 10), _ev("b", 7, h + 40), _ev("c", 9, h + 120)],
        now=STORE_NOW,
    )
    m = _meter("last")
    # THEN the latest value stamped in each span
    assert usage.aggregate(account, m, "cus_b", h, h + 40) == 5
    assert usage.aggregate(account, m, "cus_b", h, h + 41) == 7
    assert usage.aggregate(account, m, "cus_b", h + 11, h + 100) == 7
    assert usage.aggregate(account, m, "cus_b", h + 41, h + 120) == 0
    assert usage.aggregate(account, m, "cus_b", h + 20, h + 3 * HOUR) == 9


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 3 * HOUR - 1), st.integers(-20, 500)), max_size=40),
    st.lists(st.integers(0, 3 * HOUR), min_size=1, max_size=6),
    st.integers(1, 3),
)
def test_adjacent_spans_count_each_event_once(stamps, cuts, shards):
    # GIVEN events at random seconds over three hours, and random cuts of that time
    account = f"acct_cuts{time.monotonic_ns()}"
    events = [_ev(f"e{i}", value, BASE + at) for i, (at, value) in enumerate(stamps)]
    usage.record(account, Formula.SUM, shards, events, now=STORE_NOW)
    m = _meter(shards=shards)
    bounds = sorted({0, 3 * HOUR, *cuts})
    # THEN each span counts exactly its events, and together they count every event once
    for lo, hi in itertools.pairwise(bounds):
        expected = sum(e.value for e in events if BASE + lo <= e.timestamp < BASE + hi)
        assert usage.aggregate(account, m, "cus_b", BASE + lo, BASE + hi) == expected


# -- what a boundary inside a minute costs (docs/PERFORMANCE.md) ------------------------------------
def test_a_boundary_inside_a_minute_costs_one_item_per_shard_in_one_more_request():
    # GIVEN 2 shards each holding an event in every hour of a day and 10 in each boundary minute
    account, h = f"acct_cost{time.monotonic_ns()}", BASE
    for shard in (0, 1):
        stamps = [h + i * HOUR + 600 for i in range(24)]
        stamps += [h + 5 + i for i in range(10)] + [h + 23 * HOUR + 1800 + i for i in range(10)]
        events = [_ev(_ident_on(shard, n), 1, at) for n, at in enumerate(stamps)]
        usage.record(account, Formula.SUM, 2, events, now=STORE_NOW)
    m = _meter(shards=2)
    from tally.store.usage import catchup

    catchup.catch_up()  # the aggregator's run (issue 15): what follows is the reads' cost alone

    def cost(start: int, end: int) -> tuple[int, int, float]:
        usage.STATS.reset()
        usage.aggregate(account, m, "cus_b", start, end)
        return usage.STATS.requests, usage.STATS.items_read, usage.STATS.read_units

    # WHEN the day is read minute-aligned, then with one and two boundaries inside a minute
    aligned = cost(h, h + 24 * HOUR)
    one = cost(h + 15, h + 24 * HOUR)
    two = cost(h + 15, h + 23 * HOUR + 1810)
    # THEN aligned reads are one Query per shard, one item per hour and shard (as before)
    assert aligned[:2] == (2, 48)
    # AND each boundary inside a minute adds one item per shard, all in one BatchGetItem
    assert one[:2] == (3, 48 + 2) and one[2] - aligned[2] == 2
    assert two[:2] == (3, 48 + 4) and two[2] - aligned[2] == 4
    # AND the figures are exact: each span still counts its events to the second
    assert usage.aggregate(account, m, "cus_b", h + 15, h + 23 * HOUR + 1810) == 2 * (24 + 10)


def _ident_on(shard: int, n: int) -> str:
    """An identifier whose events land on `shard` of 2 (the store picks it from the CRC32)."""
    import zlib

    return next(i for i in (f"sh{shard}-{n}-{k}" for k in range(100)) if zlib.crc32(i.encode()) % 2 == shard)


def test_a_cancel_adjustment_is_subtracted_to_the_second():
    # GIVEN 3 at h:00:20 and 4 at h:00:40, the second one cancelled
    account, h = f"acct_adj{time.monotonic_ns()}", BASE
    usage.record(account, Formula.SUM, 1, [_ev("x", 3, h + 20), _ev("y", 4, h + 40)], now=STORE_NOW)
    usage.cancel(account, Formula.SUM, "y", "e", now=STORE_NOW)
    m = _meter()
    # THEN the minute's two sides count 3 and 0, and the minute 3
    assert usage.aggregate(account, m, "cus_b", h, h + 30) == 3
    assert usage.aggregate(account, m, "cus_b", h + 30, h + 60) == 0
    assert usage.aggregate(account, m, "cus_b", h, h + 60) == 3


def test_usage_stored_before_per_second_items_counts_at_its_minutes_first_second():
    # GIVEN an hour bucket written as before this change: 5 in minute 0, no per-second item
    from tally.settings import settings
    from tally.store.aws import dynamodb
    from tally.store.usage.keys import UsageKeys

    account, h = f"acct_old{time.monotonic_ns()}", BASE
    pk = UsageKeys.bucket(account, "mtr_b", "cus_b", 0)
    dynamodb().put_item(
        TableName=settings().usage_table,
        Item={
            "pk": {"S": pk},
            "sk": {"S": UsageKeys.hour(h)},
            "v": {"N": "5"},
            "n": {"N": "1"},
            "m00": {"N": "5"},
        },
    )
    # AND 2 more at h:00:40, written now (with its per-second item)
    usage.record(account, Formula.SUM, 1, [_ev("new", 2, h + 40)], now=STORE_NOW)
    m = _meter()
    # THEN the old 5 count as stamped h:00:00: once, on the side holding the minute's first second
    assert usage.aggregate(account, m, "cus_b", h, h + 30) == 5
    assert usage.aggregate(account, m, "cus_b", h + 30, h + 60) == 2
    assert usage.aggregate(account, m, "cus_b", h + 1, h + HOUR) == 2
    assert usage.aggregate(account, m, "cus_b", h, h + HOUR) == 7


def test_a_test_clock_advance_bills_a_period_end_inside_a_minute_to_the_second(api):
    from test_test_clocks import CLOCKS, EVENT, FEB_15, MAR_15, T0, _advanced, _event, _invoices

    # GIVEN a clock at Jan 15 00:00:37 and a subscription on it (periods end on the 15th at 00:00:37),
    # on the walkthrough price (4 cents per 100 tokens, rounded up)
    clock = ok(api.post(CLOCKS, {"frozen_time": T0 + 37}))["id"]
    customer = ok(api.post("/v1/customers", {"name": "Second Co", "test_clock": clock}))["id"]
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "Tokens", "event_name": EVENT, "default_aggregation": {"formula": "sum"}},
        )
    )
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "product_data": {"name": "Tokens"},
                "unit_amount": 4,
                "transform_quantity": {"divide_by": 100, "round": "up"},
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )
    sub = ok(api.post("/v1/subscriptions", {"customer": customer, "items": [{"price": price["id"]}]}))["id"]
    # AND, the clock at Feb 15 00:00:00, 100 tokens stamped 00:00:10 and 200 stamped 00:00:50
    assert _advanced(api, clock, FEB_15)["status"] == "ready"
    ok(_event(api, customer, 100, FEB_15 + 10))
    ok(_event(api, customer, 200, FEB_15 + 50))
    # WHEN the clock is advanced past both period ends (Feb 15 and Mar 15, 00:00:37)
    assert _advanced(api, clock, MAR_15 + 7200)["status"] == "ready"
    # THEN the first period bills the 100 stamped before its end (1 × 4), the second the 200 (2 × 4)
    cycles = [i for i in _invoices(api, sub) if i["billing_reason"] == "subscription_cycle"]
    assert [(i["period_end"], i["total"]) for i in cycles] == [(FEB_15 + 37, 4), (MAR_15 + 37, 8)]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 3 * HOUR - 1), st.integers(-20, 500)), max_size=30),
    st.lists(st.integers(0, 3 * HOUR), min_size=1, max_size=5),
)
def test_a_last_meter_reads_the_latest_event_of_any_span(stamps, cuts):
    # GIVEN events of a `last` meter at random seconds over three hours (ties: the later arrival)
    account = f"acct_lastcuts{time.monotonic_ns()}"
    events = [_ev(f"e{i}", value, BASE + at) for i, (at, value) in enumerate(stamps)]
    usage.record(account, Formula.LAST, 1, events, now=STORE_NOW)
    m = _meter("last")
    bounds = sorted({0, 3 * HOUR, *cuts})
    # THEN each span reads the value of its latest event (0 when it holds none)
    for lo, hi in itertools.pairwise(bounds):
        inside = [e for e in events if BASE + lo <= e.timestamp < BASE + hi]
        latest = max(enumerate(inside), key=lambda p: (p[1].timestamp, p[0]), default=None)
        expected = latest[1].value if latest else 0
        assert usage.aggregate(account, m, "cus_b", BASE + lo, BASE + hi) == expected
