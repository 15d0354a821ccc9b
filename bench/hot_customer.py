"""Stage: one hot customer at 5,000 events/s, the paper model checked by a local simulation.

Paper model (docs/PERFORMANCE.md, "A hot customer"): a DynamoDB partition takes at most 1,000 write
units and 3,000 read units per second, and one partition key lives on one partition. The event
items (one per identifier) spread over many keys; what concentrates is the customer's usage
buckets, one partition key per (meter, customer, shard). So the shards a meter needs are

    shards = ceil(rate × hot WRU per event / 1,000)

where "hot WRU per event" is the write units that land on the customer's busiest bucket key per
event, with all events in one shard. Since issue 15 the buckets are written by the usage
aggregator from the stream, in batches of up to 1,000 records (at 5,000 events/s a batch is
full): the simulation runs the aggregator once per 1,000 events and shares its load among them.
The simulation measures it instead of assuming it: it sends
v2 batches of 100 events for one customer through the real ingest handler (moto behind it),
attributes every write unit of every DynamoDB request to its partition key (items sized as the
bench sizes them, an update by the item as it stands afterwards: DynamoDB charges the larger), then
creates a meter with the model's shard count, sends the same load, and checks that no key would
exceed a partition's limits at 5,000 events/s. Time is not simulated: the per-key load is per
event, so it scales linearly with the rate (the rate is one customer's; other customers have
their own keys).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from bench.harness import expect_ok, inserted_items, item_bytes, value_bytes

RATE = 5000  # events per second, one customer
PARTITION_WCU = 1000  # DynamoDB's per-partition write limit (units per second)
PARTITION_RCU = 3000  # and read limit
BATCH = 100
AGGREGATION_BATCH = 1000  # records per UsageAggregatorFunction invocation (template.yaml BatchSize)


@contextlib.contextmanager
def _per_key(usage_table: str) -> Iterator[dict[str, Counter]]:
    """Count, per partition key of the usage table, write and read requests' keys while inside."""
    import botocore.client

    seen: dict[str, Counter] = {"writes": Counter(), "reads": Counter(), "updates": Counter()}
    original = botocore.client.BaseClient._make_api_call

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb" and threading.current_thread().name != "moto":
            _record(seen, usage_table, operation, params)
        return original(client, operation, params)

    botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def _record(seen: dict[str, Counter], table: str, operation: str, params: dict[str, Any]) -> None:
    actions: list[tuple[str, dict[str, Any], int]] = []  # (kind, body, multiplier)
    if operation == "TransactWriteItems":
        for action in params.get("TransactItems", []):
            ((kind, body),) = action.items()
            actions.append((kind, body, 2))
    elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
        actions.append((operation.removesuffix("Item").capitalize(), params, 1))
    elif operation == "BatchWriteItem":
        for request in params.get("RequestItems", {}).get(table, []):
            if "PutRequest" in request:
                actions.append(("Put", {"TableName": table, **request["PutRequest"]}, 1))
    elif operation == "BatchExecuteStatement":
        for name, item in inserted_items(params):
            actions.append(("Put", {"TableName": name, "Item": item}, 1))
    elif operation in ("GetItem", "Query") and params.get("TableName") == table:
        key = params.get("Key", {}).get("pk", {}).get("S") or _query_pk(params)
        if key:
            seen["reads"][key] += 1 if params.get("ConsistentRead") else 0.5  # per ≤ 4 KB read
    for kind, body, times in actions:
        if body.get("TableName") != table:
            continue
        if kind == "Put":
            item = body.get("Item", {})
            seen["writes"][item["pk"]["S"]] += times * max(1, -(-item_bytes(item) // 1024))
        elif kind == "Update":
            # sized afterwards from the stored item (see `_settle`); here: the key and the multiplier
            seen["updates"][(body["Key"]["pk"]["S"], body["Key"]["sk"]["S"], times)] += 1
        else:
            seen["writes"][body.get("Key", {}).get("pk", {}).get("S", "?")] += times


def _query_pk(params: dict[str, Any]) -> str | None:
    values = params.get("ExpressionAttributeValues", {})
    for value in values.values():
        text = value.get("S", "")
        if "#usage#" in text:
            return str(text)
    return None


def _settle(seen: dict[str, Counter], table: str) -> Counter:
    """Write units per partition key: puts as counted, updates at the stored item's size now."""
    from tally.store.aws import dynamodb

    client = dynamodb()
    units = Counter(seen["writes"])
    sizes: dict[tuple[str, str], int] = {}
    for (pk, sk, times), count in seen["updates"].items():
        if (pk, sk) not in sizes:
            item = client.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item", {})
            sizes[(pk, sk)] = item_bytes(item) if item else value_bytes({"S": pk}) + value_bytes({"S": sk})
        units[pk] += count * times * max(1, -(-sizes[(pk, sk)] // 1024))
    return units


def _load(run: Any, shards: int, batches: int, now: int, *, size: int = BATCH) -> dict[str, Any]:
    """A meter with `shards`, one customer, `batches` requests of `size` of its events (one hour;
    v2 batches, or v1 single events when `size` is 1); the write units each request put on each
    partition key."""
    from tally.settings import settings
    from tally.store.usage import catchup

    catchup.catch_up()  # earlier stages' records: not this load's
    b = run.bench
    name = run.ident(f"hot_{shards}").replace("-", "_")
    meter = expect_ok(
        b.call(
            "POST",
            "/v1/billing/meters",
            form={
                "display_name": f"Hot {shards}",
                "event_name": name,
                "default_aggregation": {"formula": "sum"},
                "write_shards": shards,
            },
        ),
        "create hot meter",
    )
    customer = expect_ok(b.call("POST", "/v1/customers", form={"name": f"Hot {shards}"}), "hot customer")[
        "id"
    ]
    hour = now - now % 3600
    table = settings().usage_table
    per_batch: list[Counter] = []
    reads: Counter = Counter()
    for n in range(batches):
        events = [
            {
                "event_name": name,
                "identifier": run.ident(f"hot{shards}"),
                "timestamp": hour + (n * size + i) % max(1, now - hour + 1),
                "payload": {"stripe_customer_id": customer, "value": "1"},
            }
            for i in range(size)
        ]
        with _per_key(table) as seen:
            if size == 1:
                expect_ok(b.call("POST", "/v1/billing/meter_events", form=events[0]), "hot event")
            else:
                for e in events:
                    e["timestamp"] = _rfc3339(int(e["timestamp"]))
                body = expect_ok(
                    b.call("POST", "/v2/billing/meter_event_stream", json_body={"events": events}),
                    "hot batch",
                )
                if body.get("accepted", size) != size:
                    raise RuntimeError(f"hot batch: {body}")
        per_batch.append(_settle(seen, table))
        reads.update({pk: r for pk, r in seen["reads"].items() if "#usage#" in pk})
        if (n + 1) % (AGGREGATION_BATCH // size) == 0 or n + 1 == batches:
            # the usage aggregator's run over the window's records (issue 15: the buckets are
            # written there, not by the request): its load, shared by the window's requests
            window = (n % (AGGREGATION_BATCH // size)) + 1
            with _per_key(table) as seen:
                catchup.catch_up()
            aggregated = _settle(seen, table)
            for units in per_batch[-window:]:
                units.update({pk: u / window for pk, u in aggregated.items()})
    events_sent = batches * size
    total: Counter = Counter()
    for units in per_batch:
        total.update(units)
    buckets = {pk: u for pk, u in total.items() if "#usage#" in pk}
    return {
        "meter": meter["id"],
        "write_shards": meter.get("write_shards", shards),
        "events": events_sent,
        "bucket_keys_written": len(buckets),
        # what one batch of 100 put on the bucket keys it touched (the hot load, per batch)
        "bucket_wru_per_batch": [sum(u for pk, u in c.items() if "#usage#" in pk) for c in per_batch],
        "keys_per_batch": [sum(1 for pk in c if "#usage#" in pk) for c in per_batch],
        "hot_wru_per_event": round(max(buckets.values(), default=0) / events_sent, 4),
        "max_other_key_wru_per_batch": max(
            (u for c in per_batch for pk, u in c.items() if "#usage#" not in pk), default=0
        ),
        "hot_rru_per_event": round(max(reads.values(), default=0) / events_sent, 4),
    }


def simulate(
    per_batch_wru: list[int], shards: int, size: int = BATCH, seconds: int = 60, seed: int = 15
) -> dict[str, Any]:
    """RATE events/s as requests of `size` for `seconds`: each request's measured bucket load (drawn
    from the measured requests) goes to the shard its first event's identifier hashes to, as
    `tally.store.usage.write.bucket_of` assigns it (crc32 of its identifier % shards); returns the
    busiest key-second."""
    import random
    import zlib

    rng = random.Random(seed)
    worst = 0.0
    for _ in range(seconds):
        load = [0] * shards
        for _ in range(RATE // size):
            identifier = f"evt_{rng.getrandbits(64):016x}"
            load[zlib.crc32(identifier.encode()) % shards] += rng.choice(per_batch_wru)
        worst = max(worst, max(load))
    return {"shards": shards, "seconds": seconds, "max_wcu_per_key_second": worst}


def _rfc3339(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _case(run: Any, size: int, requests: int, now: int) -> dict[str, Any]:
    from tally.billing.meters import MAX_SHARDS

    one = _load(run, 1, requests, now, size=size)
    paper = max(1, math.ceil(RATE * one["hot_wru_per_event"] / PARTITION_WCU))
    sharded = _load(run, min(paper, MAX_SHARDS), requests, now, size=size)
    loads = sharded["bucket_wru_per_batch"] or [0]
    runs = [simulate(loads, min(paper, MAX_SHARDS), size)]
    while runs[-1]["max_wcu_per_key_second"] > PARTITION_WCU and runs[-1]["shards"] < MAX_SHARDS:
        runs.append(simulate(loads, runs[-1]["shards"] + 1, size))
    return {
        "one_shard": one,
        "shards_needed_paper": paper,
        "paper_wcu_per_s_per_key": round(RATE * one["hot_wru_per_event"] / paper, 1),
        "sharded": sharded,
        "simulated": runs,
        "shards_needed_simulated": runs[-1]["shards"],
        "hot_rcu_per_s": round(RATE * one["hot_rru_per_event"], 1),
        "fits": runs[-1]["max_wcu_per_key_second"] <= PARTITION_WCU
        and RATE * one["hot_rru_per_event"] <= PARTITION_RCU,
    }


def hot_customer(run: Any) -> dict[str, Any]:
    """For v2 batches of 100 and v1 single events: the paper model's shard count from a one-shard
    run, a run at that count, and the simulated per-second load on the busiest key at RATE (shards
    raised one by one until the busiest key-second fits a partition)."""
    import time

    from tally.billing.meters import MAX_SHARDS

    now = int(time.time())
    return {
        "rate_events_per_s": RATE,
        "partition_wcu_limit": PARTITION_WCU,
        "partition_rcu_limit": PARTITION_RCU,
        "max_shards": MAX_SHARDS,
        "v2 batches of 100": _case(run, BATCH, run.n(10, 3), now),
        "v1 single events": _case(run, 1, run.n(100, 20), now),
    }
