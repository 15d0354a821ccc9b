"""The running figure's item (issue 15, point 3): its key, its reading, and the updates that add
usage to it — what the aggregator writes in the buckets' transaction (`aggregator`). Registering
windows and answering them is `figures`, which re-exports these names."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tally.domain.aggregation import Formula
from tally.domain.records import MeterEvent
from tally.settings import settings
from tally.store.aws import dynamodb
from tally.store.usage.stats import STATS

INF = 10**11 // 3600 * 3600  # "no end": after any stamp (an hour start; keys keep 11 digits)
SK = "f"
ATTEMPTS = 3

Action = dict[str, Any]


def key(account: str, meter_id: str, customer: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"{account}#usagefig#{meter_id}#{customer}"}, "sk": {"S": SK}}


@dataclass
class Figure:
    """A figure item as read (None fields: absent or never registered)."""

    ver: int = 0
    exists: bool = False
    cuts: list[int] = field(default_factory=list)
    hlo: int | None = None
    hhi: int | None = None
    counters: dict[int, int] = field(default_factory=dict)  # interval start → usage (hot included)

    @property
    def registered(self) -> bool:
        return self.hlo is not None

    def interval_of(self, ts: int) -> int | None:
        """The start of the interval holding `ts` (None: before every cut)."""
        found = None
        for c in self.cuts:
            if c <= ts:
                found = c
        return found

    def end_of(self, start: int) -> int:
        later = [c for c in self.cuts if c > start]
        return later[0] if later else INF

    def usage(self, start: int, end: int) -> int | None:
        """Usage in [start, end) if both are cuts (end may be INF), else None."""
        if start not in self.cuts or (end != INF and end not in self.cuts):
            return None
        return sum(v for c, v in self.counters.items() if start <= c < end)


def read(account: str, meter_id: str, customer: str) -> Figure:
    STATS.requests += 1
    item = (
        dynamodb()
        .get_item(TableName=settings().usage_table, Key=key(account, meter_id, customer), ConsistentRead=True)
        .get("Item")
    )
    STATS.items_read += 1 if item else 0
    STATS.read_units += 1
    return parse(item)


def parse(item: dict[str, Any] | None) -> Figure:
    """The figure of a raw item as DynamoDB returns it (None: absent)."""
    if not item:
        return Figure()
    f = Figure(ver=int(item.get("ver", {}).get("N", "0")), exists=True)
    if "hlo" not in item:
        return f
    f.cuts = [int(c) for c in item["cuts"]["S"].split(",") if c]
    f.hlo, f.hhi = int(item["hlo"]["N"]), int(item["hhi"]["N"])
    for c in f.cuts:
        name = "hot" if c == f.hlo else f"u{c}"
        f.counters[c] = int(item.get(name, {}).get("N", "0"))
    return f


def _sums(formula: Formula, events: list[MeterEvent], sign: int) -> int:
    return sum(sign * formula.contribution(e.value) for e in events)


def hot_action(account: str, formula: Formula, events: list[MeterEvent], sign: int = 1) -> Action:
    """ADD the events (one customer's) to the hot interval, if they all fall in it — or if the
    figure is not registered (absent: created bare): then only its `ver` matters (a registration
    racing this write starts over) and the registration rebuilds the rest."""
    e0 = events[0]
    stamps = [e.timestamp for e in events]
    return {
        "Update": {
            "TableName": settings().usage_table,
            "Key": key(account, e0.meter_id, e0.customer),
            "UpdateExpression": "ADD hot :v, ver :one",
            "ConditionExpression": "attribute_not_exists(hlo) OR (hlo <= :lo AND hhi > :hi)",
            "ExpressionAttributeValues": {
                ":v": {"N": str(_sums(formula, events, sign))},
                ":one": {"N": "1"},
                ":lo": {"N": str(min(stamps))},
                ":hi": {"N": str(max(stamps))},
            },
        }
    }


def read_action(
    account: str, formula: Formula, events: list[MeterEvent], figure: Figure, sign: int = 1
) -> Action:
    """The figure's update for the events (one customer's) given the item as read: ADD each
    interval's share (on the cuts read), or, unregistered, only `ver` (so a registration racing
    this write fails and starts over)."""
    e0 = events[0]
    values: dict[str, Any] = {":one": {"N": "1"}}
    if not figure.registered:
        return {
            "Update": {
                "TableName": settings().usage_table,
                "Key": key(account, e0.meter_id, e0.customer),
                "UpdateExpression": "ADD ver :one",
                "ConditionExpression": "attribute_not_exists(hlo)",
                "ExpressionAttributeValues": values,
            }
        }
    shares: dict[int, int] = defaultdict(int)
    for e in events:
        start = figure.interval_of(e.timestamp)
        if start is not None:  # usage before every cut is not kept
            shares[start] += sign * formula.contribution(e.value)
    parts = ["ver :one"]
    for start, amount in sorted(shares.items()):
        name = "hot" if start == figure.hlo else f"u{start}"
        values[f":{name}"] = {"N": str(amount)}
        parts.append(f"{name} :{name}")
    values[":cuts"] = {"S": ",".join(str(c) for c in figure.cuts)}
    values[":hlo"] = {"N": str(figure.hlo)}
    return {
        "Update": {
            "TableName": settings().usage_table,
            "Key": key(account, e0.meter_id, e0.customer),
            "UpdateExpression": "ADD " + ", ".join(parts),
            "ConditionExpression": "cuts = :cuts AND hlo = :hlo",
            "ExpressionAttributeValues": values,
        }
    }
