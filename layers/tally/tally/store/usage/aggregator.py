"""Adding stored events to their buckets, exactly once, from the usage table's stream (issue 15).

Input: the stream records of ONE shard, in sequence order (`catchup` reads them); those that add
an event are `stream_records.counted`'s (the others — bucket items' own changes, cancels, which
correct the buckets themselves, `adjust`, TTL deletions — are ignored).

Per (bucket, hour) the records become: the hour's `ADD v, n, mMM`; an additive meter's per-second
usage in the hour's ONE detail item (`actions.detail_update`) while it holds ≤ `DETAIL_SECONDS`
seconds, then — once it is frozen — in each minute's per-second item; for `last`, each minute's
per-second item and the conditional SETs; each segment's the same. Summed over the whole batch —
so a batch of any size pays one write per item it touches.

The detail item's split is exact: its update is also conditional on it being neither frozen nor
full. When it refuses, it is read; if the records past this shard's marker don't fit, it is
frozen, conditional on that marker (`_detail_failed`). A frozen item takes no more writes, so its
marker is final: the shard's records up to it are in the detail item, those past it go to the
per-minute items (`_Spill`), whichever applier does it, crashed or concurrent.

Exactly once: every update of an additive or per-second item also SETs `q<shard tag>` to the
batch's last sequence number on that item, conditional on the item not having applied it
(`attribute_not_exists(q) OR q < :first`). If that fails (a concurrent or earlier applier got
there), the item's `q` is read and only the records past it are applied, conditional on `q` being
what was read. This is exact because every applier processes a contiguous run of the shard that
starts at or before the checkpoint (`catchup`), which never passes a record not yet applied to
every item. `last` hour and minute items keep their own condition (`lt <= :ts`: a later value
stands), which a replay cannot change.

On a meter whose running figures are kept (event items with `fg`), the items of a (bucket, hour)
and the customer's figure are updated in ONE transaction (a registration reading the buckets
never sees one without the other, `figures`); elsewhere each item is its own write (1 WRU).

Crash points: any single write (all or nothing); between writes an item has applied its part and
records its position, so the retry (the next catch-up, from the unchanged checkpoint) applies the
rest and skips what stands.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from tally.domain.aggregation import HOUR, MINUTE, Latest, floor_to
from tally.domain.records import MeterEvent
from tally.errors import Conflict
from tally.settings import settings
from tally.store import errors
from tally.store.aws import dynamodb
from tally.store.usage import figure_items as figures_store
from tally.store.usage.actions import (
    BUCKET_UNITS,
    DETAIL_SECONDS,
    Action,
    additive_update,
    detail_seconds,
    detail_update,
    item_bytes,
    last_update,
    seconds_updates,
)
from tally.store.usage.keys import UsageKeys
from tally.store.usage.stats import STATS
from tally.store.usage.stream_records import SEQ_DIGITS, Counted, counted, seq_key, shard_tag

__all__ = ["SEQ_DIGITS", "Counted", "apply", "counted", "seq_key", "shard_tag", "write"]

ATTEMPTS = 8
DETAIL_UNITS = 3  # an hour's detail item is ≤ 3 KB (`actions.DETAIL_SECONDS`)
DETAIL_WRITE = 100  # seconds per update of a detail item (its expression's length)


@dataclass
class Plan:
    """One item's update for a run of records: `build(events)` makes the action (None: nothing)."""

    pk: str
    sk: str
    records: list[Counted]
    build: Callable[[list[MeterEvent]], Action | None]
    marked: bool = True
    detail: bool = False  # an hour's detail item: full or frozen, its records go to minute items


class _Spill(Exception):
    """An hour's detail item is frozen: the records of `pk` past `point` (this shard's marker on
    it, None: all) go to per-minute items instead."""

    def __init__(self, pk: str, point: str | None) -> None:
        super().__init__(pk)
        self.pk, self.point = pk, point


@dataclass
class Result:
    counted: int = 0  # records that add an event (the others are ignored)
    applied: int = 0  # records newly applied to at least their hour item
    writes: int = 0
    touched: set[tuple[str, str, str]] = field(default_factory=set)  # (account, meter, customer)


def apply(shard_id: str, records: list[dict[str, Any]]) -> Result:
    """Add the events of `records` (one shard's, in order) to their buckets, exactly once."""
    tag = shard_tag(shard_id)
    out = Result()
    groups: dict[tuple[str, int], list[Counted]] = defaultdict(list)
    for record in records:
        c = counted(record)
        if c is not None:
            out.counted += 1
            groups[(c.bucket, floor_to(c.event.timestamp, HOUR))].append(c)
    for (bucket, hour), members in groups.items():
        e0 = members[0]
        out.touched.add((e0.account, e0.event.meter_id, e0.event.customer))
        if e0.figures and e0.formula.additive:
            _together(tag, bucket, hour, members, out)
        else:
            spilled: dict[str, str | None] = {}
            for plan in _plans(bucket, hour, members, spilled):
                for part in _write_sized(plan):
                    if part.pk in spilled:
                        break  # the rest of a frozen detail item's records went to minute items
                    try:
                        _alone(tag, part, out)
                    except _Spill as spill:
                        spilled[spill.pk] = spill.point
                        for minutes in _seconds_plans(plan.pk, _past(plan.records, spill.point)):
                            _alone(tag, minutes, out)
            out.applied += len(members)
    return out


