"""Adding stored events to their buckets, exactly once, from the usage table's stream (issue 15).

Input: the stream records of ONE shard, in sequence order (`catchup` reads them). Counted: an
INSERT of an event item carrying `fm` (written by `write.record`), and a MODIFY that replaced an
expired event (its new image has no `cancelled`: a cancel's mark is the only other MODIFY of an
event item). Ignored: everything else — bucket items' own changes, cancels (which correct the
buckets themselves, `adjust`), TTL deletions, event items of the synchronous path (no `fm`).

Per (bucket, hour) the records become the same updates the synchronous path made (the hour's
`ADD v, n, mMM`, each minute's per-second item, each segment's; for `last` the conditional SETs),
summed over the whole batch — so a batch of any size pays one write per item it touches.

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
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from tally.domain.aggregation import HOUR, MINUTE, Formula, Latest, floor_to
from tally.domain.records import MeterEvent
from tally.errors import Conflict
from tally.settings import settings
from tally.store import errors
from tally.store.aws import dynamodb
from tally.store.usage import figure_items as figures_store
from tally.store.usage.actions import BUCKET_UNITS, Action, additive_update, last_update, seconds_updates
from tally.store.usage.duplicates import event_of
from tally.store.usage.keys import EVENT_SK, FIGURES_MARK, FORMULA_MARK, SEGMENT_MARK, UsageKeys
from tally.store.usage.stats import STATS

ATTEMPTS = 8
SEQ_DIGITS = 40  # stream sequence numbers are decimal strings of up to 40 digits: padded, they sort


@dataclass(frozen=True)
class Counted:
    """One event a stream record adds: its position, account, bucket pk and meter's formula."""

    seq: str
    account: str
    bucket: str
    formula: Formula
    figures: bool
    event: MeterEvent


def seq_key(sequence_number: str) -> str:
    return sequence_number.zfill(SEQ_DIGITS)


def shard_tag(shard_id: str) -> str:
    """The marker attribute of a shard on a bucket item (`q` + 8 hex digits of its id)."""
    return "q" + hashlib.sha256(shard_id.encode()).hexdigest()[:8]


def counted(record: dict[str, Any]) -> Counted | None:
    """The event a stream record adds to the buckets, if any (see the module's rules)."""
    body = record.get("dynamodb", {})
    keys, image = body.get("Keys", {}), body.get("NewImage")
    if not image or keys.get("sk", {}).get("S") != EVENT_SK or FORMULA_MARK not in image:
        return None
    name = record.get("eventName")
    if name not in ("INSERT", "MODIFY") or (name == "MODIFY" and "cancelled" in image):
        return None
    pk = image["pk"]["S"]
    event = replace(
        event_of(image, payload=False), segment=image[SEGMENT_MARK]["S"] if SEGMENT_MARK in image else None
    )
    return Counted(
        seq_key(body["SequenceNumber"]),
        pk.split("#mev#", 1)[0],
        image["bucket"]["S"],
        Formula(image[FORMULA_MARK]["S"]),
        FIGURES_MARK in image,
        event,
    )


@dataclass
class Plan:
    """One item's update for a run of records: `build(events)` makes the action (None: nothing)."""

    pk: str
    sk: str
    records: list[Counted]
    build: Callable[[list[MeterEvent]], Action | None]
    marked: bool = True


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
        plans = _plans(bucket, hour, members)
        if e0.figures and e0.formula.additive:
            _together(tag, plans, members, out)
        else:
            for plan in plans:
                _alone(tag, plan, out)
            out.applied += len(members)
    return out


def _plans(bucket: str, hour: int, members: list[Counted]) -> list[Plan]:
    """The items a (bucket, hour)'s records update: the meter-level ones, then each segment's."""
    plans = _bucket_plans(bucket, hour, members)
    by_segment: dict[str, list[Counted]] = defaultdict(list)
    for c in members:
        if c.event.segment is not None:
            by_segment[c.event.segment].append(c)
    for segment, seg_members in by_segment.items():
        plans += _bucket_plans(UsageKeys.segment_bucket(bucket, segment), hour, seg_members)
    return plans


