"""Issue 15 point 3 (branch `alerts`): an unfired usage alert adds ONE read and ONE write per
request per customer — whatever the day of the period and the number of alerts — and the customer's
current period it reads stays exact through every subscription change.

The one read is `store.alerts.evaluation_state` (a BatchGetItem: the running figure, the
customer's `subscription_periods` item, its own watch list); the one write is the figure's update
inside the usage transaction (+2 WRU, no extra request). Before this branch an evaluation also
queried the customer's subscriptions and read its watch list and the figure apart (3 requests).
Since branch `async` both happen in the usage aggregator (after the ingest request): the one write
is then inside the aggregator's bucket transaction, and the evaluation re-reads a test clock.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
import support

from tally.billing import alert_evaluation, usage_figures
from tally.clock import Clock
from tally.store import subscription_periods, usage
from tally.store.usage import aggregator

pytestmark = pytest.mark.usefixtures("moto_tables")

HOUR, DAY = 3600, 86400
START = 1_900_000_000 // HOUR * HOUR  # 2030-03-17 17:00 UTC, a test clock's start
TRIGGERED = "billing.alert.triggered"
# A batch that fits one usage transaction (100 events of one minute take 102 actions: two
# transactions, each with its own figure update — the write path's packing, branch `async`).
BATCH = 90


@pytest.fixture(autouse=True)
def figures_at_once(monkeypatch):
    # Figures are read from SETTLE seconds after a meter's first alert (2 minutes in production).
    monkeypatch.setattr(usage_figures, "SETTLE", 0)
    # The stream checkpoint's write (at most one per 10 s, whenever it falls due: branch `async`)
    # would land in one of the two compared requests by chance.
    from tally.store.usage import catchup

    monkeypatch.setattr(catchup, "save", lambda *args: None)


def ok(response: support.Response) -> Any:
    assert response.status == 200, response.text
    return response.json


class Calls:
    """Every AWS operation made inside the block, in order."""

    def __enter__(self) -> Calls:
        import botocore.client

        self.ops: list[str] = []
        self._real = real = botocore.client.BaseClient._make_api_call

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            self.ops.append(operation)
            return real(client, operation, params)

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        import botocore.client

        botocore.client.BaseClient._make_api_call = self._real  # type: ignore[method-assign]


def _meter(api: support.Api, name: str) -> dict[str, Any]:
    return ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": name, "event_name": name, "default_aggregation": {"formula": "sum"}},
        )
    )


def _subscribe(api: support.Api, meter: dict[str, Any], customer: str, **extra: Any) -> dict[str, Any]:
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1,
                "product_data": {"name": meter["display_name"]},
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )
    return ok(
        api.post("/v1/subscriptions", {"customer": customer, "items": [{"price": price["id"]}], **extra})
    )


def _alerts(api: support.Api, meter: str, count: int, customer: str | None, gte: int = 10**12) -> list[str]:
    out = []
    for i in range(count):
        rule: dict[str, Any] = {
            "meter": meter,
            "gte": gte,
            "recurrence": "one_time" if i % 2 else "per_period",
        }
        if customer is not None:
            rule["filters"] = [{"type": "customer", "customer": customer}]
        body = {"alert_type": "usage_threshold", "title": f"a{i}", "usage_threshold": rule}
        out.append(ok(api.post("/v1/billing/alerts", body))["id"])
    return out


def _stamp(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _subject(api: support.Api, name: str, alerts: int, scope: str, day: int) -> tuple[str, str, int]:
    """(event name, customer, its clock's time): a customer on a test clock `day` days into a
    monthly period of a metered subscription, with usage in every hour so far, and `alerts`
    unfired alerts on the meter (`scope` "customer": its own; "meter": on every customer)."""
    clock = ok(api.post("/v1/test_helpers/test_clocks", {"frozen_time": START}))["id"]
    meter = _meter(api, name)
    cus = ok(api.post("/v1/customers", {"name": name, "test_clock": clock}))["id"]
    _subscribe(api, meter, cus)
    _alerts(api, meter["id"], alerts, cus if scope == "customer" else None)
    now = START + (day - 1) * DAY + HOUR
    support.advance_clock(api, api.functions, clock, now)
    from tally.domain.aggregation import Formula
    from tally.domain.records import MeterEvent

    hours = [
        MeterEvent(f"{name}-{h}", name, meter["id"], cus, 1, h, {}, now) for h in range(START, now, HOUR)
    ]
    usage.record(api.account.id, Formula.SUM, 1, hours, now, figures=alerts > 0)
    # the first evaluation registers the period's bounds on the figure (once per period)
    ok(
        api.post(
            "/v1/billing/meter_events",
            {"event_name": name, "payload": {"stripe_customer_id": cus, "value": "1"}},
        )
    )
    return name, cus, now


def _send(api: support.Api, name: str, cus: str, now: int, batch: bool, token: str) -> tuple[list[str], Any]:
    """The AWS operations and the usage store's counters of one single event or one batch, each
    read as by a process that keeps nothing (`store.recent`): both sides read alike."""
    from tally.store import recent

    recent.clear()
    usage.STATS.reset()
    with Calls() as calls:
        if batch:
            events = [
                {
                    "event_name": name,
                    "timestamp": _stamp(now),
                    "payload": {"stripe_customer_id": cus, "value": "1"},
                }
                for _ in range(BATCH)
            ]
            ok(api.post("/v2/billing/meter_event_stream", json={"events": events}, key=token))
        else:
            body = {"event_name": name, "payload": {"stripe_customer_id": cus, "value": "1"}}
            ok(api.post("/v1/billing/meter_events", body))
    return calls.ops, (usage.STATS.write_units, usage.STATS.items_read)


STREAM_READS = {"DescribeTable", "DescribeStream", "GetShardIterator", "GetRecords"}
WRITES = {"PutItem", "UpdateItem", "TransactWriteItems"}


def _reads(ops: list[str]) -> Counter[str]:
    """The table reads among `ops` (not the usage stream's: the aggregator's catch-up)."""
    return Counter(op for op in ops if op not in STREAM_READS | WRITES)


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
@pytest.mark.parametrize("day", [1, 29])
@pytest.mark.parametrize(
    "alerts,scope",
    [(1, "customer"), (25, "customer"), (25, "meter")],
    ids=["1 own", "25 own", "25 meter-wide"],
)
def test_unfired_alerts_add_one_read_and_one_write(api, alerts, scope, day, batch):
    # GIVEN the same customer and usage twice: without alerts, and with `alerts` unfired alerts
    token = ok(api.post("/v2/billing/meter_event_session", json={}))["authentication_token"]
    base = _subject(api, f"o1base{alerts}{scope[0]}{day}", 0, scope, day)
    watched = _subject(api, f"o1with{alerts}{scope[0]}{day}", alerts, scope, day)
    # WHEN one more request arrives for each
    base_ops, (base_wu, base_items) = _send(api, *base, batch, token)
    ops, (wu, items) = _send(api, *watched, batch, token)
    # THEN the alerts added exactly one request, a read (no subscriptions Query, no claim read).
    # Since branch `async` the evaluation runs in the usage aggregator (run by the harness after the
    # request): it also reads the customer's test clock (GetItem), which the ingest request read
    # for its own "now" and shared with the evaluation before — a customer on no test clock reads
    # none. The aggregator's reads of the stream are the same with or without alerts.
    added = _reads(ops)
    added.subtract(_reads(base_ops))
    assert +added == Counter({"BatchGetItem": 1, "GetItem": 1}), (ops, base_ops)
    assert -added == Counter(), (ops, base_ops)
    # AND one write: the figure's update inside the usage transaction — since branch `async` the
    # aggregator's: without a figure it updates the hour and the hour's detail item by one
    # UpdateItem each (1 WRU each here: one second of usage), with one it writes them and the
    # figure in ONE TransactWriteItems: the figure's 2 WRU, the hour's 1 more for being
    # transactional, and the detail item counted at its bound (a transaction returns no sizes):
    # 2 × 3 instead of 1
    assert ops.count("TransactWriteItems") == 1 and base_ops.count("TransactWriteItems") == 0
    assert "UpdateItem" not in ops and base_ops.count("UpdateItem") == 2
    assert wu == base_wu + 2 + 1 + (2 * aggregator.DETAIL_UNITS - 1)
    # AND one usage item read (the figure), whatever the day of the period
    assert (base_items, items) == (0, 1)


def _periods_match(api: support.Api, cus: str, clock: Clock) -> tuple[int, int] | None:
    """The customer's current period from its `subscription_periods` item, asserted equal to what
    querying its subscriptions answers (the pre-branch evaluation's read)."""
    found = subscription_periods.read(api.account.id, cus)
    assert found is not None, "the customer's subscription periods are kept"
    kept = subscription_periods.current(found[0], clock.now)
    assert kept == alert_evaluation.current_period(api.account.id, cus, clock)
    return kept


def test_the_kept_period_is_the_queried_one_through_every_subscription_change(api):
    account = api.account.id
    clock_id = ok(api.post("/v1/test_helpers/test_clocks", {"frozen_time": START + 17}))["id"]

    def at() -> Clock:
        return Clock.at(ok(api.get(f"/v1/test_helpers/test_clocks/{clock_id}"))["frozen_time"])

    meter = _meter(api, "o1periods")
    # GIVEN a new customer: known, no subscription
    cus = ok(api.post("/v1/customers", {"name": "P", "test_clock": clock_id}))["id"]
    assert subscription_periods.read(account, cus) == ((), 1)
    assert _periods_match(api, cus, at()) is None
    # WHEN it subscribes (at a second that is not a minute's)
    first = _subscribe(api, meter, cus)
    assert _periods_match(api, cus, at()) == (START + 17, first["items"]["data"][0]["current_period_end"])
    # AND its periods roll twice (the close runs; nothing of the rules changes)
    support.advance_clock(api, api.functions, clock_id, START + 17 + 40 * DAY)
    assert _periods_match(api, cus, at())[0] == first["items"]["data"][0]["current_period_end"]  # type: ignore[index]
    support.advance_clock(api, api.functions, clock_id, START + 17 + 62 * DAY)
    rolled = _periods_match(api, cus, at())
    assert rolled is not None and rolled[0] > START + 17 + 31 * DAY
    # AND a second, newer subscription with a trial starts: the newest not ended is the one read
    trial_end = START + 17 + 62 * DAY + 5 * DAY + 13
    second = _subscribe(api, meter, cus, trial_end=trial_end)
    assert _periods_match(api, cus, at())[1] == trial_end  # type: ignore[index]
    # AND the trial ends early ("now": the anchor moves to the clock's second)
    support.advance_clock(api, api.functions, clock_id, START + 17 + 63 * DAY + 7)
    ok(api.post(f"/v1/subscriptions/{second['id']}", {"trial_end": "now"}))
    assert _periods_match(api, cus, at())[0] == START + 17 + 63 * DAY + 7  # type: ignore[index]
    # AND it is cancelled at an arbitrary second: the older one is current again
    support.advance_clock(api, api.functions, clock_id, START + 17 + 64 * DAY + 4321)
    ok(api.delete(f"/v1/subscriptions/{second['id']}"))
    assert (
        _periods_match(api, cus, at()) == _periods_match(api, cus, at())
        and _periods_match(api, cus, at())[0] < START + 17 + 64 * DAY
    )
    # AND the first ends at a `cancel_at` the clock then passes: none is left
    cancel_at = START + 17 + 70 * DAY + 999
    ok(api.post(f"/v1/subscriptions/{first['id']}", {"cancel_at": cancel_at}))
    _periods_match(api, cus, at())
    support.advance_clock(api, api.functions, clock_id, cancel_at + 60)
    assert _periods_match(api, cus, at()) is None
    assert subscription_periods.read(account, cus)[0] == ()  # type: ignore[index]


def _triggers(api: support.Api, alert: str) -> list[dict[str, Any]]:
    events = [e for e in support.stored_events(api.account.id) if e["type"] == TRIGGERED]
    return [e["data"]["object"] for e in events[::-1] if e["data"]["object"]["alert"]["id"] == alert]


def test_a_per_period_alert_stays_exact_across_a_roll_and_a_cancel_at_any_second(api):
    # GIVEN a customer on a test clock with a monthly subscription and a per-period alert at 10
    clock_id = ok(api.post("/v1/test_helpers/test_clocks", {"frozen_time": START + 17}))["id"]
    meter = _meter(api, "o1roll")
    cus = ok(api.post("/v1/customers", {"name": "R", "test_clock": clock_id}))["id"]
    sub = _subscribe(api, meter, cus)
    period_end = sub["items"]["data"][0]["current_period_end"]
    (alert,) = _alerts(api, meter["id"], 1, cus, gte=10)

    def event(value: int, ts: int) -> None:
        body = {
            "event_name": "o1roll",
            "timestamp": ts,
            "payload": {"stripe_customer_id": cus, "value": str(value)},
        }
        ok(api.post("/v1/billing/meter_events", body))

    # WHEN 9 is used in the first period, then (after the roll) 6 + 4 in the second
    support.advance_clock(api, api.functions, clock_id, period_end - 100)
    event(9, period_end - 100)
    assert _triggers(api, alert) == []
    support.advance_clock(api, api.functions, clock_id, period_end + 50)
    event(6, period_end + 50)
    assert _triggers(api, alert) == []  # 6 in the new period: the first period's 9 does not count
    event(4, period_end + 50)
    # THEN it fired once, in the second period, at 10
    assert [(t["value"]) for t in _triggers(api, alert)] == [10]
    # WHEN the subscription is cancelled at an arbitrary second, and 1 more arrives after it
    support.advance_clock(api, api.functions, clock_id, period_end + 3 * DAY + 1234)
    ok(api.delete(f"/v1/subscriptions/{sub['id']}"))
    event(1, period_end + 3 * DAY + 1300)
    # THEN without a subscription the window runs from the alert's creation (9 + 6 + 4 + 1 = 20)
    # and its `nosub` key fires once more
    assert [t["value"] for t in _triggers(api, alert)] == [10, 20]


def test_a_crash_at_the_subscription_write_leaves_the_kept_periods_as_the_subscriptions(api):
    meter = _meter(api, "o1crash")
    cus = ok(api.post("/v1/customers", {"name": "C"}))["id"]
    price = _price(api, meter)
    # WHEN the subscription's creation crashes at its transaction (which holds the periods' Put)
    with support.TransactionCrash(at=1) as crash:
        assert _subscribe_raw(api, price, cus).status == 500
    assert crash.calls == 1
    # THEN neither is written
    assert subscription_periods.read(api.account.id, cus) == ((), 1)
    assert _periods_match(api, cus, Clock.system()) is None
    # AND the retry writes both, once
    sub = ok(_subscribe_raw(api, price, cus))
    assert [e.id for e in subscription_periods.read(api.account.id, cus)[0]] == [sub["id"]]  # type: ignore[index]
    # WHEN its cancel crashes at its transaction
    with support.TransactionCrash(at=1):
        assert api.delete(f"/v1/subscriptions/{sub['id']}").status == 500
    # THEN it still runs, and the kept periods say so; the retry ends both
    assert _periods_match(api, cus, Clock.system()) is not None
    ok(api.delete(f"/v1/subscriptions/{sub['id']}"))
    assert _periods_match(api, cus, Clock.system()) is None


def _price(api: support.Api, meter: dict[str, Any]) -> str:
    return ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1,
                "product_data": {"name": "raw"},
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )["id"]


def _subscribe_raw(api: support.Api, price: str, customer: str) -> support.Response:
    return api.post("/v1/subscriptions", {"customer": customer, "items": [{"price": price}]})


def test_a_concurrent_change_of_the_kept_periods_conflicts_and_the_retry_counts_it_once(api, monkeypatch):
    meter = _meter(api, "o1race")
    cus = ok(api.post("/v1/customers", {"name": "Race"}))["id"]
    first = _subscribe(api, meter, cus)
    price = _price(api, meter)
    real = subscription_periods.read
    raced = []

    def racing(account: str, customer: str):
        found = real(account, customer)
        if not raced:  # another writer commits between this read and the Put
            raced.append(True)
            from tally.store.models import ObjectItem

            pk, sk = subscription_periods.key(account, customer)
            item = ObjectItem.get(pk, sk, consistent_read=True)
            item.version = int(item.version) + 1
            item.save()
        return found

    monkeypatch.setattr(subscription_periods, "read", racing)
    # WHEN a second subscription's creation loses that race (its transaction, version-checked on
    # the kept periods, is cancelled: a 409 `Conflict` its use case re-reads and retries)
    second = ok(_subscribe_raw(api, price, cus))
    # THEN the race happened, and the retry counted the new subscription once, the first kept
    assert raced == [True]
    assert sorted(e.id for e in real(api.account.id, cus)[0]) == sorted([first["id"], second["id"]])  # type: ignore[index]
    listed = ok(api.get("/v1/subscriptions", {"customer": cus}))["data"]
    assert sorted(s["id"] for s in listed) == sorted([first["id"], second["id"]])
    assert _periods_match(api, cus, Clock.system()) is not None


def test_unknown_periods_fall_back_to_the_query(api):
    # GIVEN a customer whose subscriptions were bulk-loaded (its kept periods become unknown)
    meter = _meter(api, "o1bulk")
    cus = ok(api.post("/v1/customers", {"name": "Bulk"}))["id"]
    sub = _subscribe(api, meter, cus)
    from tally.domain.records import Subscription
    from tally.store import bulk, objects

    record = objects.get(api.account.id, sub["id"], Subscription, Clock.system())
    bulk.put_records(api.account.id, [(record, record.created * 1000)])
    assert subscription_periods.read(api.account.id, cus) is None
    # WHEN an event arrives for it with an alert on the meter
    (alert,) = _alerts(api, meter["id"], 1, cus, gte=3)
    with Calls() as calls:
        body = {"event_name": "o1bulk", "payload": {"stripe_customer_id": cus, "value": "3"}}
        ok(api.post("/v1/billing/meter_events", body))
    # THEN the evaluation queried its subscriptions (as before the branch) and fired exactly
    assert "Query" in calls.ops[calls.ops.index("TransactWriteItems") :]
    assert [t["value"] for t in _triggers(api, alert)] == [3]
