"""Stage 8 of `python -m bench` (`--close-only` runs setup + this): the scheduled close of N
subscriptions all due at the same instant.

Per size N: N customers and N subscriptions (a metered price on the bench meter + 3 seats of a
licensed price, Tally's hybrid plan) are bulk-loaded with `tally.store.bulk` (BatchWriteItem of
the items the store writes, due-index keys included), each customer gets one usage event in the
period (`usage.record`, the store's own batched write); then, with every DynamoDB call counted:

1. the ClosePeriodsFunction handler runs once, with the schedule event (events/) at the due
   instant: it Queries the 16 `by_due` shards and sends N messages to the billing queue;
2. the queue is drained through the BillPeriodFunction handler as the SQS event source does: up
   to 10 messages per invocation (the template's BatchSize), the ones not reported in
   `batchItemFailures` deleted;
3. the close runs again at the same instant (it must send nothing: every period is billed).

Subscriptions billed per second = N / wall time of steps 1–2 (handlers + SQS receive/delete,
one process, moto single-threaded). DynamoDB requests and modelled write units are per
subscription, close and bill apart (bench/harness.py: `DynamoCounter`); the account's settings,
read once per account and process, are read before counting (`_settings_read_once`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import COUNTER, expect_ok, item_bytes

SIZES = (100, 1_000, 10_000)
T0 = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp())  # every subscription starts here
DUE = int(dt.datetime(2025, 2, 1, tzinfo=dt.UTC).timestamp())  # … so its first period ends here
CHUNK = 2_000
EVENTS = Path(__file__).resolve().parent.parent / "events"


def _catalog(run: Any) -> dict[str, str]:
    """Two products and prices through the API handler: metered (on the bench meter) and seats."""
    b = run.bench

    def post(path: str, form: dict[str, Any]) -> dict[str, Any]:
        return expect_ok(b.call("POST", path, form=form), path)

    calls = post("/v1/products", {"name": "API calls"})
    seats = post("/v1/products", {"name": "Seats"})
    metered = post(
        "/v1/prices",
        {
            "product": calls["id"],
            "currency": "usd",
            "unit_amount": 2,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": run.meter["id"]},
        },
    )
    licensed = post(
        "/v1/prices",
        {"product": seats["id"], "currency": "usd", "unit_amount": 1000, "recurring": {"interval": "month"}},
    )
    return {"metered": metered["id"], "licensed": licensed["id"]}


def _load(run: Any, tag: str, n: int, prices: dict[str, str]) -> dict[str, Any]:
    """N customers + N subscriptions (bulk), one usage event per customer; returns the ids and times."""
    from tally.domain.aggregation import Formula
    from tally.domain.records import Customer, MeterEvent, Subscription, SubscriptionItem
    from tally.store import bulk, usage

    account = run.bench.account
    t0 = time.perf_counter()
    items = 0
    subs: list[str] = []
    for lo in range(0, n, CHUNK):
        records: list[tuple[Any, int]] = []
        for i in range(lo, min(lo + CHUNK, n)):
            cus, sub = f"cus_{tag}{i:06d}", f"sub_{tag}{i:06d}"
            records.append(
                (Customer(cus, T0, False, f"C{tag.upper()}{i:06d}"[-8:], name=f"Close {i}"), T0 * 1000)
            )
            s_items = (
                SubscriptionItem(f"si_{tag}m{i:06d}", prices["metered"], T0),
                SubscriptionItem(f"si_{tag}l{i:06d}", prices["licensed"], T0, 3),
            )
            sub_record = Subscription(sub, cus, T0, False, "usd", "month", 1, T0, s_items)
            assert sub_record.due_at == DUE
            records.append((sub_record, T0 * 1000 + 1))
            subs.append(sub)
        items += bulk.put_records(account, records)
    records_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    now = int(time.time())
    shards = int(run.meter.get("write_shards") or 1)
    total = 0
    for lo in range(0, n, CHUNK):
        events = []
        for i in range(lo, min(lo + CHUNK, n)):
            value = 1 + i % 9
            total += value
            cus = f"cus_{tag}{i:06d}"
            events.append(
                MeterEvent(f"{tag}-close-{i}", run.meter["event_name"], run.meter["id"], cus, value,
                           T0 + 86_400 + i % 86_400, {"stripe_customer_id": cus, "value": str(value)}, now)
            )  # fmt: skip
        outcome = usage.record(account, Formula.SUM, shards, events, now)
        if len(outcome.stored) != len(events):
            raise RuntimeError(f"stored {len(outcome.stored)} of {len(events)} usage events")
    # The usage aggregator adds the stored events to their buckets as they arrive (issue 15,
    # UsageAggregatorFunction, asynchronously): run its catch-up here, before counting, so the
    # bill's own catch-up (the watermark, `catchup.settle`) finds the stream caught up, as a period
    # close long after its usage does. This also warms what a process knows of the stream (its
    # ARN, its checkpoint), read once per process, not per subscription.
    from tally.store.usage import catchup

    catchup.catch_up()
    return {
        "subscriptions": subs,
        "items_written": items,
        "records_seconds": round(records_s, 1),
        "usage_events": n,
        "usage_value": total,
        "usage_seconds": round(time.perf_counter() - t1, 1),
    }


def _schedule_event(instant: int) -> dict[str, Any]:
    event = json.loads((EVENTS / "schedule_close_periods.json").read_text())
    event["time"] = dt.datetime.fromtimestamp(instant, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def _close(run: Any) -> dict[str, Any]:
    from tally_local.gateway import LambdaContext

    handler = run.bench.handler("ClosePeriodsFunction")
    return invoke_raw(handler, _schedule_event(DUE), LambdaContext("ClosePeriodsFunction"))


def invoke_raw(handler: Any, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A non-HTTP handler's return value, with what it prints swallowed (as `invoke` does)."""
    import contextlib

    from bench.harness import STDOUT

    with contextlib.redirect_stdout(STDOUT):
        result: dict[str, Any] = handler(event, context)
    return result


