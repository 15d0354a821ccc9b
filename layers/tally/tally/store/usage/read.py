"""Reading usage: per-hour values of a meter for a customer, and their aggregate.

A read touches one item per hour per shard, whatever the number of events; an hour only partly
inside the span is read from its per-minute counters (or, for `last`, its minute items).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tally.domain.aggregation import MINUTE, Formula, Latest, Span
from tally.domain.records import Meter
from tally.settings import settings
from tally.store.aws import dynamodb
from tally.store.usage.keys import UsageKeys
from tally.store.usage.stats import STATS


def _query(pk: str, low: str, high: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": settings().usage_table,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": {"S": low}, ":hi": {"S": high}},
        "ConsistentRead": True,
    }
    while True:
        STATS.requests += 1
        resp = dynamodb().query(**kwargs)
        items += resp.get("Items", [])
        STATS.items_read += resp.get("Count", 0)
        STATS.read_units += max(0.5, resp.get("Count", 0) / 4)  # ≤ 1 KB items, 4 KB per RCU
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


@dataclass
class HourValue:
    hour: int
    total: int = 0
    latest: Latest | None = None


def _latest_of(item: dict[str, Any]) -> Latest:
    return Latest(int(item["lt"]["N"]), int(item["lv"]["N"]))


def hourly(account: str, meter: Meter, customer: str, start: int, end: int) -> dict[int, HourValue]:
    """Per-hour usage in the minute-aligned [start, end): reads one item per hour per shard."""
    additive = meter.formula.additive
    span = Span.aligned(start, end)
    first, last = span.hours()
    out: dict[int, HourValue] = {}
    if last < first:
        return out
    for shard in range(meter.write_shards or 1):
        pk = UsageKeys.bucket(account, meter.id, customer, shard)
        for item in _query(pk, UsageKeys.hour(first), UsageKeys.hour(last)):
            hour = int(item["sk"]["S"][2:])
            slot = out.setdefault(hour, HourValue(hour))
            if additive:
                if span.covers(hour):
                    slot.total += int(item.get("v", {}).get("N", "0"))
                else:
                    slot.total += sum(
                        int(item.get(f"m{m:02d}", {}).get("N", "0")) for m in span.minutes_in(hour)
                    )
            elif "lt" in item:
                if span.covers(hour):
                    slot.latest = Latest.pick(slot.latest, _latest_of(item))
                else:
                    minutes = span.minutes_in(hour)
                    lo, hi = hour + minutes.start * MINUTE, hour + (minutes.stop - 1) * MINUTE
                    for m in _query(pk, UsageKeys.minute(lo), UsageKeys.minute(hi)):
                        slot.latest = Latest.pick(slot.latest, _latest_of(m))
    return out


def combine(formula: Formula, hours: list[HourValue]) -> int:
    if formula.additive:
        return sum(h.total for h in hours)
    best: Latest | None = None
    for h in sorted(hours, key=lambda h: h.hour):
        best = Latest.pick(best, h.latest)
    return best.value if best else 0


def aggregate(account: str, meter: Meter, customer: str, start: int, end: int) -> int:
    """The meter's aggregated value for a customer over minute-aligned [start, end)."""
    return combine(meter.formula, list(hourly(account, meter, customer, start, end).values()))
