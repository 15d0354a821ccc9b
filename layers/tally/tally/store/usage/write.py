"""Recording meter events: each stored once, by ONE conditional Put of its identifier item (issue 15).

The event's usage is not added here: the usage table's stream carries the new item to the
aggregator (`store.usage.aggregator`, run by `store.usage.catchup`), which adds it to its
buckets exactly once, asynchronously. So a request pays 1 write unit per event (an item ≤ 1 KB,
outside any transaction) and nothing per bucket.

An identifier that already stands (now or by a concurrent writer) makes its Put fail: the event
is a duplicate, answered with the standing event — first write wins, synchronously. A busy store
is retried with backoff; persistent contention is a 409 the caller may retry safely (whatever was
stored is stored exactly once: a retry's Put of a stored event fails its condition).

`run` performs every write of the usage store (an event's Put, each aggregator update, a
registration's or a figure's transaction): one action is a plain write (1× its write units),
several a TransactWriteItems (2×). The request path calls it through `transact`, the aggregator
through `aggregator.write` and the checkpoint through `catchup.save`: tests inject failures there.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tally.domain.aggregation import Formula
from tally.domain.records import MeterEvent
from tally.errors import Conflict
from tally.store import errors
from tally.store.aws import dynamodb
from tally.store.usage import duplicates
from tally.store.usage.actions import Action, event_put
from tally.store.usage.keys import UsageKeys
from tally.store.usage.stats import STATS

ATTEMPTS = 8
_SINGLE = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}


@dataclass
class Outcome:
    stored: list[MeterEvent] = field(default_factory=list)
    duplicates: list[tuple[MeterEvent, MeterEvent]] = field(default_factory=list)  # (event, standing)


def transact(actions: list[Action], units: int) -> list[str | None] | None:
    """One write of the request path (an event's Put, a segment registration): `run`. The seam
    tests patch to fail the request's k-th write (the aggregator's writes have their own,
    `aggregator.write`)."""
    return run(actions, units)


def run(actions: list[Action], units: int | Callable[[dict[str, Any]], int]) -> list[str | None] | None:
    """Run one write: None on success, else the per-action failure codes ([] to retry).

    One action is written alone (`PutItem`/`UpdateItem`: a failed condition is
    `[CONDITION_FAILED]`); several in one TransactWriteItems (all or nothing). `units` is what it
    costs when it commits (counted in `STATS`) — or, for a write whose size only DynamoDB knows
    (an hour's detail item), a function of the response (or of the failed condition's)."""
    from botocore.exceptions import ClientError

    STATS.requests += 1
    try:
        if len(actions) == 1:
            ((kind, params),) = actions[0].items()
            response = getattr(dynamodb(), _SINGLE[kind])(**params)
        else:
            response = dynamodb().transact_write_items(TransactItems=actions)
    except ClientError as exc:
        code = errors.code_of(exc)
        if code == "ConditionalCheckFailedException":
            # DynamoDB charges a failed conditional write like a write
            STATS.write_units += units(dict(exc.response)) if callable(units) else units
            return [errors.CONDITION_FAILED]
        if code == errors.CANCELLED:
            return errors.cancellation_codes(exc)
        if code in errors.TRANSIENT:
            return []
        raise
    STATS.write_units += units(response) if callable(units) else units
    return None


def bucket_of(account: str, e: MeterEvent, shards: int) -> str:
    """The bucket pk of an event: its shard is fixed by its identifier (a retry lands alike)."""
    return UsageKeys.bucket(account, e.meter_id, e.customer, zlib.crc32(e.identifier.encode()) % shards)


def record(
    account: str, formula: Formula, shards: int, events: list[MeterEvent], now: int, *, figures: bool = False
) -> Outcome:
    """Store each event once (its usage follows through the stream's aggregator) — marked, with
    `figures` (an additive meter whose running figures are kept, `store.usage.figures`), for its
    customer's figure too.

    Events whose identifier is already stored (now or by a concurrent writer) are reported as
    duplicates with the standing event. Raises Conflict (409, retryable) if contention persists;
    whatever was stored before that is stored exactly once, so a retry is safe.
    """
    outcome = Outcome()
    first: dict[str, MeterEvent] = {}
    stored_before: list[MeterEvent] = []
    figures = figures and formula.additive
    for e in events:  # duplicates inside the batch: the first occurrence stands
        if e.identifier in first:
            outcome.duplicates.append((e, first[e.identifier]))
            continue
        first[e.identifier] = e
        action, units = event_put(account, e, bucket_of(account, e, shards), now, formula, figures)
        if _put(action, units):
            outcome.stored.append(e)
        else:
            stored_before.append(e)
    if stored_before:
        standing = duplicates.standing(account, [e.identifier for e in stored_before])
        for e in stored_before:
            outcome.duplicates.append((e, standing.get(e.identifier, e)))
    return outcome


def _put(action: Action, units: int) -> bool:
    """Write one event's item: True if stored, False if its identifier already stands."""
    for attempt in range(ATTEMPTS):
        reasons = transact([action], units)
        if reasons is None:
            return True
        if reasons == [errors.CONDITION_FAILED]:
            return False
        time.sleep(min(0.5, 0.01 * 2**attempt))  # backoff, not billing time
    raise Conflict("Meter events are contended right now; retry the request (it is safe to retry).")
