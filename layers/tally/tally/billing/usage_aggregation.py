"""The usage aggregator's use case: add stored events to their buckets, then evaluate what
depends on usage — usage alerts and credit watches — for the customers the events belong to
(issue 15: both moved here from the ingest request).

The aggregator function is invoked by the usage table's stream (template.yaml
UsageAggregatorFunction, INSERTs of event items) with a batch of records. It first catches the
whole stream up (`store.usage.catchup`: exactly once whoever else catches up), so every event of
the batch is in the buckets; then it evaluates the alerts and credit watches of each (meter,
customer) the batch names. A failure anywhere fails the invocation: Lambda retries the batch, the
catch-up skips what stands, the evaluations are idempotent (trigger claims), so a crossing is
never lost and never recorded twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tally.clock import Clock
from tally.store.usage import catchup

Named = tuple[str, str, str]  # (account, event_name, customer)


def named(records: Iterable[dict[str, Any]]) -> list[Named]:
    """(account, event_name, customer) of each event item a batch of stream records inserts."""
    out: dict[Named, None] = {}
    for record in records:
        image = record.get("dynamodb", {}).get("NewImage") or {}
        if "#mev#" not in image.get("pk", {}).get("S", "") or "event_name" not in image:
            continue
        account = image["pk"]["S"].split("#mev#", 1)[0]
        out[(account, image["event_name"]["S"], image["customer"]["S"])] = None
    return list(out)


def run(records: list[dict[str, Any]], clock: Clock) -> catchup.Caught:
    """Catch the usage stream up, then evaluate usage alerts and credit watches for the
    customers `records` name (see the module)."""
    caught = catchup.catch_up()
    by_account: dict[str, list[tuple[str, str]]] = {}
    for account, event_name, customer in named(records):
        by_account.setdefault(account, []).append((event_name, customer))
    for account, pairs in by_account.items():
        evaluate(account, pairs, clock)
    return caught


def evaluate(account: str, pairs: list[tuple[str, str]], clock: Clock) -> None:
    """Usage alerts of each (event_name, customer)'s meter, then the credit watches of the
    customers that have one (what the ingest request evaluated before issue 15)."""
    from tally.billing import event_lookups, meter_events

    lookups = event_lookups.Lookups(account, clock)
    customers: list[str] = []
    by_meter: dict[str, list[str]] = {}
    for event_name, customer in pairs:
        meter = lookups.meter_or_none(event_name)
        lookups.customer_or_none(customer)
        if meter is None:
            continue
        by_meter.setdefault(event_name, []).append(customer)
        customers.append(customer)
    for event_name, members in by_meter.items():
        meter = lookups.meter_or_none(event_name)
        assert meter is not None
        watch = lookups.watches.get(meter.id)
        if watch is not None and not watch.idle:
            from tally.billing import alert_evaluation  # lazy: meters without alerts never load it

            alert_evaluation.evaluate(account, meter, watch, members, lookups.clock_for, clock.now)
    meter_events.evaluate_credits(account, customers, lookups)
