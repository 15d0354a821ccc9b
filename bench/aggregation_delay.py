"""Stage 2's aggregation delay (issue 15): how long after an ingest request is answered its
events are in their hour bucket, with the usage aggregator run as `make run` runs it — the
usage table's stream polled by `tally_local.streams.StreamPoller` (woken by moto's bell) and
handed to UsageAggregatorFunction in-process. Readers never wait for it (they catch the stream
up themselves); alerts and credit watches do.

Measured per request: v1 single events and v2 batches of 100 (4 customers, random seconds of the
hour; new customers every 10 requests, so each (customer, hour) stays within its detail item, as in
stage 2's cases), one at a time, each waited for by reading its hour items' `n` (a raw GetItem
every 5 ms, no catch-up) until it grew by the request's events; and v2 batches for customers whose
hour already holds 350 seconds of usage (their detail items froze: per-minute items again).
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from bench.harness import expect_ok

HOUR = 3600


def _count(pks: list[str], hour: int) -> int:
    from tally.settings import settings
    from tally.store.aws import dynamodb
    from tally.store.usage.keys import UsageKeys

    total = 0
    for pk in pks:
        item = (
            dynamodb()
            .get_item(
                TableName=settings().usage_table,
                Key={"pk": {"S": pk}, "sk": {"S": UsageKeys.hour(hour)}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        total += int(item["n"]["N"]) if item else 0
    return total


def measure(run: Any, send: Any, requests: int) -> dict[str, Any]:
    from tally.settings import settings
    from tally.store.aws import dynamodb
    from tally.store.usage import catchup
    from tally.store.usage.keys import UsageKeys
    from tally_local import streams

    bench = run.bench
    catchup.catch_up()
    (trigger,) = bench.template.functions["UsageAggregatorFunction"].streams
    stop = threading.Event()
    poller = streams.StreamPoller(
        "UsageAggregatorFunction",
        bench.handler("UsageAggregatorFunction"),
        trigger,
        settings().usage_table,
        dynamodb(),
        streams.streams_client(),
        stop=stop,
        latest=True,
    )
    poller.start()
    now = int(time.time())
    hour = now - now % HOUR
    account = bench.account
    meter = run.meter["id"]
    delays: dict[str, list[float]] = {
        "v1 single": [],
        "v2 batch of 100": [],
        "v2 batch of 100, past the detail items' 300 seconds": [],
    }
    customers = run.customers[:4]
    try:
        for kind in delays:
            for i in range(requests):
                if kind == "v2 batch of 100" and i % 10 == 0:
                    # ≤ 250 events per (customer, hour), at random seconds: within its detail item
                    customers = run.fresh_customers(4, f"delay {i}")
                elif kind.startswith("v2 batch of 100, past") and i == 0:
                    customers = run.fresh_customers(4, "delay past")
                    for _ in range(14):  # 350 seconds per customer: its detail item froze
                        send(
                            run.prepared(
                                "POST",
                                "/v2/billing/meter_event_stream",
                                json_body=run.v2_batch(customers, [hour], now),
                            )
                        )
                    catchup.catch_up()
                pks = [UsageKeys.bucket(account, meter, c, 0) for c in customers]
                before = _count(pks, hour)
                if kind == "v1 single":
                    call = run.prepared(
                        "POST", "/v1/billing/meter_events", form=run.v1_form(customers[i % 4], now)
                    )
                    expect_ok(send(call), "v1 meter event")
                    want = before + 1
                else:
                    call = run.prepared(
                        "POST",
                        "/v2/billing/meter_event_stream",
                        json_body=run.v2_batch(customers, [hour], now),
                    )
                    send(call)
                    want = before + 100
                t0 = time.perf_counter()
                while _count(pks, hour) < want:
                    if time.perf_counter() - t0 > 30:
                        raise AssertionError(f"{kind}: not aggregated after 30 s")
                    time.sleep(0.005)
                delays[kind].append(time.perf_counter() - t0)
    finally:
        stop.set()
        poller.join(timeout=5)
    out: dict[str, Any] = {}
    for kind, got in delays.items():
        got.sort()
        out[kind] = {
            "requests": len(got),
            "p50_s": round(statistics.median(got), 3),
            "p99_s": round(got[min(len(got) - 1, int(0.99 * len(got)))], 3),
            "max_s": round(got[-1], 3),
        }
    return out
