"""Issue 15 point 3 (branch `ingest`): the usage-alert scenarios of test_alerts.py again, with the
running figures read from the first request (`usage_figures.SETTLE` = 0: in production they are
read from 2 minutes after a meter's first alert), and what an unfired alert costs per request."""

from __future__ import annotations

import pytest
import support
from test_alerts import (  # noqa: F401  (collected here again, with the figures read)
    test_a_crash_after_the_usage_write_still_triggers_on_the_retry,
    test_a_crash_after_the_usage_write_triggers_on_the_next_event,
    test_a_v2_batch_crossing_fires_once,
    test_each_customer_fires_once_and_a_customer_filter_limits_the_alert,
    test_inactive_and_archived_alerts_do_not_fire_and_reactivated_ones_do,
    test_one_time_fires_once_ever_and_per_period_once_per_period,
    test_one_time_fires_once_when_the_usage_reaches_gte,
    test_only_usage_after_the_alert_s_creation_counts,
    test_without_a_subscription_usage_counts_from_creation_and_per_period_fires_once,
)

from tally.billing import usage_figures
from tally.store import usage

HOUR = 3600
DAY = 86400


@pytest.fixture(autouse=True)
def figures_at_once(monkeypatch):
    monkeypatch.setattr(usage_figures, "SETTLE", 0)


def ok(resp: support.Response) -> dict:
    assert resp.status == 200, resp.text
    return resp.json


def test_an_unfired_alert_reads_one_usage_item_at_day_29(api, monkeypatch):
    # GIVEN a customer on a test clock 29 days into a monthly period, 25 unfired alerts on it, and
    # usage in every hour of the period so far
    start = 1_900_000_000 // HOUR * HOUR
    clock = ok(api.post("/v1/test_helpers/test_clocks", {"frozen_time": start}))["id"]
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "U", "event_name": "fig29", "default_aggregation": {"formula": "sum"}},
        )
    )
    cus = ok(api.post("/v1/customers", {"name": "Late", "test_clock": clock}))["id"]
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1,
                "product_data": {"name": "U"},
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )
    ok(api.post("/v1/subscriptions", {"customer": cus, "items": [{"price": price["id"]}]}))
    for i in range(25):
        rule = {"meter": meter["id"], "gte": 10**12, "recurrence": "one_time" if i % 2 else "per_period"}
        rule["filters"] = [{"type": "customer", "customer": cus}]
        body = {"alert_type": "usage_threshold", "title": f"a{i}", "usage_threshold": rule}
        ok(api.post("/v1/billing/alerts", body))
    late = start + 29 * DAY
    support.advance_clock(api, api.functions, clock, late)
    from tally.domain.aggregation import Formula
    from tally.domain.records import MeterEvent

    hours = [
        MeterEvent(f"fill-{h}", "fig29", meter["id"], cus, 1, h, {}, late) for h in range(start, late, HOUR)
    ]
    usage.record(api.account.id, Formula.SUM, 1, hours, late, figures=True)
    event = {"event_name": "fig29", "payload": {"stripe_customer_id": cus, "value": "1"}}
    ok(api.post("/v1/billing/meter_events", event))  # the first evaluation registers the period
    # WHEN another event arrives
    import botocore.client

    calls: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def counted(client, operation, params):
        calls.append(operation)
        if operation == "BatchGetItem":  # the request's lookups (key, meter, customer) are one
            keys = [k["pk"]["S"] for t in params["RequestItems"].values() for k in t["Keys"]]
            calls.extend("claim read" for k in keys if "#unique#alert_trigger#" in k)
        return real(client, operation, params)

    from tally.store.usage import catchup

    usage.STATS.reset()
    monkeypatch.setattr(catchup, "save", lambda *args: None)  # the stream checkpoint (≤ 1 per 10 s)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    ok(api.post("/v1/billing/meter_events", event))  # (the harness runs the aggregator after it)
    monkeypatch.undo()
    # THEN the usage store read one item (the figure) in one request, besides the writes
    assert usage.STATS.items_read == 1
    # (issue 15: the event's Put; the aggregator's one transaction — hour, the hour's detail item
    # (counted at its 3-unit bound: a transaction returns no sizes), figure — then the
    # evaluation's read)
    assert usage.STATS.requests == 3
    assert usage.STATS.write_units == 1 + 2 * (1 + 3 + 1)
    # AND no trigger claim was read: the usage (below every threshold) is read before the claims
    assert "claim read" not in calls, calls
    # AND the request's lookups are one request (branch `lookups`), the evaluation ONE (figure,
    # subscriptions' periods and the customer's watch list in one BatchGetItem): no trigger claim
    # read (the usage, below every threshold, is read first), no subscriptions Query (issue 15
    # point 3, branch `alerts`). The request: lookups, the customer's test clock (its "now"), the
    # event's Put. Then the aggregator (branch `async`; its reads of the stream left out): the
    # buckets and the figure in one transaction, then the evaluation's own lookups (the meter by
    # event name, the customer), its one read, and the customer's test clock (its "now").
    table_calls = [c for c in calls if c not in {"GetShardIterator", "GetRecords", "DescribeStream"}]
    assert table_calls == [
        *("BatchGetItem", "GetItem", "PutItem"),
        *("TransactWriteItems", "Query", "GetItem", "BatchGetItem", "GetItem"),
    ], " ".join(table_calls)


def test_credits_switch_figures_on_for_a_meter_without_alerts_and_read_one_item(api):
    # GIVEN a meter without alerts, whose figures a credits use case switches on (SETTLE = 0 here)
    from tally.billing import usage_figures as figures_api
    from tally.clock import Clock
    from tally.domain.records import Meter
    from tally.store import meter_names, objects

    created = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "C", "event_name": "figcredits", "default_aggregation": {"formula": "sum"}},
        )
    )
    account = api.account.id
    meter = objects.get(account, created["id"], Meter, Clock.system())
    since = figures_api.keep(account, meter, Clock.system())
    assert figures_api.keep(account, meter, Clock.system()) == since  # sticky, written once
    cus = ok(api.post("/v1/customers", {"name": "Credits"}))["id"]
    start = Clock.system().now // DAY * DAY - DAY  # yesterday and today: a window around now
    # WHEN usage arrives through the ingest path
    for value in ("5", "7"):
        ok(
            api.post(
                "/v1/billing/meter_events",
                {"event_name": "figcredits", "payload": {"stripe_customer_id": cus, "value": value}},
            )
        )
    _, watch = meter_names.watched(account, "figcredits", Clock.system())
    clock = Clock.system()
    # THEN the figure answers the period's usage exactly, and once registered in one item
    assert figures_api.usage_in(account, meter, watch, cus, start, start + 2 * DAY, clock, clock.now) == 12
    usage.STATS.reset()
    assert figures_api.usage_in(account, meter, watch, cus, start, start + 2 * DAY, clock, clock.now) == 12
    assert (usage.STATS.requests, usage.STATS.items_read) == (1, 1)
    ok(
        api.post(
            "/v1/billing/meter_events",
            {"event_name": "figcredits", "payload": {"stripe_customer_id": cus, "value": "30"}},
        )
    )
    assert figures_api.usage_in(account, meter, watch, cus, start, start + 2 * DAY, clock, clock.now) == 42