def _bucket_plans(pk: str, hour: int, members: list[Counted]) -> list[Plan]:
    formula = members[0].formula
    by_minute: dict[int, list[Counted]] = defaultdict(list)
    for c in members:
        by_minute[floor_to(c.event.timestamp, MINUTE)].append(c)
    plans: list[Plan] = []
    if formula.additive:
        plans.append(
            Plan(pk, UsageKeys.hour(hour), members, lambda es: additive_update(pk, hour, es, formula))
        )
    else:
        plans.append(
            Plan(pk, UsageKeys.hour(hour), members, lambda es: _last(pk, UsageKeys.hour(hour), es), False)
        )
        for minute, ms in sorted(by_minute.items()):
            sk = UsageKeys.minute(minute)
            plans.append(Plan(pk, sk, ms, functools.partial(_last, pk, sk), False))
    for minute, ms in sorted(by_minute.items()):
        plans.append(
            Plan(pk, UsageKeys.seconds(minute), ms, lambda es: seconds_updates(pk, es, formula)[0][1])
        )
    return plans


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


def _marker(pk: str, sk: str, tag: str) -> str | None:
    """The position the shard `tag` has applied to an item (a consistent read)."""
    STATS.requests += 1
    item = (
        dynamodb()
        .get_item(
            TableName=settings().usage_table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=True,
            ProjectionExpression="#q",
            ExpressionAttributeNames={"#q": tag},
        )
        .get("Item")
    )
    STATS.items_read += 1 if item else 0
    STATS.read_units += 1
    return item[tag]["S"] if item and tag in item else None


def write(actions: list[Action], units: int) -> list[str | None] | None:
    """One aggregator write (an item's update, or a figure transaction): the seam crash tests patch."""
    from tally.store.usage import write as store_write

    return store_write.run(actions, units)


def _alone(tag: str, plan: Plan, out: Result) -> None:
    """Apply one item's records, once (see the module's exactly-once rule)."""
    records, read = plan.records, None
    for attempt in range(ATTEMPTS):
        action = plan.build([c.event for c in records])
        if action is None:
            return
        if plan.marked:
            action = _marked(action, tag, records[0].seq, records[-1].seq, read)
        reasons = write([action], BUCKET_UNITS)
        if reasons is None:
            out.writes += 1
            return
        if reasons != [errors.CONDITION_FAILED]:
            time.sleep(min(0.5, 0.01 * 2**attempt))  # busy: backoff, not billing time
            continue
        if not plan.marked:
            return  # a later `last` value already stands
        read = _marker(plan.pk, plan.sk, tag)
        records = [c for c in records if read is None or c.seq > read]
        if not records:
            return
    raise Conflict("The usage aggregator is contended; the next catch-up retries (nothing is lost).")


def _together(tag: str, plans: list[Plan], members: list[Counted], out: Result) -> None:
    """Apply a (bucket, hour)'s items and the customer's running figure in one transaction per run
    of ≤ 99 items (records in stream order, so every item's marker advances in order)."""
    start = 0
    while start < len(members):
        end = start
        chosen: set[tuple[str, str]] = set()
        while end < len(members):
            keys = {(p.pk, p.sk) for p in plans if members[end] in p.records}
            if len(chosen | keys) > 99 and end > start:
                break
            chosen |= keys
            end += 1
        run = members[start:end]
        _together_run(tag, [_narrowed(p, run) for p in plans if (p.pk, p.sk) in chosen], run, out)
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
        reasons = write(actions, 2 * BUCKET_UNITS * len(actions))
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
            read = _marker(p.pk, p.sk, tag)
            reads[(p.pk, p.sk)] = read
            pending[(p.pk, p.sk)] = [c for c in pending[(p.pk, p.sk)] if read is None or c.seq > read]
    raise Conflict("The usage aggregator is contended; the next catch-up retries (nothing is lost).")