PROGRESS_EVERY = 1_000


def _drain(run: Any) -> dict[str, Any]:
    """Every message of the billing queue through the worker, 10 per invocation, as the event
    source mapping does: receive ≤ 10, invoke, delete those not reported as failures."""
    from tally.settings import settings
    from tally.store.aws import sqs
    from tally_local.gateway import LambdaContext

    url = settings().billing_queue_url
    template = json.loads((EVENTS / "sqs_bill_period.json").read_text())["Records"][0]
    handler = run.bench.handler("BillPeriodFunction")
    invocations = failures = messages = 0
    handler_s = handler_cpu_s = 0.0
    began = time.perf_counter()
    while True:
        got = sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        records = [{**template, "messageId": m["MessageId"], "body": m["Body"]} for m in got]
        t0, c0 = time.perf_counter(), time.thread_time()
        answer = invoke_raw(handler, {"Records": records}, LambdaContext("BillPeriodFunction"))
        handler_s += time.perf_counter() - t0
        handler_cpu_s += time.thread_time() - c0  # the handler's own thread: moto serves from another
        invocations += 1
        messages += len(got)
        if messages % PROGRESS_EVERY < len(got):  # a running count, for runs too long to wait for
            requests = sum(COUNTER.snapshot().values())
            run.say(
                f"        billed {messages:,}: {requests / messages:.2f} DynamoDB requests per subscription "
                f"so far, {messages / (time.perf_counter() - began):.1f}/s"
            )
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        failures += len(failed)
        done = [m for m in got if m["MessageId"] not in failed]
        if done:
            sqs().delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(done)],
            )
    return {
        "invocations": invocations,
        "messages": messages,
        "failures": failures,
        "handler_seconds": round(handler_s, 2),
        "handler_cpu_ms_per_subscription": round(handler_cpu_s * 1000 / max(1, messages), 2),
    }