def _write_sized(plan: Plan) -> list[Plan]:
    """A detail plan cut into runs of ≤ `DETAIL_WRITE` seconds, in stream order (an update
    expression stays far below DynamoDB's 4 KB; each run is applied like a batch of its own)."""
    if not plan.detail:
        return [plan]
    parts: list[Plan] = []
    start = 0
    while start < len(plan.records):
        seen: set[int] = set()
        end = start
        while end < len(plan.records) and len(seen | {plan.records[end].event.timestamp}) <= DETAIL_WRITE:
            seen.add(plan.records[end].event.timestamp)
            end += 1
        parts.append(replace(plan, records=plan.records[start:end]))
        start = end
    return parts


def _plans(bucket: str, hour: int, members: list[Counted], spilled: dict[str, str | None]) -> list[Plan]:
    """The items a (bucket, hour)'s records update: the meter-level ones, then each segment's.
    `spilled`: the buckets whose detail item is frozen, with its spill point (`_Spill`)."""
    plans = _bucket_plans(bucket, hour, members, spilled)
    by_segment: dict[str, list[Counted]] = defaultdict(list)
    for c in members:
        if c.event.segment is not None:
            by_segment[c.event.segment].append(c)
    for segment, seg_members in by_segment.items():
        plans += _bucket_plans(UsageKeys.segment_bucket(bucket, segment), hour, seg_members, spilled)
    return plans


def _bucket_plans(pk: str, hour: int, members: list[Counted], spilled: dict[str, str | None]) -> list[Plan]:
    """An additive meter: the hour item, and the hour's detail item (or, once that is frozen, the
    per-minute items of the records past its spill point). `last`: the hour item, each minute's
    item and each minute's per-second item."""
    formula = members[0].formula
    if formula.additive:
        hour_plan = Plan(pk, UsageKeys.hour(hour), members, lambda es: additive_update(pk, hour, es, formula))
        if pk not in spilled:
            detail = Plan(
                pk,
                UsageKeys.detail(hour),
                members,
                lambda es: detail_update(pk, hour, es, formula),
                detail=True,
            )
            return [hour_plan, detail]
        return [hour_plan, *_seconds_plans(pk, _past(members, spilled[pk]))]
    plans = [Plan(pk, UsageKeys.hour(hour), members, lambda es: _last(pk, UsageKeys.hour(hour), es), False)]
    for minute, ms in sorted(_by_minute(members).items()):
        sk = UsageKeys.minute(minute)
        plans.append(Plan(pk, sk, ms, functools.partial(_last, pk, sk), False))
    return plans + _seconds_plans(pk, members)


def _by_minute(members: list[Counted]) -> dict[int, list[Counted]]:
    by_minute: dict[int, list[Counted]] = defaultdict(list)
    for c in members:
        by_minute[floor_to(c.event.timestamp, MINUTE)].append(c)
    return by_minute


def _seconds_plans(pk: str, members: list[Counted]) -> list[Plan]:
    """The per-minute per-second items of `members` (one plan per minute they fall in)."""
    if not members:
        return []
    formula = members[0].formula
    return [
        Plan(pk, UsageKeys.seconds(minute), ms, lambda es: seconds_updates(pk, es, formula)[0][1])
        for minute, ms in sorted(_by_minute(members).items())
    ]


def _past(records: list[Counted], point: str | None) -> list[Counted]:
    return [c for c in records if point is None or c.seq > point]


def _last(pk: str, sk: str, events: list[MeterEvent]) -> Action | None:
    best: Latest | None = None
    for e in events:  # in stream order: ties within a second go to the later arrival
        best = Latest.pick(best, Latest(e.timestamp, e.value))
    return None if best is None else last_update(pk, sk, best)


