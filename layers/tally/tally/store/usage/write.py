"""Recording meter events: each stored once, by ONE conditional write of its identifier item (issue 15).

The event's usage is not added here: the usage table's stream carries the new item to the
aggregator (`store.usage.aggregator`, run by `store.usage.catchup`), which adds it to its
buckets exactly once, asynchronously. So a request pays 1 write unit per event (an item ≤ 1 KB,
outside any transaction) and nothing per bucket.

One event is a conditional PutItem. Several (a v2 batch) go 25 to a BatchExecuteStatement of
PartiQL INSERTs: each INSERT is its own conditional write (stored only if its key is free; 1 write
unit, like the Put; no transaction), so a batch of 100 is 4 requests, not 100. An INSERT that
finds its key taken (`DuplicateItem`) falls back to the event's conditional Put, which also
replaces an expired event — so the rules stay the Put's.

An identifier that already stands (now or by a concurrent writer) makes its write fail: the event
is a duplicate, answered with the standing event — first write wins, synchronously. A busy store
is retried with backoff (per statement in a batch); persistent contention is a 409 the caller may
retry safely (whatever was stored is stored exactly once: a retry's write of a stored event fails).

`run` performs every write of the usage store (an event's Put, a batch of INSERTs, each aggregator
update, a registration's or a figure's transaction): one action is a plain write (1× its write
units), several a TransactWriteItems (2×), INSERTs a BatchExecuteStatement (1× each). The request
path calls it through `transact`, the aggregator through `aggregator.write` and the checkpoint
through `catchup.save`: tests inject failures there.
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
from tally.store.usage.actions import Action, event_insert, event_put
from tally.store.usage.keys import UsageKeys
from tally.store.usage.stats import STATS

ATTEMPTS = 8
INSERTS = 25  # BatchExecuteStatement's limit
_SINGLE = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}


Units = int | list[int] | Callable[[dict[str, Any]], int]


@dataclass
class Outcome:
    stored: list[MeterEvent] = field(default_factory=list)
    duplicates: list[tuple[MeterEvent, MeterEvent]] = field(default_factory=list)  # (event, standing)


def transact(actions: list[Action], units: Units) -> list[str | None] | None:
    """One write of the request path (an event's Put, a batch's INSERTs, a segment registration):
    `run`. The seam
    tests patch to fail the request's k-th write (the aggregator's writes have their own,
    `aggregator.write`)."""
    return run(actions, units)


def run(actions: list[Action], units: Units) -> list[str | None] | None:
    """Run one write: None on success, else the per-action failure codes ([] to retry).

    One action is written alone (`PutItem`/`UpdateItem`: a failed condition is
    `[CONDITION_FAILED]`); several in one TransactWriteItems (all or nothing). `units` is what it
    costs when it commits (counted in `STATS`) — or, for a write whose size only DynamoDB knows
    (an hour's detail item), a function of the response (or of the failed condition's).

    INSERTs (`actions.event_insert`, ≤ 25) go in one BatchExecuteStatement, each on its own, with
    `units` one per statement: the codes say per statement None (stored), CONDITION_FAILED (its
    key is taken) or the busy code to retry it with."""
    from botocore.exceptions import ClientError

    STATS.requests += 1
    if actions and "Insert" in actions[0]:
        assert isinstance(units, list) and len(units) == len(actions) <= INSERTS
        return _inserts(actions, units)
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
            STATS.write_units += _cost(units, dict(exc.response))
            return [errors.CONDITION_FAILED]
        if code == errors.CANCELLED:
            return errors.cancellation_codes(exc)
        if code in errors.TRANSIENT:
            return []
        raise
    STATS.write_units += _cost(units, response)
    return None


def _cost(units: Units, response: dict[str, Any]) -> int:
    """The write units of a single or transactional write (a list is a batch's, never here)."""
    if callable(units):
        return units(response)
    assert isinstance(units, int)
    return units


def _inserts(actions: list[Action], units: list[int]) -> list[str | None] | None:
    from botocore.exceptions import ClientError

    try:
        answer = dynamodb().batch_execute_statement(Statements=[a["Insert"] for a in actions])
    except ClientError as exc:
        if errors.code_of(exc) in errors.TRANSIENT:
            return []
        raise
    codes: list[str | None] = []
    for response, cost in zip(answer["Responses"], units, strict=True):
        code = (response.get("Error") or {}).get("Code")
        if code is None or code in errors.STATEMENT_TAKEN:  # a taken key is charged like a failed condition
            STATS.write_units += cost
            codes.append(None if code is None else errors.CONDITION_FAILED)
        elif code in errors.STATEMENT_BUSY:
            codes.append(code)
        else:
            raise RuntimeError(f"BatchExecuteStatement refused an event's INSERT: {response['Error']}")
    return None if not any(codes) else codes


def bucket_of(account: str, e: MeterEvent, shards: int) -> str:
    """The bucket pk of an event: its shard is fixed by its identifier (a retry lands alike)."""
    return UsageKeys.bucket(account, e.meter_id, e.customer, zlib.crc32(e.identifier.encode()) % shards)


@dataclass(frozen=True)
class Group:
    """One meter's events of a request, as `record_groups` stores them."""

    formula: Formula
    shards: int
    events: list[MeterEvent]
    figures: bool = False  # an additive meter whose running figures are kept (`store.usage.figures`)


def record(
    account: str, formula: Formula, shards: int, events: list[MeterEvent], now: int, *, figures: bool = False
) -> Outcome:
    """Store each of one meter's events once: `record_groups` with one group."""
    return record_groups(account, [Group(formula, shards, events, figures)], now)


def record_groups(account: str, groups: list[Group], now: int) -> Outcome:
    """Store each event once (its usage follows through the stream's aggregator) — marked, with
    its group's `figures`, for its customer's figure too. The groups' events are written together:
    one event by a Put, several by INSERTs, 25 to a request whatever their meters.

    An identifier names one event per account, whatever the meter: a repeat inside the request is
    a duplicate of its first occurrence, and events whose identifier is already stored (now or by
    a concurrent writer) are duplicates answered with the standing event. Raises Conflict (409,
    retryable) if contention persists; whatever was stored before that is stored exactly once, so
    a retry is safe.
    """
    outcome = Outcome()
    first: dict[str, MeterEvent] = {}
    stored_before: list[MeterEvent] = []
    writes: list[tuple[MeterEvent, Action, int]] = []
    for group in groups:
        figures = group.figures and group.formula.additive
        for e in group.events:  # duplicates inside the request: the first occurrence stands
            if e.identifier in first:
                outcome.duplicates.append((e, first[e.identifier]))
                continue
            first[e.identifier] = e
            bucket = bucket_of(account, e, group.shards)
            writes.append((e, *event_put(account, e, bucket, now, group.formula, figures)))
    taken = writes if len(writes) == 1 else []  # one event: its Put; several: INSERTs first
    for i in range(0, len(writes), INSERTS) if len(writes) > 1 else ():
        stored, refused = _insert(writes[i : i + INSERTS])
        outcome.stored += stored
        taken += refused
    for e, action, units in taken:  # the Put decides: free (or expired) → stored, else a duplicate
        if _put(action, units):
            outcome.stored.append(e)
        else:
            stored_before.append(e)
    if stored_before:
        standing = duplicates.standing(account, [e.identifier for e in stored_before])
        for e in stored_before:
            outcome.duplicates.append((e, standing.get(e.identifier, e)))
    return outcome


def _insert(
    writes: list[tuple[MeterEvent, Action, int]],
) -> tuple[list[MeterEvent], list[tuple[MeterEvent, Action, int]]]:
    """Write ≤ 25 events by INSERT: (stored, those whose key was taken), retrying busy statements."""
    stored: list[MeterEvent] = []
    taken: list[tuple[MeterEvent, Action, int]] = []
    pending = writes
    for attempt in range(ATTEMPTS):
        codes = transact([event_insert(action) for _, action, _ in pending], [units for *_, units in pending])
        if codes is None:
            return stored + [e for e, _, _ in pending], taken
        if codes:
            busy = []
            for write, code in zip(pending, codes, strict=True):
                if code is None:
                    stored.append(write[0])
                elif code == errors.CONDITION_FAILED:
                    taken.append(write)
                else:
                    busy.append(write)
            pending = busy
            if not pending:
                return stored, taken
        time.sleep(min(0.5, 0.01 * 2**attempt))  # backoff, not billing time
    raise Conflict("Meter events are contended right now; retry the request (it is safe to retry).")


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
