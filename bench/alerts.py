"""Stage 9 of `python -m bench`: what usage alerts add to ingestion.

For each case a fresh meter and a customer with a monthly metered subscription on it; the case's
alerts are created through the API; then single v1 events and v2 batches of 100 are sent through
the ingest handler and every DynamoDB request is counted (`harness.COUNTER`), with the wall time
and the handler thread's CPU per event. Cases: 0, 1 and 25 alerts on the meter (every customer,
never crossed: evaluated on every request), 25 on the customer itself, 25 already fired (only the
trigger claims are read), and 25 on a customer 29 days into its period with usage in every hour
(the largest usage window an unfired alert reads: one item per hour of the period so far).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.harness import COUNTER, expect_ok

HOUR = 3600
DAY = 86400
LATE_BASE = "0 alerts, day 29 (test clock)"
NEVER = 10**15  # a threshold no case reaches: the alert stays unfired and is evaluated each time


def _post(run: Any, path: str, form: dict[str, Any]) -> dict[str, Any]:
    return expect_ok(run.bench.call("POST", path, form=form), path)


def _subject(run: Any, tag: str, clock: str | None = None) -> tuple[dict[str, Any], str]:
    """A meter named after `tag` and a customer subscribed monthly to a metered price on it."""
    meter = _post(
        run,
        "/v1/billing/meters",
        {"display_name": tag, "event_name": f"{run.prefix}_{tag}", "default_aggregation": {"formula": "sum"}},
    )
    customer = _post(run, "/v1/customers", {"name": tag, **({"test_clock": clock} if clock else {})})["id"]
    price = _post(
        run,
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 1,
            "product_data": {"name": tag},
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
        },
    )
    _post(run, "/v1/subscriptions", {"customer": customer, "items": [{"price": price["id"]}]})
    return meter, customer


def _alerts(run: Any, meter: str, count: int, gte: int, customer: str | None = None) -> None:
    """`count` alerts at `gte`, one_time and per_period in turn."""
    for i in range(count):
        rule: dict[str, Any] = {
            "meter": meter,
            "gte": gte,
            "recurrence": "one_time" if i % 2 else "per_period",
        }
        if customer:
            rule["filters"] = [{"type": "customer", "customer": customer}]
        _post(
            run,
            "/v1/billing/alerts",
            {"alert_type": "usage_threshold", "title": f"a{i}", "usage_threshold": rule},
        )


def _measure(run: Any, meter: dict[str, Any], customer: str, *, on_clock: bool = False) -> dict[str, Any]:
    """Singles and batches of 100 for `customer`, stamped two minutes ahead (after the alerts'
    creation: usage counts from the next whole minute), or at its test clock's time `on_clock`."""
    from tally.store import usage

    ts = None if on_clock else (int(time.time()) // 60 + 2) * 60

    def single() -> dict[str, Any]:
        form: dict[str, Any] = {
            "event_name": meter["event_name"],
            "identifier": run.ident("al"),
            "payload": {"stripe_customer_id": customer, "value": "1"},
        }
        if ts is not None:
            form["timestamp"] = ts
        return form

    def batch() -> dict[str, Any]:
        events = []
        for _ in range(100):
            e: dict[str, Any] = {
                "event_name": meter["event_name"],
                "identifier": run.ident("al"),
                "payload": {"stripe_customer_id": customer, "value": "1"},
            }
            if ts is not None:
                e["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
            events.append(e)
        return {"events": events}

    from bench.stages import _send

    out: dict[str, Any] = {}
    plans = (
        (
            "single",
            [run.prepared("POST", "/v1/billing/meter_events", form=single()) for _ in range(run.n(40, 8))],
            1,
        ),
        (
            "batched",
            [
                run.prepared("POST", "/v2/billing/meter_event_stream", json_body=batch())
                for _ in range(run.n(6, 2))
            ],
            100,
        ),
    )
    _send(plans[0][1].pop())  # warm-up: caches, the first bucket items
    for label, calls, per_call in plans:
        requests, items, wall, cpu = [], [], [], []
        ops: dict[str, int] = {}
        for call in calls:
            COUNTER.reset()
            usage.STATS.reset()
            t0, c0 = time.perf_counter(), time.thread_time()
            reply = _send(call)
            wall.append((time.perf_counter() - t0) * 1000 / per_call)
            cpu.append((time.thread_time() - c0) * 1000 / per_call)
            body = expect_ok(reply, label)
            if per_call > 1 and body.get("errors"):
                raise RuntimeError(f"batch rejected events: {body['errors'][:2]}")
            requests.append(sum(COUNTER.ops.values()) / per_call)
            items.append(usage.STATS.items_read / per_call)
            ops = COUNTER.snapshot()
        out[label] = {
            "requests": len(calls),
            "dynamodb_requests_per_event": round(statistics.mean(requests), 3),
            "usage_items_read_per_event": round(statistics.mean(items), 3),
            "wall_ms_per_event_median": round(statistics.median(wall), 3),
            "thread_cpu_ms_per_event": round(statistics.mean(cpu), 3),
            "calls_of_one_request": ops,
        }
    return out


def alert_costs(run: Any) -> dict[str, Any]:
    now = int(time.time())
    cases: dict[str, Any] = {}

    meter, cus = _subject(run, "alerts0")
    cases["0 alerts"] = _measure(run, meter, cus)

    meter, cus = _subject(run, "alerts1")
    _alerts(run, meter["id"], 1, NEVER)
    cases["1 alert (every customer)"] = _measure(run, meter, cus)

    meter, cus = _subject(run, "alerts25")
    _alerts(run, meter["id"], 25, NEVER)
    cases["25 alerts (every customer)"] = _measure(run, meter, cus)

    meter, cus = _subject(run, "alerts25c")
    _alerts(run, meter["id"], 25, NEVER, customer=cus)
    cases["25 alerts (this customer)"] = _measure(run, meter, cus)

    meter, cus = _subject(run, "alerts25f")
    _alerts(run, meter["id"], 25, 1)
    cases["25 alerts, all fired"] = _measure(run, meter, cus)

    # 29 days into the period, usage in every hour so far: the widest window an unfired alert reads.
    start = (now - 29 * DAY) // HOUR * HOUR
    clock = _post(run, "/v1/test_helpers/test_clocks", {"frozen_time": start})["id"]
    meter, cus = _subject(run, "alerts25late", clock=clock)
    _alerts(run, meter["id"], 25, NEVER, customer=cus)
    late = start + 29 * DAY
    _post(run, f"/v1/test_helpers/test_clocks/{clock}/advance", {"frozen_time": late})
    hours = _fill_hours(run, meter["id"], cus, start, late)
    cases["25 alerts (this customer), day 29 of the period"] = _measure(run, meter, cus, on_clock=True)

    # The same, once the meter's running figures are read (issue 15 point 3: in production from
    # 2 minutes after its first alert, `billing.usage_figures.SETTLE`; the bench does not wait).
    from tally.billing import usage_figures

    settle, usage_figures.SETTLE = usage_figures.SETTLE, 0
    try:
        # The baseline of the test-clock cases: a test clock's customer costs one more read (its
        # clock) with or without alerts.
        clock = _post(run, "/v1/test_helpers/test_clocks", {"frozen_time": start})["id"]
        meter, cus = _subject(run, "alerts0late", clock=clock)
        _post(run, f"/v1/test_helpers/test_clocks/{clock}/advance", {"frozen_time": late})
        _fill_hours(run, meter["id"], cus, start, late, tag="alerts0late")
        cases[LATE_BASE] = _measure(run, meter, cus, on_clock=True)
        clock = _post(run, "/v1/test_helpers/test_clocks", {"frozen_time": start})["id"]
        meter, cus = _subject(run, "alerts25fig", clock=clock)
        _alerts(run, meter["id"], 25, NEVER, customer=cus)
        _post(run, f"/v1/test_helpers/test_clocks/{clock}/advance", {"frozen_time": late})
        _fill_hours(run, meter["id"], cus, start, late, tag="alerts25fig")
        cases["25 alerts (this customer), day 29, running figure read"] = _measure(
            run, meter, cus, on_clock=True
        )
        meter, cus = _subject(run, "alerts25wfig")
        _alerts(run, meter["id"], 25, NEVER)
        cases["25 alerts (every customer), running figure read"] = _measure(run, meter, cus)
    finally:
        usage_figures.SETTLE = settle
    out = {"cases": cases, "late_case_hours_with_usage": hours}
    base = cases["0 alerts"]
    late_base = cases[LATE_BASE]
    out["added_requests_per_single_event"] = {
        k: round(
            v["single"]["dynamodb_requests_per_event"]
            - (late_base if "day 29" in k else base)["single"]["dynamodb_requests_per_event"],
            3,
        )
        for k, v in cases.items()
    }
    return out


def _fill_hours(
    run: Any, meter_id: str, customer: str, start: int, end: int, tag: str = "alerts25late"
) -> int:
    """One event in every hour of [start, end), written by the usage store directly (fast), with
    the running figures as the ingest path keeps them on a meter with alerts."""
    from tally.domain.aggregation import Formula
    from tally.domain.records import MeterEvent
    from tally.store import usage

    events = [
        MeterEvent(
            f"{run.prefix}-fill-{tag}-{h}",
            f"{run.prefix}_{tag}",
            meter_id,
            customer,
            1,
            h,
            {},
            int(time.time()),
        )
        for h in range(start, end, HOUR)
    ]
    outcome = usage.record(run.bench.account, Formula.SUM, 1, events, int(time.time()), figures=True)
    assert len(outcome.stored) == len(events)
    return len(events)