def _marked(action: Action, tag: str, first: str, last: str, read: str | None) -> Action:
    """`action` (an Update) that also records `last` as applied by the shard `tag`, conditional on
    the item not having applied `first` (or, after a re-read, on its marker being `read`)."""
    update = dict(action["Update"])
    names = {**update.get("ExpressionAttributeNames", {}), "#q": tag}
    values = {**update.get("ExpressionAttributeValues", {}), ":qlast": {"S": last}}
    expression = update["UpdateExpression"]
    if "SET " in expression:
        expression = expression.replace("SET ", "SET #q = :qlast, ", 1)
    else:
        expression += " SET #q = :qlast"
    if read is None:
        condition = "(attribute_not_exists(#q) OR #q < :qfirst)"
        values[":qfirst"] = {"S": first}
    else:
        condition = "#q = :qread"
        values[":qread"] = {"S": read}
    if "ConditionExpression" in update:
        condition = f"({update['ConditionExpression']}) AND {condition}"
    update.update(
        UpdateExpression=expression,
        ConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )
    return {"Update": update}


def _marked_item(pk: str, sk: str, tag: str, *also: str) -> dict[str, Any]:
    """An item's marker of the shard `tag`, and the attributes `also` (a consistent read)."""
    STATS.requests += 1
    item = (
        dynamodb()
        .get_item(
            TableName=settings().usage_table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=True,
            ProjectionExpression=", ".join(("#q", *also)),
            ExpressionAttributeNames={"#q": tag},
        )
        .get("Item")
        or {}
    )
    STATS.items_read += 1 if item else 0
    STATS.read_units += 1
    return item


def _marker(pk: str, sk: str, tag: str) -> str | None:
    """The position the shard `tag` has applied to an item."""
    item = _marked_item(pk, sk, tag)
    return item[tag]["S"] if tag in item else None


def write(actions: list[Action], units: int | Callable[[dict[str, Any]], int]) -> list[str | None] | None:
    """One aggregator write (an item's update, or a figure transaction): the seam crash tests patch."""
    from tally.store.usage import write as store_write

    return store_write.run(actions, units)


