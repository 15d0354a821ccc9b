"""The usage store on its own: exactly-once under duplicates, crashes between transactions,
and reads that grow with hours, not events."""

from __future__ import annotations

import time

import pytest
import support
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tally.domain.aggregation import HOUR, Formula
from tally.domain.records import Meter, MeterEvent
from tally.store import usage
from tally.store.usage import write

NOW = int(time.time())
BASE = NOW // HOUR * HOUR - 48 * HOUR


def _meter(meter_id: str, formula: str = "sum", shards: int = 1) -> Meter:
    return support.usage_meter(meter_id, formula, shards)


def _ev(ident: str, value: int, ts: int, meter_id: str = "mtr_s", customer: str = "cus_s") -> MeterEvent:
    return MeterEvent(ident, "e", meter_id, customer, value, ts, {"value": str(value)}, NOW)


def test_a_crash_between_transactions_then_a_retry_counts_each_event_once(moto_tables, monkeypatch):
    # GIVEN a batch spanning several bucket hours (so it needs several transactions)
    account = "acct_crash"
    events = [_ev(f"c{i}", i + 1, BASE + (i % 5) * HOUR + i, meter_id="mtr_crash") for i in range(300)]
    real = write.transact
    calls = {"n": 0}

    def crash_on_third(actions, units):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("Lambda died mid-batch")
        return real(actions, units)

    # WHEN the first attempt dies after two transactions committed
    monkeypatch.setattr(write, "transact", crash_on_third)
    with pytest.raises(ConnectionError):
        usage.record(account, Formula.SUM, 1, events, now=NOW)
    monkeypatch.setattr(write, "transact", real)
    # AND the client retries the whole batch
    outcome = usage.record(account, Formula.SUM, 1, events, now=NOW)
    # THEN what the first attempt stored is reported as duplicates, and the total is exact
    assert len(outcome.stored) + len(outcome.duplicates) == 300 and outcome.duplicates
    assert usage.aggregate(account, _meter("mtr_crash"), "cus_s", BASE, BASE + 6 * HOUR) == sum(range(1, 301))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(-50, 1000), st.integers(0, 47 * 60)), max_size=60),
    st.integers(1, 4),
)
def test_duplicates_never_change_totals(moto_tables, draws, shards):
    # GIVEN events where identifiers may repeat (with other values): the first occurrence stands
    account = f"acct_prop{time.monotonic_ns()}"
    events = [_ev(f"i{ident}", value, BASE + minute * 60) for ident, value, minute in draws]
    expected: dict[str, int] = {}
    for e in events:
        expected.setdefault(e.identifier, e.value)
    # WHEN they arrive in two overlapping batches
    half = len(events) // 2
    usage.record(account, Formula.SUM, shards, events[: half + 5], now=NOW)
    usage.record(account, Formula.SUM, shards, events[half:], now=NOW)
    # THEN the total is the sum over distinct identifiers
    total = usage.aggregate(account, _meter("mtr_s", shards=shards), "cus_s", BASE, BASE + 48 * HOUR)
    assert total == sum(expected.values())


def test_minute_edges_are_hand_computed(moto_tables):
    # GIVEN values at 10:00:30 (1), 10:59:59 (2), 11:00:00 (4), 11:30:00 (8), 12:00:00 (16)
    account = "acct_edges"
    h = BASE
    usage.record(
        account,
        Formula.SUM,
        1,
        [
            _ev("a", 1, h + 30),
            _ev("b", 2, h + HOUR - 1),
            _ev("c", 4, h + HOUR),
            _ev("d", 8, h + HOUR + 1800),
            _ev("e", 16, h + 2 * HOUR),
        ],
        now=NOW,
    )
    m = _meter("mtr_s")
    # THEN minute-aligned windows see exactly the minutes inside them
    assert usage.aggregate(account, m, "cus_s", h, h + 3 * HOUR) == 31
    assert usage.aggregate(account, m, "cus_s", h + 60, h + 2 * HOUR) == 14  # drops 10:00 (1) and 12:00 (16)
    assert usage.aggregate(account, m, "cus_s", h + HOUR - 60, h + HOUR + 60) == 6  # 10:59 and 11:00
    assert usage.aggregate(account, m, "cus_s", h + HOUR + 1800, h + HOUR + 1860) == 8
    assert usage.aggregate(account, m, "cus_s", h + 90, h + 150) == 0


def test_reads_grow_with_hours_not_events(moto_tables):
    # GIVEN 10 events and 480 events in the same 24 hours for two customers (bench/ does 100 k)
    account = "acct_reads"
    small = [_ev(f"s{i}", 1, BASE + (i * 8640) % (24 * HOUR), customer="cus_small") for i in range(10)]
    big = [_ev(f"b{i}", 1, BASE + (i * 180) % (24 * HOUR), customer="cus_big") for i in range(480)]
    usage.record(account, Formula.SUM, 1, small + big, now=NOW)
    m = _meter("mtr_s")
    usage.STATS.reset()
    assert usage.aggregate(account, m, "cus_small", BASE, BASE + 24 * HOUR) == 10
    small_reads = usage.STATS.items_read
    usage.STATS.reset()
    assert usage.aggregate(account, m, "cus_big", BASE, BASE + 24 * HOUR) == 480
    # THEN the big customer's read touches at most one item per hour
    assert small_reads <= 10 and usage.STATS.items_read <= 24


def test_batched_writes_cost_one_unit_per_event_plus_one_per_item_aggregated(moto_tables):
    # 97 events over 2 minutes: 97 INSERTs in 4 BatchExecuteStatements (1 WRU each, no
    # transaction); then the aggregator writes
    # the hour, the hour's per-second detail (97 seconds: < 1 KB) and the stream checkpoint
    # (issue 15: was ≈ 2.1 per event)
    from tally.store.usage import catchup

    catchup.catch_up()  # what earlier tests left in the stream
    usage.STATS.reset()
    usage.record("acct_wru", Formula.SUM, 1, [_ev(f"w{i}", 1, BASE + i) for i in range(97)], now=NOW)
    assert (usage.STATS.requests, usage.STATS.write_units) == (4, 97)
    caught = catchup.catch_up()
    assert caught.applied == 97 and caught.writes == 2
    assert usage.STATS.write_units in (97 + 2, 97 + 2 + 1)  # + the checkpoint, at most once per 10 s
    assert usage.STATS.write_units / 97 <= 1.05
