"""Reading usage: per-hour values of a meter for a customer over [start, end) to the second, and
their aggregate.

A read touches one item per hour per shard, whatever the number of events: an hour inside the
span is read whole, an hour only partly inside from its per-minute counters (or, for `last`, its
minute items). A boundary inside a minute (a cancel, a trial end, an alert's creation at any
second) costs one more item per shard, the minute's per-second item, all of them fetched in one
BatchGetItem per read. Usage stored before per-second items existed has no second: what the
minute counter holds beyond its per-second item is read as stamped at the minute's first second.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from tally.domain.aggregation import HOUR, MINUTE, Formula, Latest, Partial, Span, floor_to, minute_of_hour
from tally.domain.records import Meter
from tally.settings import settings
from tally.store.aws import dynamodb
from tally.store.usage.keys import UsageKeys
from tally.store.usage.stats import STATS

Item = dict[str, Any]
BATCH_GET = 100


def _units(items: list[Item]) -> float:
    return max(0.5, len(items) / 4)  # ≤ 1 KB items, 4 KB per RCU (consistent: 1 RCU per 4 KB)


def _query(pk: str, low: str, high: str) -> list[Item]:
    items: list[Item] = []
    kwargs: dict[str, Any] = {
        "TableName": settings().usage_table,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": {"S": low}, ":hi": {"S": high}},
        "ConsistentRead": True,
    }
    while True:
        STATS.requests += 1
        resp = dynamodb().query(**kwargs)
        found = resp.get("Items", [])
        items += found
        STATS.items_read += len(found)
        STATS.read_units += _units(found)
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def _get_all(keys: list[tuple[str, str]]) -> dict[tuple[str, str], Item]:
    """The items of `keys` that exist, by (pk, sk): consistent BatchGetItem, 100 keys a request."""
    table = settings().usage_table
    out: dict[tuple[str, str], Item] = {}
    pending = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys]
    while pending:
        chunk, pending = pending[:BATCH_GET], pending[BATCH_GET:]
        STATS.requests += 1
        resp = dynamodb().batch_get_item(RequestItems={table: {"Keys": chunk, "ConsistentRead": True}})
        found = resp.get("Responses", {}).get(table, [])
        STATS.items_read += len(found)
        STATS.read_units += len(found)  # each item of a batch is rounded up to 4 KB: 1 RCU, consistent
        for item in found:
            out[(item["pk"]["S"], item["sk"]["S"])] = item
        pending += resp.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return out


@dataclass
class HourValue:
    hour: int
    total: int = 0
    latest: Latest | None = None


def _number(item: Item | None, name: str) -> int:
    return int(item.get(name, {}).get("N", "0")) if item else 0


def _latest_of(item: Item) -> Latest:
    return Latest(int(item["lt"]["N"]), int(item["lv"]["N"]))


def _merged(minute: int, seconds: Item | None, detail: Item | None) -> Item | None:
    """A minute's per-second totals (`sSS`): its share of the hour's detail item plus its own
    per-second item (what came after the detail item froze, and cancels' corrections)."""
    if detail is None:
        return seconds
    first = minute % HOUR
    out: Item = dict(seconds or {})
    for s in range(MINUTE):
        name = f"s{first + s:04d}"
        if name in detail:
            out[f"s{s:02d}"] = {"N": str(_number(out, f"s{s:02d}") + int(detail[name]["N"]))}
    return out if out or seconds is not None else None


def _partial_total(part: Partial, hour_item: Item | None, seconds: Item | None) -> int:
    """An additive meter's usage in part of a minute: its per-second totals in [lo, hi), plus, when
    the part holds the minute's first second, what the minute counter holds beyond the per-second
    item (usage stored before per-second items existed, read as stamped at that second)."""
    total = sum(_number(seconds, f"s{s:02d}") for s in range(part.lo, part.hi))
    if part.holds_first_second:
        counted = sum(_number(seconds, f"s{s:02d}") for s in range(MINUTE))
        total += _number(hour_item, f"m{minute_of_hour(part.minute):02d}") - counted
    return total


def _partial_latest(part: Partial, seconds: Item | None) -> Latest | None:
    """A `last` meter's latest value in part of a minute, from its per-second item."""
    for s in range(part.hi - 1, part.lo - 1, -1):
        if seconds is not None and f"l{s:02d}" in seconds:
            return Latest(part.minute + s, int(seconds[f"l{s:02d}"]["N"]))
    return None


def hourly(
    account: str, meter: Meter, customer: str, start: int, end: int, segment: str | None = None
) -> dict[int, HourValue]:
    """Per-hour usage of events stamped in [start, end), to the second: reads one item per hour
    per shard, plus one per shard for each of the (at most two) minutes a boundary falls inside.
    With `segment` (a digest, meters with dimensions): the usage of that segment only.

    What the buckets hold: the usage package's `hourly` (`settled`) catches the stream up first."""
    additive = meter.formula.additive
    span = Span(start, end)
    first, last = span.hours()
    out: dict[int, HourValue] = {}
    if last < first:
        return out
    pks = [UsageKeys.bucket(account, meter.id, customer, shard) for shard in range(meter.write_shards or 1)]
    if segment is not None:
        pks = [UsageKeys.segment_bucket(pk, segment) for pk in pks]
    partials = span.partials()
    keys = [(pk, UsageKeys.seconds(p.minute)) for pk in pks for p in partials]
    if additive:  # both partial minutes may lie in one hour: its detail item once
        hours_of = dict.fromkeys(floor_to(p.minute, HOUR) for p in partials)
        keys += [(pk, UsageKeys.detail(hour)) for pk in pks for hour in hours_of]
    seconds = _get_all(keys)
    for pk in pks:
        hours = {
            int(item["sk"]["S"][2:]): item for item in _query(pk, UsageKeys.hour(first), UsageKeys.hour(last))
        }
        for hour, item in hours.items():
            slot = out.setdefault(hour, HourValue(hour))
            if additive:
                if span.covers(hour):
                    slot.total += _number(item, "v")
                else:
                    slot.total += sum(_number(item, f"m{m:02d}") for m in span.minutes_in(hour))
            elif "lt" in item:
                if span.covers(hour) or span.contains(int(item["lt"]["N"])):
                    # the hour's latest event lies in the span: it is the span's latest in the hour
                    slot.latest = Latest.pick(slot.latest, _latest_of(item))
                else:
                    lo, hi = max(start, hour), min(end, hour + 3600) - 1
                    for m in _query(
                        pk, UsageKeys.minute(lo - lo % MINUTE), UsageKeys.minute(hi - hi % MINUTE)
                    ):
                        if span.contains(int(m["lt"]["N"])):  # whole minutes; a part's when in it
                            slot.latest = Latest.pick(slot.latest, _latest_of(m))
        for part in partials:
            hour = part.minute - part.minute % 3600
            found = seconds.get((pk, UsageKeys.seconds(part.minute)))
            if additive:
                found = _merged(part.minute, found, seconds.get((pk, UsageKeys.detail(hour))))
            if found is None and hour not in hours:
                continue
            slot = out.setdefault(hour, HourValue(hour))
            if additive:
                slot.total += _partial_total(part, hours.get(hour), found)
            else:
                slot.latest = Latest.pick(slot.latest, _partial_latest(part, found))
    return out


def combine(formula: Formula, hours: list[HourValue]) -> int:
    if formula.additive:
        return sum(h.total for h in hours)
    best: Latest | None = None
    for h in sorted(hours, key=lambda h: h.hour):
        best = Latest.pick(best, h.latest)
    return best.value if best else 0


# A reader that may answer `aggregate` from elsewhere in the current context — the running
# figures (`billing.usage_figures.read_through`, set by credit burndown): it returns None when it
# cannot answer exactly, and the buckets are read.
Reader = Callable[[str, Meter, str, int, int], "int | None"]
READER: ContextVar[Reader | None] = ContextVar("usage_reader", default=None)


def aggregate(account: str, meter: Meter, customer: str, start: int, end: int) -> int:
    """The meter's aggregated value for a customer over events stamped in [start, end), to the
    second (any instants: adjacent spans count each event exactly once) — from the context's
    `READER` when it answers, else from the buckets."""
    reader = READER.get()
    if reader is not None:
        token = READER.set(None)  # the reader's own reads go to the buckets
        try:
            found = reader(account, meter, customer, start, end)
        finally:
            READER.reset(token)
        if found is not None:
            return found
    return aggregate_buckets(account, meter, customer, start, end)


def aggregate_buckets(account: str, meter: Meter, customer: str, start: int, end: int) -> int:
    """`aggregate` from the hour buckets, whatever the context."""
    return combine(meter.formula, list(hourly(account, meter, customer, start, end).values()))