def _alone(tag: str, plan: Plan, out: Result) -> None:
    """Apply one item's records, once (see the module's exactly-once rule). A detail item that is
    (or gets) frozen raises `_Spill`."""
    records, read = plan.records, None
    for attempt in range(ATTEMPTS):
        if plan.detail and detail_seconds([c.event for c in records]) > DETAIL_SECONDS:
            records, read = _detail_failed(tag, plan, records)  # too many for any detail item
            if not records:
                return
            continue
        action = plan.build([c.event for c in records])
        if action is None:
            return
        if plan.marked:
            action = _marked(action, tag, records[0].seq, records[-1].seq, read)
        if plan.detail:
            action["Update"].update(ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
        reasons = write([action], _detail_units if plan.detail else BUCKET_UNITS)
        if reasons is None:
            out.writes += 1
            return
        if reasons != [errors.CONDITION_FAILED]:
            time.sleep(min(0.5, 0.01 * 2**attempt))  # busy: backoff, not billing time
            continue
        if not plan.marked:
            return  # a later `last` value already stands
        if plan.detail:
            records, read = _detail_failed(tag, plan, records)
        else:
            read = _marker(plan.pk, plan.sk, tag)
            records = _past(records, read)
        if not records:
            return
    raise Conflict("The usage aggregator is contended; the next catch-up retries (nothing is lost).")


def _detail_units(response: dict[str, Any]) -> int:
    """What an update of a detail item cost: its size after (ADD only grows it), or, for a failed
    condition, the size of the item that stood."""
    item = response.get("Attributes") or response.get("Item") or {}
    return max(1, -(-item_bytes(item) // 1024))


def _detail_state(pk: str, sk: str, tag: str) -> tuple[str | None, bool, int]:
    """An hour's detail item as the shard `tag` sees it: its marker, frozen, slots taken."""
    item = _marked_item(pk, sk, tag, "fz", "c")
    marker = item[tag]["S"] if tag in item else None
    return marker, "fz" in item, int(item.get("c", {}).get("N", "0"))


def _detail_failed(tag: str, plan: Plan, records: list[Counted]) -> tuple[list[Counted], str | None]:
    """After a detail item refused `records`: those it still lacks, and the marker to condition
    the next try on. Raises `_Spill` once the item is frozen — by this call when they don't fit.

    The freeze is conditional on this shard's marker being the one read, so the spill point (the
    marker, final once frozen: a frozen item takes no more writes) splits the shard's records
    exactly: those up to it are in the detail item, those past it go to per-minute items."""
    marker, frozen, taken = _detail_state(plan.pk, plan.sk, tag)
    records = _past(records, marker)
    if not records:
        return records, marker
    if frozen:
        raise _Spill(plan.pk, marker)
    if taken + detail_seconds([c.event for c in records]) > DETAIL_SECONDS:
        names = {"#fz": "fz", "#q": tag}
        values: dict[str, Any] = {":one": {"N": "1"}}
        if marker is None:
            condition = "attribute_not_exists(#fz) AND attribute_not_exists(#q)"
        else:
            condition = "attribute_not_exists(#fz) AND #q = :q"
            values[":q"] = {"S": marker}
        freeze = {
            "Update": {
                "TableName": settings().usage_table,
                "Key": {"pk": {"S": plan.pk}, "sk": {"S": plan.sk}},
                "UpdateExpression": "SET #fz = :one",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "ReturnValues": "ALL_NEW",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        if write([freeze], _detail_units) is None:
            raise _Spill(plan.pk, marker)
        # frozen by another applier, or this shard's marker moved: the next try reads it again
    return records, marker


def _together(tag: str, bucket: str, hour: int, members: list[Counted], out: Result) -> None:
    """Apply a (bucket, hour)'s items and the customer's running figure in one transaction per run
    of ≤ 99 items (records in stream order, so every item's marker advances in order). A detail
    item that freezes re-plans the rest of the records (from the same run on)."""
    spilled: dict[str, str | None] = {}
    plans = _plans(bucket, hour, members, spilled)
    start = 0
    while start < len(members):
        end = start
        chosen: set[tuple[str, str]] = set()
        seconds: dict[str, set[int]] = defaultdict(set)  # per detail item, in this run
        while end < len(members):
            keys = {(p.pk, p.sk) for p in plans if members[end] in p.records}
            details = [p.pk for p in plans if p.detail and members[end] in p.records]
            ts = members[end].event.timestamp
            if end > start and (
                len(chosen | keys) > 99 or any(len(seconds[pk] | {ts}) > DETAIL_WRITE for pk in details)
            ):
                break
            chosen |= keys
            for pk in details:
                seconds[pk].add(ts)
            end += 1
        run = members[start:end]
        try:
            _together_run(tag, [_narrowed(p, run) for p in plans if (p.pk, p.sk) in chosen], run, out)
        except _Spill as spill:
            spilled[spill.pk] = spill.point
            plans = _plans(bucket, hour, members, spilled)
            continue
        start = end


def _narrowed(plan: Plan, run: list[Counted]) -> Plan:
    inside = set(map(id, run))
    return replace(plan, records=[c for c in plan.records if id(c) in inside])


def _together_run(tag: str, plans: list[Plan], run: list[Counted], out: Result) -> None:
    e0 = run[0]
    reads: dict[tuple[str, str], str | None] = {}
    figure: figures_store.Figure | None = None
    pending = {(p.pk, p.sk): p.records for p in plans}
    for attempt in range(ATTEMPTS):
        actions, kinds = [], []
        for p in plans:
            records = pending[(p.pk, p.sk)]
            if p.detail and records and detail_seconds([c.event for c in records]) > DETAIL_SECONDS:
                pending[(p.pk, p.sk)], reads[(p.pk, p.sk)] = _detail_failed(tag, p, records)
                records = pending[(p.pk, p.sk)]
            action = p.build([c.event for c in records]) if records else None
            if action is None:
                continue
            if p.marked:
                action = _marked(action, tag, records[0].seq, records[-1].seq, reads.get((p.pk, p.sk)))
            actions.append(action)
            kinds.append(p)
        hour = plans[0]  # the hour item holds every record: what it still lacks goes to the figure
        fresh = [c.event for c in pending[(hour.pk, hour.sk)]]
        if not actions:
            return
        if fresh:
            if figure is None:
                actions.append(figures_store.hot_action(e0.account, e0.formula, fresh))
            else:
                actions.append(figures_store.read_action(e0.account, e0.formula, fresh, figure))
        # a transaction returns no sizes: a detail item counts at its bound (≤ 3 KB)
        units = BUCKET_UNITS * len(actions) + (DETAIL_UNITS - BUCKET_UNITS) * sum(p.detail for p in kinds)
        reasons = write(actions, 2 * units)
        if reasons is None:
            out.writes += len(actions)
            out.applied += len(fresh)
            return
        if not reasons:
            time.sleep(min(0.5, 0.01 * 2**attempt))
            continue
        for i, reason in enumerate(reasons):
            if reason != errors.CONDITION_FAILED:
                continue
            if i >= len(kinds):
                figure = figures_store.read(e0.account, e0.event.meter_id, e0.event.customer)
                continue
            p = kinds[i]
            if not p.marked:  # a later `last` value stands: that item has nothing to do
                pending[(p.pk, p.sk)] = []
                continue
            if p.detail:  # raises _Spill when frozen: `_together` re-plans
                pending[(p.pk, p.sk)], reads[(p.pk, p.sk)] = _detail_failed(tag, p, pending[(p.pk, p.sk)])
                continue
            read = _marker(p.pk, p.sk, tag)
            reads[(p.pk, p.sk)] = read
            pending[(p.pk, p.sk)] = [c for c in pending[(p.pk, p.sk)] if read is None or c.seq > read]
    raise Conflict("The usage aggregator is contended; the next catch-up retries (nothing is lost).")
