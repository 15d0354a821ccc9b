"""The TransactWriteItems actions of the usage table, and what they cost in write units.

One Put per event (its identifier item, conditional on the identifier being free), one ADD per
bucket hour of an additive meter, one conditional SET per bucket hour and minute of a `last` meter;
and the per-second detail, so a boundary inside a minute is read to the second: an additive
meter's first `DETAIL_SECONDS` seconds of an hour in ONE detail item (ADD `sSSSS`), the rest (and
a `last` meter's) in one per-second item per minute (ADD `sSS` / SET `lSS`).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from tally.domain.aggregation import MINUTE, Formula, Latest, floor_to, minute_of_hour
from tally.domain.records import MeterEvent
from tally.settings import settings
from tally.store.usage.keys import (
    EVENT_KEEP_SECONDS,
    FIGURES_MARK,
    FORMULA_MARK,
    SECONDS_MARK,
    SEGMENT_MARK,
    UsageKeys,
    event_key,
)

Action = dict[str, Any]

# One bucket hour item holds at most v, n and 60 minute counters, a per-second item at most 60
# numbers: each < 1 KB whatever the traffic.
BUCKET_UNITS = 1


def value_bytes(value: dict[str, Any]) -> int:
    """Size of one attribute value by DynamoDB's rules (numbers: ~1 byte per 2 digits + 1)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = len(v.lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_bytes(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(value_bytes(x) + 1 for x in v)
    return sum(len(str(x)) for x in v)  # sets


