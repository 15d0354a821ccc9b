"""The six stages of `python -m bench`. Each returns a plain dict that goes into latest.json."""

from __future__ import annotations

import calendar
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bench.harness import COUNTER, Bench, Reply, expect_ok, invoke, item_bytes
from tally_local import moto_patch

WRU_PRICE_PER_MILLION = 0.625  # USD, on-demand write request units (us-east-1 list price)
RRU_PRICE_PER_MILLION = 0.125  # USD, on-demand read request units (us-east-1 list price)
HOUR = 3600
DAY = 86400
EVENT_NAME = "bench_api_calls"
INGEST_CUSTOMERS = 8
PREVIEW_ROUTES = ("POST /v1/invoices/create_preview", "POST /v1/subscriptions", "POST /v1/prices")

Say = Callable[[str], None]


def rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Run:
    """State shared by the stages: the stack, the meter, the customers, a unique id prefix."""

    def __init__(self, bench: Bench, say: Say, *, scale: float = 1.0) -> None:
        self.bench = bench
        self.say = say
        self.scale = scale
        self.prefix = f"b{int(time.time())}"
        self.rng = random.Random(20261123)
        self.meter: dict[str, Any] = {}
        self.customers: list[str] = []
        self.read_customers: dict[str, str] = {}
        self.seq = 0

    def n(self, full: int, minimum: int = 1) -> int:
        return max(minimum, int(full * self.scale))

    def fresh_customers(self, count: int, tag: str) -> list[str]:
        """`count` new customers: a case that starts from empty buckets (no earlier case's usage in
        the same hour, which would make its items bigger or spill them)."""
        return [
            expect_ok(
                self.bench.call("POST", "/v1/customers", form={"name": f"{tag} {i}"}), "create customer"
            )["id"]
            for i in range(count)
        ]

    def ident(self, tag: str) -> str:
        self.seq += 1
        return f"{self.prefix}-{tag}-{self.seq}"

    # -- request builders (events are built before any timed loop) ------------------------------
    def v1_form(self, customer: str, ts: int) -> dict[str, Any]:
        return {
            "event_name": EVENT_NAME,
            "identifier": self.ident("v1"),
            "timestamp": ts,
            "payload": {"stripe_customer_id": customer, "value": self.rng.randint(1, 500)},
        }

    def v2_batch(self, customers: list[str], hours: list[int], now: int) -> dict[str, Any]:
        """100 events, customers round-robin; each event in one of `hours` (hour starts)."""
        events = []
        for i in range(100):
            hour = hours[i % len(hours)] if len(hours) > 1 else hours[0]
            latest = min(hour + HOUR - 1, now)
            events.append(
                {
                    "event_name": EVENT_NAME,
                    "identifier": self.ident("v2"),
                    "timestamp": rfc3339(self.rng.randint(hour, latest)),
                    "payload": {
                        "stripe_customer_id": customers[(i // len(hours)) % len(customers)],
                        "value": str(self.rng.randint(1, 500)),
                    },
                }
            )
        return {"events": events}

    def prepared(self, method: str, path: str, **body: Any) -> tuple[Callable, dict[str, Any], str]:
        return self.bench.event(method, path, **body)


def _send(call: tuple[Callable, dict[str, Any], str]) -> Reply:
    from tally_local.gateway import LambdaContext

    handler, event, function = call
    return invoke(handler, event, LambdaContext(function))


def _send_cold(call: tuple[Callable, dict[str, Any], str]) -> Reply:
    """`_send` as a process that keeps nothing it read (`store.recent`): each request reads its
    key, meter and customers, so the reads the cost model prices are an upper bound (a warm
    Lambda re-reads an item at most once per TALLY_INGEST_CACHE_SECONDS)."""
    from tally.store import recent

    recent.clear()
    return _send(call)


def _check_batch(reply: Reply, expected: int) -> None:
    body = expect_ok(reply, "meter_event_stream")
    if body.get("accepted") != expected or body.get("errors"):
        raise RuntimeError(f"meter_event_stream accepted {body.get('accepted')}/{expected}: {body}")


# -- stage 1 ------------------------------------------------------------------------------------------
def setup(run: Run) -> dict[str, Any]:
    b = run.bench
    meter = expect_ok(
        b.call(
            "POST",
            "/v1/billing/meters",
            form={
                "display_name": "Bench API calls",
                "event_name": EVENT_NAME,
                "default_aggregation": {"formula": "sum"},
            },
        ),
        "create meter",
    )
    run.meter = meter
    for i in range(INGEST_CUSTOMERS):
        cus = expect_ok(
            b.call("POST", "/v1/customers", form={"name": f"Ingest {i}", "email": f"ingest{i}@example.test"}),
            "create customer",
        )
        run.customers.append(cus["id"])
    for label in ("1k", "100k"):
        cus = expect_ok(
            b.call(
                "POST", "/v1/customers", form={"name": f"Reads {label}", "email": f"r{label}@example.test"}
            ),
            "create customer",
        )
        run.read_customers[label] = cus["id"]
    return {
        "moto": b.moto.url,
        "account": b.account,
        "meter": meter["id"],
        "formula": meter["default_aggregation"]["formula"],
        "write_shards": meter.get("write_shards", 1),
        "customers": len(run.customers) + len(run.read_customers),
    }


# -- stage 2 ------------------------------------------------------------------------------------------
def _per_event(label: str, events: int, requests_sent: int) -> dict[str, Any]:
    from tally.store import usage

    wru = usage.STATS.write_units / events
    reads = COUNTER.consistent_gets + 0.5 * COUNTER.eventual_gets
    return {
        "case": label,
        "events": events,
        "http_requests": requests_sent,
        "wru_total": usage.STATS.write_units,
        "wru_per_event": round(wru, 4),
        "usd_per_million_events": round(wru * WRU_PRICE_PER_MILLION, 4),
        "usage_transactions": usage.STATS.requests,
        "transactions_per_request": round(usage.STATS.requests / requests_sent, 2),
        "dynamodb_calls": COUNTER.snapshot(),
        "writes_outside_usage_table": COUNTER.writes_outside_usage,
        "other_wru_per_event": round(COUNTER.other_wru / events, 4),
        "total_wru_per_event": round((usage.STATS.write_units + COUNTER.other_wru) / events, 4),
        "usd_per_million_events_total": round(
            (usage.STATS.write_units + COUNTER.other_wru) / events * WRU_PRICE_PER_MILLION, 4
        ),
        "objects_reads_rru_per_request": round(reads / requests_sent, 3),
        "objects_reads_usd_per_million_events": round(reads / events * RRU_PRICE_PER_MILLION, 4),
    }


def _aggregate() -> None:
    """The usage aggregator's run after a request (issue 15): its write units are counted in
    `usage.STATS` with the events' (as the aggregator function does on AWS, in-process here)."""
    from tally.store.usage import catchup

    catchup.catch_up()


def write_units(run: Run) -> dict[str, Any]:
    from tally.store import usage

    now = int(time.time())
    hour = now - now % HOUR
    warm = run.prepared("POST", "/v1/billing/meter_events", form=run.v1_form(run.customers[0], now))
    expect_ok(_send(warm), "warm-up event")  # auth cache filled, as in a warm Lambda

    cases = []
    n_single = run.n(100, 10)
    calls = [
        run.prepared("POST", "/v1/billing/meter_events", form=run.v1_form(run.customers[i % 4], now - i))
        for i in range(n_single)
    ]
    _aggregate()
    usage.STATS.reset()
    COUNTER.reset()
    for call in calls:
        expect_ok(_send_cold(call), "v1 meter event")
        _aggregate()  # an aggregation batch per request: the worst case
    cases.append(_per_event("v1 single event", n_single, n_single))

    n_batches = run.n(10, 2)
    # Each v2 case has 4 customers of its own: it starts from empty hour and detail items.
    shapes = [
        ("v2 batch of 100: 4 customers, same hour", run.fresh_customers(4, "same hour"), [hour]),
        (
            "v2 batch of 100: 4 customers, spread over 6 h",
            run.fresh_customers(4, "six hours"),
            [hour - k * HOUR for k in range(6)],
        ),
    ]
    for label, customers, hours in shapes:
        calls = [
            run.prepared(
                "POST", "/v2/billing/meter_event_stream", json_body=run.v2_batch(customers, hours, now)
            )
            for _ in range(n_batches)
        ]
        _aggregate()
        usage.STATS.reset()
        COUNTER.reset()
        for call in calls:
            _check_batch(_send_cold(call), 100)
            _aggregate()
        cases.append(_per_event(label, 100 * n_batches, n_batches))
    # The same-hour shape again, aggregated once after all its requests: what the aggregator's
    # batching window (template.yaml, UsageAggregatorFunction: 1 s, ≤ 1,000 records) gives when
    # that many events arrive within it.
    once = run.fresh_customers(4, "aggregated once")
    calls = [
        run.prepared("POST", "/v2/billing/meter_event_stream", json_body=run.v2_batch(once, [hour], now))
        for _ in range(n_batches)
    ]
    _aggregate()
    usage.STATS.reset()
    COUNTER.reset()
    for call in calls:
        _check_batch(_send_cold(call), 100)
    _aggregate()
    cases.append(
        _per_event(
            f"v2 batch of 100: 4 customers, same hour, one aggregation per {n_batches} requests",
            100 * n_batches,
            n_batches,
        )
    )
    keyed_customers = run.fresh_customers(4, "keyed")
    # The same shapes with an Idempotency-Key, as the Stripe SDKs send on every POST: Powertools
    # idempotency writes one record per request (PutItem, then UpdateItem with the result).
    keyed = [
        (
            "v1 single event + Idempotency-Key",
            [
                run.prepared(
                    "POST",
                    "/v1/billing/meter_events",
                    form=run.v1_form(run.customers[i % 4], now - i),
                    idempotency_key=run.ident("idem"),
                )
                for i in range(n_single)
            ],
            1,
        ),
        (
            "v2 batch of 100 (4 customers, same hour) + Idempotency-Key",
            [
                run.prepared(
                    "POST",
                    "/v2/billing/meter_event_stream",
                    json_body=run.v2_batch(keyed_customers, [hour], now),
                    idempotency_key=run.ident("idem"),
                )
                for _ in range(n_batches)
            ],
            100,
        ),
    ]
    for label, calls, per_call in keyed:
        _aggregate()
        usage.STATS.reset()
        COUNTER.reset()
        for call in calls:
            reply = _send_cold(call)
            _aggregate()
            if per_call == 1:
                expect_ok(reply, "v1 meter event")
            else:
                _check_batch(reply, 100)
        cases.append(_per_event(label, per_call * len(calls), len(calls)))
    from bench import aggregation_delay

    return {
        "cases": cases,
        "aggregation_delay": aggregation_delay.measure(run, _send, run.n(50, 20)),
        "idempotency": "the first three cases send no Idempotency-Key, so no idempotency record is written; "
        "the last two send one (as Stripe's SDKs do) and count its PutItem + UpdateItem (modelled WRU)",
    }


# -- stage 3 ------------------------------------------------------------------------------------------
def _bare_item(account: str, i: int, meter: str, customer: str, now: int) -> dict[str, Any]:
    """An item shaped and sized like the stored meter event (see tally.store.usage.actions.event_put)."""
    ident = f"bare-{i:06d}-0a1b2c3d4e5f"
    return {
        "pk": {"S": f"{account}#mev#{ident}"},
        "sk": {"S": "e"},
        "meter": {"S": meter},
        "customer": {"S": customer},
        "event_name": {"S": EVENT_NAME},
        "value": {"N": "123"},
        "ts": {"N": str(now)},
        "created": {"N": str(now)},
        "expires": {"N": str(now + 35 * DAY)},
        "bucket": {"S": f"{account}#usage#{meter}#{customer}#0"},
        "payload": {"S": f'{{"stripe_customer_id":"{customer}","value":"123"}}'},
    }


def _timed(loop: Callable[[], None]) -> float:
    start = time.perf_counter()
    loop()
    return time.perf_counter() - start


def throughput(run: Run) -> dict[str, Any]:
    from tally.settings import settings
    from tally.store.aws import dynamodb

    b = run.bench
    now = int(time.time())
    hour = now - now % HOUR
    n_single = run.n(300, 100)  # ≥ 100: a small sample is mostly the warm-up reads
    n_batches = run.n(20, 2)

    def v1_calls() -> list[Any]:
        return [
            run.prepared(
                "POST",
                "/v1/billing/meter_events",
                form=run.v1_form(run.customers[i % INGEST_CUSTOMERS], now - i % 600),
            )
            for i in range(n_single)
        ]

    singles = v1_calls()
    batches = [
        run.prepared(
            "POST", "/v2/billing/meter_event_stream", json_body=run.v2_batch(run.customers[:4], [hour], now)
        )
        for _ in range(n_batches)
    ]

    uncached = v1_calls()  # as many more, sent with TALLY_INGEST_CACHE_SECONDS=0

    def send_singles(calls: list[Any] = singles) -> None:
        for call in calls:
            expect_ok(_send(call), "v1 meter event")

    def send_batches() -> None:
        for call in batches:
            _check_batch(_send(call), 100)

    client = dynamodb()
    table = settings().usage_table
    offset = [0]

    def bare_puts(count: int) -> Callable[[], None]:
        items = [
            _bare_item(b.account, offset[0] + i, run.meter["id"], run.customers[0], now) for i in range(count)
        ]
        offset[0] += count

        def loop() -> None:
            for item in items:
                client.put_item(TableName=table, Item=item)

        return loop

    def bare_transactions(count: int) -> Callable[[], None]:
        txs = []
        for _ in range(count):
            txs.append(
                [
                    {
                        "Put": {
                            "TableName": table,
                            "Item": _bare_item(
                                b.account, offset[0] + i, run.meter["id"], run.customers[0], now
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                    for i in range(100)
                ]
            )
            offset[0] += 100

        def loop() -> None:
            for actions in txs:
                client.transact_write_items(TransactItems=actions)

        return loop

    stock = _stock_sample(run, send_count=run.n(10, 5), batches=1) if moto_patch.installed() else None
    t_single = _timed(send_singles)
    t_bare_single = _timed(bare_puts(n_single))
    t_batched = _timed(send_batches)
    t_bare_batched = _timed(bare_puts(100 * n_batches))
    t_bare_tx = _timed(bare_transactions(n_batches))
    kept_for = settings().ingest_cache_seconds
    with _ingest_cache_off():  # the same singles as a process that keeps nothing (docs/API.md)
        t_uncached = _timed(lambda: send_singles(uncached))
    ours_single = n_single / t_single
    ours_batched = 100 * n_batches / t_batched
    bare_single = n_single / t_bare_single
    bare_batched = 100 * n_batches / t_bare_batched
    bare_tx = 100 * n_batches / t_bare_tx
    return {
        "single": {
            "events": n_single,
            "seconds": round(t_single, 3),
            "events_per_s": round(ours_single, 1),
            "bare_put_item_per_s": round(bare_single, 1),
            "ratio_ours_over_bare": round(ours_single / bare_single, 3),
            "ingest_cache_seconds": kept_for,
            "uncached_events_per_s": round(n_single / t_uncached, 1),
            "uncached_ratio_ours_over_bare": round(n_single / t_uncached / bare_single, 3),
        },
        "batched": {
            "events": 100 * n_batches,
            "batches": n_batches,
            "seconds": round(t_batched, 3),
            "events_per_s": round(ours_batched, 1),
            "bare_put_item_per_s": round(bare_batched, 1),
            "ratio_ours_over_bare": round(ours_batched / bare_batched, 3),
            "bare_transact_100_puts_items_per_s": round(bare_tx, 1),
            "ratio_ours_over_bare_transact": round(ours_batched / bare_tx, 3),
        },
        "stock_moto_sample": stock,
        "moto_rollback_patch": moto_patch.installed(),
        "note": "wall time of one bounded loop each, in this order; a shared 2-core machine is noisy",
    }


@contextmanager
def _ingest_cache_off() -> Iterator[None]:
    """TALLY_INGEST_CACHE_SECONDS=0 inside: every ingest request reads its key, meter, customer."""
    from tally import settings
    from tally.store import recent

    before = os.environ.get("TALLY_INGEST_CACHE_SECONDS")
    os.environ["TALLY_INGEST_CACHE_SECONDS"] = "0"
    settings.reset()
    recent.clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TALLY_INGEST_CACHE_SECONDS")
        else:
            os.environ["TALLY_INGEST_CACHE_SECONDS"] = before
        settings.reset()


def _stock_sample(run: Run, send_count: int, batches: int) -> dict[str, Any]:
    """A few events through moto's own transaction code (a whole-table copy per action)."""
    from tally.settings import settings
    from tally.store.aws import dynamodb

    now = int(time.time())
    hour = now - now % HOUR
    items = dynamodb().describe_table(TableName=settings().usage_table)["Table"]["ItemCount"]
    singles = [
        run.prepared("POST", "/v1/billing/meter_events", form=run.v1_form(run.customers[i % 4], now - i))
        for i in range(send_count)
    ]
    stream = [
        run.prepared(
            "POST", "/v2/billing/meter_event_stream", json_body=run.v2_batch(run.customers[:4], [hour], now)
        )
        for _ in range(batches)
    ]
    moto_patch.uninstall()
    # stock moto cannot run a parameterised PartiQL INSERT (a batch's writes): that part stays
    undo_inserts = moto_patch.partiql_inserts()
    try:
        t_single = _timed(lambda: [expect_ok(_send(c), "v1 meter event") for c in singles])
        t_batched = _timed(lambda: [_check_batch(_send(c), 100) for c in stream])
    finally:
        undo_inserts()
        moto_patch.install()
    return {
        "usage_table_items": items,
        "single_events": send_count,
        "single_events_per_s": round(send_count / t_single, 1),
        "batched_events": 100 * batches,
        "batched_events_per_s": round(100 * batches / t_batched, 1),
    }


# -- stage 4 ------------------------------------------------------------------------------------------
def _month_after(ts: int) -> int:
    d = datetime.fromtimestamp(ts, UTC)
    year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    day = min(d.day, calendar.monthrange(year, month)[1])
    return int(d.replace(year=year, month=month, day=day).timestamp())


def _load(run: Run, customer: str, count: int, start: int, hours: int, label: str) -> tuple[int, float]:
    """`count` events over `hours` hours from `start` (every hour gets ≥ 1 if count ≥ hours)."""
    from tally.domain.aggregation import Formula
    from tally.domain.records import MeterEvent
    from tally.store import usage

    now = int(time.time())
    per_hour: list[list[MeterEvent]] = [[] for _ in range(hours)]
    total = 0
    for i in range(count):
        h = i % hours
        ts = start + h * HOUR + ((i // hours) * 7 % 60) * 60 + i % 60  # minutes 0–59 fill up in turn
        value = 1 + i % 9
        total += value
        per_hour[h].append(
            MeterEvent(
                f"{run.prefix}-load{label}-{i}",
                EVENT_NAME,
                run.meter["id"],
                customer,
                value,
                ts,
                {"stripe_customer_id": customer, "value": str(value)},
                now,
            )
        )
    shards = int(run.meter.get("write_shards") or 1)
    done, next_mark, chunk = 0, 10, []
    began = time.perf_counter()
    for h, events in enumerate(per_hour):
        chunk += events
        if len(chunk) < 2000 and h < hours - 1:
            continue
        outcome = usage.record(run.bench.account, Formula.SUM, shards, chunk, now)
        if len(outcome.stored) != len(chunk):
            raise RuntimeError(f"stored {len(outcome.stored)} of {len(chunk)} events")
        done += len(chunk)
        chunk = []
        while count >= 10_000 and done * 100 >= next_mark * count and next_mark <= 100:
            rate = done / (time.perf_counter() - began)
            run.say(f"      loading {label}: {next_mark:3d}% ({done:,} events, {rate:,.0f} events/s)")
            next_mark += 10
    return total, time.perf_counter() - began


def usage_reads(run: Run) -> dict[str, Any]:
    from tally.billing import meters
    from tally.clock import Clock
    from tally.store import usage

    now = int(time.time())
    meter = meters.retrieve(run.bench.account, run.meter["id"], Clock.at(now))
    end = now - now % HOUR
    hours = 720
    start = end - hours * HOUR
    sizes = {"1k": 1_000, "100k": run.n(100_000, 2_000)}
    out: dict[str, Any] = {"period": {"start": start, "end": end, "hours": hours}, "aggregate": {}}
    for label, count in sizes.items():
        customer = run.read_customers[label]
        total, seconds = _load(run, customer, count, start, hours, label)
        usage.STATS.reset()
        COUNTER.reset()
        t0 = time.perf_counter()
        value = usage.aggregate(run.bench.account, meter, customer, start, end)
        took = time.perf_counter() - t0
        if value != total:
            raise RuntimeError(f"aggregate {value} != loaded total {total} ({label})")
        sizes_bytes = _bucket_bytes(run, customer, start, end)
        out["aggregate"][label] = {
            "events": count,
            "load_seconds": round(seconds, 1),
            "load_events_per_s": round(count / seconds, 1),
            "value": value,
            "items_read": usage.STATS.items_read,
            "requests": usage.STATS.requests,
            "read_units": usage.STATS.read_units,
            "read_units_by_size": -(-sum(sizes_bytes) // 4096),
            "bucket_item_bytes_mean": round(statistics.mean(sizes_bytes)),
            "bucket_item_bytes_max": max(sizes_bytes),
            "seconds": round(took, 3),
        }
    a, z = out["aggregate"]["1k"], out["aggregate"]["100k"]
    shards = int(run.meter.get("write_shards") or 1)
    assert a["items_read"] == z["items_read"] <= hours * shards, (a, z)
    out["items_read_equal"] = True
    out["preview"] = _preview(run, start, now)
    return out


def _bucket_bytes(run: Run, customer: str, start: int, end: int) -> list[int]:
    """Byte size (DynamoDB's rules) of each hour item the aggregate read, for a size-based RRU."""
    from tally.settings import settings
    from tally.store.aws import dynamodb
    from tally.store.usage import UsageKeys

    sizes: list[int] = []
    for shard in range(int(run.meter.get("write_shards") or 1)):
        kwargs: dict[str, Any] = {
            "TableName": settings().usage_table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {"S": UsageKeys.bucket(run.bench.account, run.meter["id"], customer, shard)},
                ":lo": {"S": UsageKeys.hour(start)},
                ":hi": {"S": UsageKeys.hour(end - HOUR)},
            },
        }
        while True:
            page = dynamodb().query(**kwargs)
            sizes += [item_bytes(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sizes


def _preview(run: Run, start: int, now: int) -> dict[str, Any]:
    from tally.store import usage

    b = run.bench
    served = b.route_keys("ApiFunction")
    missing = [r for r in PREVIEW_ROUTES if r not in served]
    if missing:
        note = f"skipped: the API function does not serve {', '.join(missing)} yet"
        run.say(f"      preview {note}")
        return {"skipped": note}
    # A monthly subscription whose current period holds the loaded month: created (with the real
    # handler) at the period start under time-machine. If a month after `start` is already past
    # (a 30-day previous month), start it 27 days ago instead; it then covers fewer loaded hours.
    sub_start = start if _month_after(start) > now + HOUR else now - now % HOUR - 27 * DAY
    product = expect_ok(b.call("POST", "/v1/products", form={"name": "Bench API"}), "create product")
    price = expect_ok(
        b.call(
            "POST",
            "/v1/prices",
            form={
                "product": product["id"],
                "currency": "usd",
                "unit_amount_decimal": "0.05",
                "recurring": {"interval": "month", "usage_type": "metered", "meter": run.meter["id"]},
            },
        ),
        "create price",
    )
    import time_machine

    out: dict[str, Any] = {"subscription_start": sub_start}
    for label, customer in run.read_customers.items():
        with time_machine.travel(sub_start, tick=True):
            sub = expect_ok(
                b.call(
                    "POST",
                    "/v1/subscriptions",
                    form={"customer": customer, "items": [{"price": price["id"]}]},
                ),
                "create subscription",
            )
        call = ("POST", "/v1/invoices/create_preview")
        expect_ok(b.call(*call, form={"subscription": sub["id"]}), "warm-up preview")
        usage.STATS.reset()
        COUNTER.reset()
        t0 = time.perf_counter()
        invoice = expect_ok(b.call(*call, form={"subscription": sub["id"]}), "invoice preview")
        took = time.perf_counter() - t0
        out[label] = {
            "subscription": sub["id"],
            "period": [invoice.get("period_start"), invoice.get("period_end")],
            "usage_quantity": sum(line.get("quantity") or 0 for line in invoice["lines"]["data"]),
            "amount_due": invoice.get("amount_due"),
            "items_read": usage.STATS.items_read,
            "usage_requests": usage.STATS.requests,
            "read_units": usage.STATS.read_units,
            "dynamodb_calls": COUNTER.snapshot(),
            "dynamodb_calls_total": sum(COUNTER.ops.values()),
            "seconds": round(took, 3),
        }
    out["items_read_equal"] = out["1k"]["items_read"] == out["100k"]["items_read"]
    return out


# -- stage 6 ------------------------------------------------------------------------------------------
def handler_cpu(run: Run) -> dict[str, Any]:
    """CPU per event of the calling thread (handler + its boto3/PynamoDB client work).

    moto serves from a thread of this same process, so time.process_time() would also count
    moto's CPU; time.thread_time() counts only the handler's thread. Both are reported.
    """
    now = int(time.time())
    hour = now - now % HOUR
    n_single = run.n(200, 10)
    n_batches = run.n(10, 2)
    singles = [
        run.prepared("POST", "/v1/billing/meter_events", form=run.v1_form(run.customers[i % 4], now - i))
        for i in range(n_single)
    ]
    batches = [
        run.prepared(
            "POST", "/v2/billing/meter_event_stream", json_body=run.v2_batch(run.customers[:4], [hour], now)
        )
        for _ in range(n_batches)
    ]
    out: dict[str, Any] = {}
    for label, calls, per_call in (("single", singles, 1), ("batched", batches, 100)):
        thread_ms, process_ms, sdk_ms = [], [], []
        for call in calls:
            COUNTER.reset()
            t0, p0 = time.thread_time(), time.process_time()
            reply = _send(call)
            thread_ms.append((time.thread_time() - t0) * 1000 / per_call)
            process_ms.append((time.process_time() - p0) * 1000 / per_call)
            sdk_ms.append(COUNTER.sdk_cpu_s * 1000 / per_call)
            if per_call == 1:
                expect_ok(reply, "v1 meter event")
            else:
                _check_batch(reply, 100)
        out[label] = {
            "requests": len(calls),
            "events": len(calls) * per_call,
            "thread_cpu_ms_per_event": round(sum(thread_ms) / len(thread_ms), 3),
            "thread_cpu_ms_per_event_median": round(statistics.median(thread_ms), 3),
            "of_which_botocore_ms_per_event": round(sum(sdk_ms) / len(sdk_ms), 3),
            "app_cpu_ms_per_event": round((sum(thread_ms) - sum(sdk_ms)) / len(thread_ms), 3),
            "process_cpu_ms_per_event_incl_moto": round(sum(process_ms) / len(process_ms), 3),
        }
    return out