# The objects table's GSIs (template.yaml): partition-key attribute and whether items are projected
# whole (ALL: a GSI write costs the item's size) or as keys (KEYS_ONLY: 1 WRU).
GSIS = {
    "by_type": ("lpk", True),
    "by_customer": ("cpk", True),
    "by_field": ("xpk", False),
    "by_due": ("dpk", False),
}


class IndexWrites:
    """Models the GSI writes of each transaction's Puts (DynamoDB charges them on top of the
    table's, 1 WRU per started KB projected, not doubled), per index and per partition-key value:
    the busiest key is what one partition must absorb. A Put that replaces an item (its
    condition is the version, not absence) rewrites its entries; moving `dsk` (the due index) is
    a delete plus a put (2)."""

    def __init__(self) -> None:
        self.by_index: dict[str, int] = {}
        self.by_key: dict[str, int] = {}

    def __call__(self, operation: str, params: dict[str, Any]) -> None:
        if operation != "TransactWriteItems":
            return
        for action in params.get("TransactItems", []):
            put = action.get("Put")
            if not put:
                continue
            item = put["Item"]
            replaces = "attribute_not_exists" not in put.get("ConditionExpression", "attribute_not_exists")
            for index, (attribute, whole) in GSIS.items():
                if attribute not in item:
                    continue
                units = max(1, -(-item_bytes(item) // 1024)) if whole else 1
                if index == "by_due" and replaces:
                    units += 1
                key = f"{index}:{_shape(item[attribute]['S'])}"
                self.by_index[index] = self.by_index.get(index, 0) + units
                self.by_key[key] = self.by_key.get(key, 0) + units


def _shape(key: str) -> str:
    """A partition key with its account and object ids replaced by their kind (`<acct>#<cus>#…`)."""
    parts = []
    for part in key.split("#"):
        prefix, _, rest = part.partition("_")
        parts.append(
            f"<{prefix}>" if rest and prefix in {"acct", "cus", "sub", "in", "evt", "price", "prod"} else part
        )
    return "#".join(parts)


def _counts(index: IndexWrites | None = None) -> dict[str, Any]:
    ops = COUNTER.snapshot()
    out = {"requests": sum(ops.values()), "by_operation": ops, "write_units": COUNTER.other_wru}
    if index is not None:
        out["index_write_units"] = dict(sorted(index.by_index.items()))
        out["index_write_units_by_key"] = dict(sorted(index.by_key.items(), key=lambda kv: -kv[1]))
    return out


def _invoices_of(run: Any, subs: list[str]) -> dict[str, Any]:
    """Check a sample: each subscription has moved one period on, and has one draft invoice."""
    from tally.billing import invoices
    from tally.clock import Clock
    from tally.domain.listing import Window
    from tally.domain.records import Subscription
    from tally.store import objects

    clock = Clock.at(DUE)
    sample = subs[:: max(1, len(subs) // 20)]
    totals = set()
    for sid in sample:
        s = objects.get(run.bench.account, sid, Subscription, clock)
        if s.billed_through != DUE:
            raise RuntimeError(f"{sid} not advanced: billed_through {s.billed_through}")
        found = invoices.list_(run.bench.account, Window(limit=10), clock, subscription=sid).data
        if len(found) != 1 or found[0].status != "draft":
            raise RuntimeError(f"{sid}: {len(found)} invoices")
        totals.add(found[0].total)
    return {"sampled": len(sample), "distinct_totals": sorted(totals)}


def close_one(run: Any, n: int, prices: dict[str, str]) -> dict[str, Any]:
    tag = f"c{n}x{run.seq}"
    run.seq += 1
    loaded = _load(run, tag, n, prices)
    run.say(
        f"      N = {n:,}: loaded {loaded['items_written']:,} items in {loaded['records_seconds']} s "
        f"(bulk), {n:,} usage events in {loaded['usage_seconds']} s"
    )
    subs = loaded.pop("subscriptions")

    COUNTER.reset()
    t0 = time.perf_counter()
    answer = _close(run)
    close_s = time.perf_counter() - t0
    close = _counts() | {"seconds": round(close_s, 2), "sent": answer["sent"]}
    if answer["sent"] != n:
        raise RuntimeError(f"close sent {answer['sent']} messages for {n} due subscriptions")

    COUNTER.reset()
    index = IndexWrites()
    record = COUNTER.record
    COUNTER.record = lambda op, params: (index(op, params), record(op, params))[-1]  # type: ignore[method-assign]
    try:
        t1 = time.perf_counter()
        drained = _drain(run)
        bill_s = time.perf_counter() - t1
    finally:
        del COUNTER.record
    bill = _counts(index) | drained | {"seconds": round(bill_s, 2)}
    if drained["messages"] != n or drained["failures"]:
        raise RuntimeError(f"worker got {drained['messages']} of {n} messages, {drained['failures']} failed")

    COUNTER.reset()
    again = _close(run)
    rerun = _counts() | {"sent": again["sent"]}
    if again["sent"]:
        raise RuntimeError(f"a second close at the same instant sent {again['sent']} messages")

    hot_key, hot_units = max(index.by_key.items(), key=lambda kv: kv[1])
    hot = {"key": hot_key, "write_units_per_subscription": round(hot_units / n, 2)}
    requests = close["requests"] + bill["requests"]
    wru = close["write_units"] + bill["write_units"]
    out = {
        "subscriptions": n,
        "setup": loaded,
        "close": close,
        "bill": bill,
        "second_close": rerun,
        "check": _invoices_of(run, subs),
        "seconds": round(close_s + bill_s, 2),
        "subscriptions_per_second": round(n / (close_s + bill_s), 1),
        "worker_subscriptions_per_second": round(n / drained["handler_seconds"], 1),
        "requests_per_subscription": round(requests / n, 3),
        "close_requests_per_subscription": round(close["requests"] / n, 3),
        "bill_requests_per_subscription": round(bill["requests"] / n, 3),
        "write_units_per_subscription": round(wru / n, 2),
        "index_write_units_per_subscription": round(sum(index.by_index.values()) / n, 2),
        "hottest_index_key": hot,
    }
    run.say(
        f"      N = {n:,}: {out['subscriptions_per_second']:.0f} subscriptions/s; "
        f"{out['requests_per_subscription']:.2f} DynamoDB requests and "
        f"{out['write_units_per_subscription']:.1f} WRU (+ {out['index_write_units_per_subscription']:.1f} "
        f"in GSIs; {hot['write_units_per_subscription']:g} on {hot['key']}) per subscription "
        f"(close {close['requests']} requests in {close['seconds']} s, bill {bill['seconds']} s)"
    )
    return out


def _settings_read_once(run: Any) -> None:
    """The worker reads the account's settings (its invoice grace period) once per account and
    process a minute (`tally.billing.account_settings`), not per subscription: read them before
    counting, and keep them for the whole run, so the figures stay per subscription."""
    from tally.billing import account_settings
    from tally.clock import Clock

    account_settings.CACHE_SECONDS = float("inf")
    account_settings.invoice_grace(run.bench.account, Clock.system())


def close_periods(
    run: Any, sizes: tuple[int, ...] = SIZES, on_size: Callable[[list[dict[str, Any]]], None] | None = None
) -> dict[str, Any]:
    """Every size in turn (same stack: the tables keep what earlier sizes wrote); `on_size` gets
    the results so far after each size (the bench writes them, in case a long run is stopped)."""
    prices = _catalog(run)
    _settings_read_once(run)
    results = []
    for n in sizes:
        results.append(close_one(run, n, prices))
        if on_size is not None:
            on_size(results)
    per = [r["requests_per_subscription"] - r["close_requests_per_subscription"] for r in results]
    return {
        "due": DUE,
        "prices": prices,
        "sizes": list(sizes),
        "runs": results,
        "bill_requests_constant": len({round(p, 6) for p in per}) == 1,
        "max_requests_per_subscription": max(r["requests_per_subscription"] for r in results),
    }