def item_bytes(item: dict[str, Any]) -> int:
    """Size of an item by DynamoDB's rules (names and values)."""
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def item_units(*texts: str, numbers: int = 0) -> int:
    """Write units of an item holding `texts` (names and strings) and `numbers` numbers."""
    size = sum(len(t.encode()) for t in texts) + 21 * numbers
    return max(1, -(-size // 1024))


def event_insert(put: Action) -> Action:
    """An event's Put as a PartiQL INSERT (`write.record` sends several in one BatchExecuteStatement):
    the same item, stored only if its key is free — a standing item, even an expired one, fails
    it with `DuplicateItem` (the Put's own condition then decides)."""
    body = put["Put"]
    item = body["Item"]
    names = list(item)
    fields = ", ".join(f"'{name}': ?" for name in names)
    return {
        "Insert": {
            "Statement": f'INSERT INTO "{body["TableName"]}" VALUE {{{fields}}}',
            "Parameters": [item[name] for name in names],
        }
    }


# compiled on first use (re caches it): nothing on the ingest path pays for it at import
_INSERT = r"""INSERT INTO "([^"]+)" VALUE \{('[^']+': \?(?:, '[^']+': \?)*)\}"""


def inserted(statement: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The (table, item) of a statement `event_insert` made, else None — its inverse, for what
    must read one back (the local runtime's moto, the bench's counters)."""
    found = re.fullmatch(_INSERT, statement.get("Statement", ""))
    if found is None:
        return None
    names = re.findall(r"'([^']+)': \?", found.group(2))
    parameters = statement.get("Parameters") or []
    if len(names) != len(parameters):
        return None
    return found.group(1), dict(zip(names, parameters, strict=True))


def event_put(
    account: str, e: MeterEvent, bucket_pk: str, now: int, formula: Formula, figures: bool = False
) -> tuple[Action, int]:
    """The Put of an event's identifier item (conditional on the identifier being free, or its
    item expired), and its write units."""
    item = {
        **event_key(account, e.identifier),
        "meter": {"S": e.meter_id},
        "customer": {"S": e.customer},
        "event_name": {"S": e.event_name},
        "value": {"N": str(e.value)},
        "ts": {"N": str(e.timestamp)},
        "created": {"N": str(e.created)},
        "expires": {"N": str(e.created + EVENT_KEEP_SECONDS)},
        "bucket": {"S": bucket_pk},
        "payload": {"S": json.dumps(e.payload, separators=(",", ":"))},
        SECONDS_MARK: {"N": "1"},
    }
    if e.received is not None:  # on a test clock: its time of receipt (the cancel window's start)
        item["received"] = {"N": str(e.received)}
    if e.request is not None:  # a v1 Idempotency-Key's record (`domain.meter_events.request_tag`)
        item["rq"] = {"S": e.request}
    if e.segment is not None:  # a meter with dimensions: the segment a cancel must correct too
        item[SEGMENT_MARK] = {"S": e.segment}
    # What the aggregator (`store.usage.aggregator`) needs from the stream's image alone: the
    # meter's formula (its presence also says "aggregated from the stream", issue 15) and whether
    # the customer's running figure is kept.
    item[FORMULA_MARK] = {"S": formula.value}
    if figures:
        item[FIGURES_MARK] = {"N": "1"}
    units = item_units(
        *(v.get("S", "") for v in item.values()), *item.keys(), numbers=6 + ("received" in item) + figures
    )
    return (
        {
            "Put": {
                "TableName": settings().usage_table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk) OR expires < :now",
                "ExpressionAttributeValues": {":now": {"N": str(now)}},
            }
        },
        units,
    )


def additive_update(pk: str, hour: int, events: list[MeterEvent], formula: Formula, sign: int = 1) -> Action:
    """ADD the events (or subtract them, sign=-1) to the bucket hour and its minute counters."""
    per_minute: dict[int, int] = defaultdict(int)
    for e in events:
        per_minute[minute_of_hour(e.timestamp)] += sign * formula.contribution(e.value)
    names = {"#v": "v", "#n": "n"}
    values = {":v": {"N": str(sum(per_minute.values()))}, ":n": {"N": str(sign * len(events))}}
    parts = ["#v :v", "#n :n"]
    for minute, amount in sorted(per_minute.items()):
        names[f"#m{minute:02d}"] = f"m{minute:02d}"
        values[f":m{minute:02d}"] = {"N": str(amount)}
        parts.append(f"#m{minute:02d} :m{minute:02d}")
    return {
        "Update": {
            "TableName": settings().usage_table,
            "Key": {"pk": {"S": pk}, "sk": {"S": UsageKeys.hour(hour)}},
            "UpdateExpression": "ADD " + ", ".join(parts),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def seconds_updates(
    pk: str, events: list[MeterEvent], formula: Formula, sign: int = 1
) -> list[tuple[int, Action]]:
    """Per minute the events fall in: (minute start, the update of its per-second item). Additive:
    ADD each second's total to `sSS`; `last`: SET `lSS` to the second's latest arrival (the last of
    `events` in that second: ties within a second go to the later arrival, so no condition)."""
    by_minute: dict[int, dict[int, int]] = defaultdict(dict)
    for e in events:
        seconds = by_minute[floor_to(e.timestamp, MINUTE)]
        second = e.timestamp % MINUTE
        if formula.additive:
            seconds[second] = seconds.get(second, 0) + sign * formula.contribution(e.value)
        else:
            seconds[second] = e.value
    out = []
    for minute, seconds in sorted(by_minute.items()):
        prefix = "s" if formula.additive else "l"
        names = {f"#{prefix}{sec:02d}": f"{prefix}{sec:02d}" for sec in sorted(seconds)}
        values = {f":{prefix}{sec:02d}": {"N": str(v)} for sec, v in sorted(seconds.items())}
        if formula.additive:
            expression = "ADD " + ", ".join(f"#s{sec:02d} :s{sec:02d}" for sec in sorted(seconds))
        else:
            expression = "SET " + ", ".join(f"#l{sec:02d} = :l{sec:02d}" for sec in sorted(seconds))
        out.append(
            (
                minute,
                {
                    "Update": {
                        "TableName": settings().usage_table,
                        "Key": {"pk": {"S": pk}, "sk": {"S": UsageKeys.seconds(minute)}},
                        "UpdateExpression": expression,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                },
            )
        )
    return out


# An hour's detail item holds at most this many second slots (`c` counts them, a slot possibly
# twice): ≤ ~2.5 KB whatever the values, so its update costs ≤ 3 write units and a read 1 unit.
DETAIL_SECONDS = 300


def detail_update(pk: str, hour: int, events: list[MeterEvent], formula: Formula) -> Action:
    """ADD each second's total to the hour's detail item (`sSSSS`, second of the hour) and the
    number of seconds touched to `c` — unless the item is frozen (`fz`) or would pass
    `DETAIL_SECONDS` (its condition: the aggregator then sends the rest to per-minute items)."""
    per_second: dict[int, int] = defaultdict(int)
    for e in events:
        per_second[e.timestamp - hour] += formula.contribution(e.value)
    names = {"#c": "c", "#fz": "fz", **{f"#s{sec:04d}": f"s{sec:04d}" for sec in per_second}}
    values = {
        ":c": {"N": str(len(per_second))},
        ":room": {"N": str(DETAIL_SECONDS - len(per_second))},
        **{f":s{sec:04d}": {"N": str(v)} for sec, v in per_second.items()},
    }
    parts = ["#c :c", *(f"#s{sec:04d} :s{sec:04d}" for sec in sorted(per_second))]
    return {
        "Update": {
            "TableName": settings().usage_table,
            "Key": {"pk": {"S": pk}, "sk": {"S": UsageKeys.detail(hour)}},
            "UpdateExpression": "ADD " + ", ".join(parts),
            "ConditionExpression": "attribute_not_exists(#fz) AND (attribute_not_exists(#c) OR #c <= :room)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def detail_seconds(events: list[MeterEvent]) -> int:
    """How many detail slots `events` take (distinct seconds)."""
    return len({e.timestamp for e in events})


def last_update(pk: str, sk: str, latest: Latest) -> Action:
    """SET a `last` bucket's value unless a newer one already stands."""
    return {
        "Update": {
            "TableName": settings().usage_table,
            "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
            "UpdateExpression": "SET lt = :ts, lv = :v",
            "ConditionExpression": "attribute_not_exists(lt) OR lt <= :ts",
            "ExpressionAttributeValues": {":ts": {"N": str(latest.ts)}, ":v": {"N": str(latest.value)}},
        }
    }


def cancel_mark(account: str, identifier: str, now: int) -> Action:
    """Mark an event cancelled, unless it already is."""
    return {
        "Update": {
            "TableName": settings().usage_table,
            "Key": event_key(account, identifier),
            "UpdateExpression": "SET cancelled = :now",
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(cancelled)",
            "ExpressionAttributeValues": {":now": {"N": str(now)}},
        }
    }
