"""The usage aggregator (issue 15): events stored by one write each reach their buckets through
the usage table's stream, exactly once, whoever catches the stream up and wherever it crashes;
and the period close never bills before the stream is caught up (the watermark).

Crash points of the asynchronous path, each tested below: (1) an event's Put (the request path:
tests/integration/test_usage_store.py, test_meter_event_retries.py); (2) each aggregator write
(`aggregator.write`: one item's update, or a figure-kept meter's transaction); (3) the
checkpoint's write (`catchup.save`). After a failure at any of them, the next catch-up counts
every event exactly once.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
import support

from tally.billing import (
    customers,
    cycles,
    invoices,
    meter_events,
    meters,
    prices,
    products,
    subscription_creation,
)
from tally.billing.meter_events import EventInput
from tally.billing.meters import MeterSpec
from tally.billing.prices import Amount, NewPrice
from tally.billing.subscriptions import ItemSpec
from tally.clock import Clock
from tally.domain.aggregation import HOUR, Formula
from tally.domain.listing import Window
from tally.domain.records import Meter, MeterEvent, Recurring
from tally.settings import settings
from tally.store import usage
from tally.store.aws import dynamodb
from tally.store.usage import aggregator, catchup
from tally.store.usage.keys import UsageKeys

NOW = int(time.time())
BASE = NOW // HOUR * HOUR - 30 * HOUR


def _meter(meter_id: str, formula: str = "sum") -> Meter:
    return support.usage_meter(meter_id, formula)


def _ev(ident: str, value: int, ts: int, meter_id: str, customer: str = "cus_a") -> MeterEvent:
    return MeterEvent(ident, "e", meter_id, customer, value, ts, {"value": str(value)}, NOW)


def _events(meter_id: str, n: int = 40) -> list[MeterEvent]:
    # two customers, three hours, many minutes and seconds: hour items and per-second items
    return [
        _ev(f"{meter_id}-{i}", i + 1, BASE + (i % 3) * HOUR + i * 37 % 3600, meter_id, f"cus_{i % 2}")
        for i in range(n)
    ]


def _expected(events: list[MeterEvent], customer: str) -> int:
    return sum(e.value for e in events if e.customer == customer)


def _bucket_hour(account: str, meter_id: str, customer: str, hour: int) -> dict | None:
    return (
        dynamodb()
        .get_item(
            TableName=settings().usage_table,
            Key={
                "pk": {"S": UsageKeys.bucket(account, meter_id, customer, 0)},
                "sk": {"S": UsageKeys.hour(hour)},
            },
            ConsistentRead=True,
        )
        .get("Item")
    )


def test_a_failure_at_every_aggregator_write_then_a_catch_up_counts_each_event_once(moto_tables, monkeypatch):
    catchup.catch_up()  # what earlier tests left
    # GIVEN how many writes the aggregation of a batch takes (a clean run, counted)
    real = aggregator.write
    counted = {"n": 0}

    def counting(actions, units):
        counted["n"] += 1
        return real(actions, units)

    probe = "acct_agg_probe"
    usage.record(probe, Formula.SUM, 1, _events("mtr_probe"), NOW)
    monkeypatch.setattr(aggregator, "write", counting)
    catchup.catch_up()
    monkeypatch.undo()
    writes = counted["n"]
    assert writes > 10
    for k in range(1, writes + 1):
        account = f"acct_agg_{k}"
        events = _events(f"mtr_k{k}")
        usage.record(account, Formula.SUM, 1, events, NOW)
        calls = {"n": 0}

        def failing(actions, units, k=k, calls=calls):
            calls["n"] += 1
            if calls["n"] == k:
                raise ConnectionError("the aggregator died mid-batch")
            return real(actions, units)

        # WHEN the aggregator dies at its k-th write …
        monkeypatch.setattr(aggregator, "write", failing)
        with pytest.raises(ConnectionError):
            catchup.catch_up()
        monkeypatch.undo()
        catchup.reset()  # … in another process: the next catch-up starts at the stored checkpoint
        # THEN the next catch-up (a reader's) counts every event exactly once
        for customer in ("cus_0", "cus_1"):
            got = usage.aggregate(account, _meter(f"mtr_k{k}"), customer, BASE, BASE + 3 * HOUR)
            assert got == _expected(events, customer), (k, customer)


def test_a_failure_at_the_checkpoint_then_a_catch_up_counts_each_event_once(moto_tables, monkeypatch):
    catchup.catch_up()
    account, events = "acct_agg_ck", _events("mtr_ck")
    usage.record(account, Formula.SUM, 1, events, NOW)

    def dead(*args):
        raise ConnectionError("died before the checkpoint")

    # WHEN every bucket is written but the checkpoint's write fails
    monkeypatch.setattr(catchup, "SAVE_EVERY_SECONDS", 0.0)
    monkeypatch.setattr(catchup, "save", dead)
    with pytest.raises(ConnectionError):
        catchup.catch_up()
    monkeypatch.undo()
    catchup.reset()
    # THEN the next catch-up re-reads those records and adds nothing twice
    for customer in ("cus_0", "cus_1"):
        assert usage.aggregate(account, _meter("mtr_ck"), customer, BASE, BASE + 3 * HOUR) == _expected(
            events, customer
        )


def test_two_appliers_with_different_batch_boundaries_count_each_event_once(moto_tables):
    catchup.catch_up()
    # GIVEN stored events, read from the stream as the aggregator reads them
    account, events = "acct_agg_two", _events("mtr_two")
    usage.record(account, Formula.SUM, 1, events, NOW)
    arn = catchup._arn()
    assert arn
    (shard,) = [s["ShardId"] for s in catchup._shards(arn)]
    records, _ = catchup._read(arn, shard, catchup._positions.get(shard))
    mine = [r for r in records if aggregator.counted(r) and aggregator.counted(r).account == account]
    assert len(mine) == len(events)
    # WHEN one applier applies the first 15 records, another the first 30, a third all of them, and
    # the first applies all of them again (a naive `applied < max` would count records twice)
    for cut in (15, 30, len(mine), len(mine)):
        aggregator.apply(shard, mine[:cut])
    catchup.catch_up()
    # THEN every event counts once
    for customer in ("cus_0", "cus_1"):
        assert usage.aggregate(account, _meter("mtr_two"), customer, BASE, BASE + 3 * HOUR) == _expected(
            events, customer
        )


def test_a_cancel_before_aggregation_stays_exact(moto_tables):
    catchup.catch_up()
    account = "acct_agg_cancel"
    events = [_ev("c1", 5, NOW - 100, "mtr_c"), _ev("c2", 7, NOW - 50, "mtr_c")]
    usage.record(account, Formula.SUM, 1, events, NOW)
    # WHEN an event is cancelled before the aggregator ran (the cancel subtracts at once)
    usage.cancel(account, Formula.SUM, "c1", "e", NOW)
    # THEN once caught up, only the other event counts
    assert usage.aggregate(account, _meter("mtr_c"), "cus_a", NOW - 3600, NOW + 60) == 7


# -- the watermark: the close never bills before the stream is caught up --------------------------
def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


START, JUNE = _at(2031, 5, 14, 9, 30), _at(2031, 6, 14, 9, 30)


def test_the_close_catches_a_delayed_aggregation_up_before_billing(functions, moto_tables):
    # GIVEN a metered subscription whose usage was stored while the aggregator was not running
    catchup.catch_up()
    support.AGGREGATE_AFTER_REQUESTS["on"] = False
    try:
        account = support.new_account().id
        t0 = Clock.at(START)
        customer = customers.create(account, {"name": "Late", "email": "l@example.test"}, None, t0)
        meter = meters.create(account, MeterSpec("Tokens", "late_tokens", Formula.SUM), t0)
        product = products.create(account, {"name": "Tokens"}, None, t0)
        price = prices.create(
            account,
            NewPrice(
                currency="usd",
                product=product.id,
                unit_amount=Amount(Decimal(4), "unit_amount"),
                recurring=Recurring("month", 1, "metered", meter.id),
            ),
            t0,
        )
        sub = subscription_creation.create(account, customer.id, [ItemSpec(price.id, "items[0][price]")], t0)
        for day, value in ((1, 150), (20, 51)):  # 201 tokens × 4 = 804
            event = EventInput("late_tokens", {"stripe_customer_id": customer.id, "value": str(value)})
            assert len(meter_events.accept(account, {0: event}, t0.later(day * 86400)).stored) == 1
        # (the aggregation is behind: no bucket holds the usage yet)
        hour = (START + 86400) // HOUR * HOUR
        assert _bucket_hour(account, meter.id, customer.id, hour) is None
        # WHEN the period is billed
        outcome = cycles.bill_period(account, sub.subscription.id, JUNE, Clock.at(JUNE + 60))
        assert outcome.outcome == "billed"
        # THEN the invoice bills every event of the period: the close caught the stream up first
        (inv,) = [
            i
            for i in invoices.list_(
                account, Window(limit=10), Clock.at(JUNE + 60), subscription=sub.subscription.id
            ).data
            if i.billing_reason == "subscription_cycle"
        ]
        assert [(ln.quantity, ln.amount) for ln in inv.lines] == [(201, 804)]
    finally:
        support.AGGREGATE_AFTER_REQUESTS["on"] = True
