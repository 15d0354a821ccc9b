"""Meter events and pre-aggregated usage buckets (the usage table), on the low-level client.

Write path: each accepted event is a conditional Put of its identifier item, in the SAME
TransactWriteItems as the ADD to its bucket — never "claim, then write": if the transaction fails,
nothing happened and a retry starts clean; if the identifier exists, the whole transaction is
cancelled, the duplicate is dropped, and the rest is retried. Events sharing a bucket hour travel
together, so a batch pays ~2 WRU per event plus one bucket update per (customer, hour).

Keys (every key starts with the account id; see docs/DATA-MODEL.md):
  event   pk = acct#mev#<identifier>                     sk = "e"
  bucket  pk = acct#usage#<meter>#<customer>#<shard>     sk = "h#<hour start>"  (v, n, mMM per minute)
  last    same pk                                        sk = "m#<minute start>" (lt, lv) — `last` only
"""

from __future__ import annotations

import json
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tally.domain.aggregation import HOUR, MINUTE, Formula, Latest, Span, floor_to, minute_of_hour
from tally.errors import Conflict, InvalidRequest
from tally.settings import settings
from tally.store.aws import dynamodb

EVENT_KEEP_SECONDS = 35 * 86400  # dedupe covers the whole 35-day backdating window (≥ Stripe's 24 h)
MAX_TX_ACTIONS = 100
ATTEMPTS = 8


@dataclass
class Stats:
    """What the store asked of DynamoDB (moto reports no capacity for transactions)."""

    requests: int = 0
    write_units: int = 0
    read_units: float = 0.0
    items_read: int = 0

    def reset(self) -> None:
        self.requests = self.write_units = self.items_read = 0
        self.read_units = 0.0


STATS = Stats()


class UsageKeys:
    @staticmethod
    def event(account: str, identifier: str) -> str:
        return f"{account}#mev#{identifier}"

    @staticmethod
    def bucket(account: str, meter_id: str, customer: str, shard: int) -> str:
        return f"{account}#usage#{meter_id}#{customer}#{shard}"

    @staticmethod
    def hour(hour_start: int) -> str:
        return f"h#{hour_start:011d}"

    @staticmethod
    def minute(minute_start: int) -> str:
        return f"m#{minute_start:011d}"


@dataclass
class MeterEvent:
    """A validated event, ready to store."""

    identifier: str
    event_name: str
    meter_id: str
    customer: str
    value: int
    timestamp: int
    payload: dict[str, str]
    created: int

    def body(self, livemode: bool) -> dict[str, Any]:
        return {
            "object": "billing.meter_event",
            "created": self.created,
            "event_name": self.event_name,
            "identifier": self.identifier,
            "livemode": livemode,
            "payload": self.payload,
            "timestamp": self.timestamp,
        }


@dataclass
class Outcome:
    stored: list[MeterEvent] = field(default_factory=list)
    duplicates: list[tuple[MeterEvent, dict[str, Any]]] = field(default_factory=list)  # (event, standing)


def _item_units(*texts: str, numbers: int = 0) -> int:
    size = sum(len(t.encode()) for t in texts) + 21 * numbers
    return max(1, -(-size // 1024))


# One bucket hour item holds at most v, n and 60 minute counters: < 1 KB whatever the traffic.
_BUCKET_UNITS = 1


@dataclass
class _Unit:
    """Events of one bucket hour that go into the same transaction."""

    pk: str
    hour: int
    events: list[MeterEvent]


def _event_put(account: str, e: MeterEvent, bucket_pk: str, now: int) -> tuple[dict[str, Any], int]:
    item = {
        "pk": {"S": UsageKeys.event(account, e.identifier)},
        "sk": {"S": "e"},
        "meter": {"S": e.meter_id},
        "customer": {"S": e.customer},
        "event_name": {"S": e.event_name},
        "value": {"N": str(e.value)},
        "ts": {"N": str(e.timestamp)},
        "created": {"N": str(e.created)},
        "expires": {"N": str(e.created + EVENT_KEEP_SECONDS)},
        "bucket": {"S": bucket_pk},
        "payload": {"S": json.dumps(e.payload, separators=(",", ":"))},
    }
    units = _item_units(*(v.get("S", "") for v in item.values()), *item.keys(), numbers=5)
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


def _additive_update(pk: str, hour: int, events: list[MeterEvent], formula: Formula, sign: int = 1) -> dict:
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


def _last_update(pk: str, sk: str, latest: Latest) -> dict:
    return {
        "Update": {
            "TableName": settings().usage_table,
            "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
            "UpdateExpression": "SET lt = :ts, lv = :v",
            "ConditionExpression": "attribute_not_exists(lt) OR lt <= :ts",
            "ExpressionAttributeValues": {":ts": {"N": str(latest.ts)}, ":v": {"N": str(latest.value)}},
        }
    }


def _latest(events: list[MeterEvent]) -> Latest | None:
    best: Latest | None = None
    for e in events:
        best = Latest.pick(best, Latest(e.timestamp, e.value))
    return best


def _units(account: str, formula: Formula, shards: int, events: list[MeterEvent]) -> list[_Unit]:
    groups: dict[tuple[str, int], list[MeterEvent]] = defaultdict(list)
    for e in events:
        groups[(e.meter_id + "#" + e.customer, floor_to(e.timestamp, HOUR))].append(e)
    cap = MAX_TX_ACTIONS - 2 if formula.additive else (MAX_TX_ACTIONS - 1) // 2
    units = []
    for (_, hour), members in groups.items():
        shard = zlib.crc32(members[0].identifier.encode()) % shards
        pk = UsageKeys.bucket(account, members[0].meter_id, members[0].customer, shard)
        for i in range(0, len(members), cap):
            units.append(_Unit(pk, hour, members[i : i + cap]))
    return units


def _unit_actions(account: str, formula: Formula, unit: _Unit, now: int, skip: set[tuple[str, str]]):
    """(actions, what each action is, write units) for one unit."""
    actions: list[dict] = []
    kinds: list[Any] = []
    units = 0
    for e in unit.events:
        action, wu = _event_put(account, e, unit.pk, now)
        actions.append(action)
        kinds.append(e)
        units += 2 * wu
    if formula.additive:
        actions.append(_additive_update(unit.pk, unit.hour, unit.events, formula))
        kinds.append(None)
        units += 2 * _BUCKET_UNITS
        return actions, kinds, units
    by_minute: dict[int, list[MeterEvent]] = defaultdict(list)
    for e in unit.events:
        by_minute[floor_to(e.timestamp, MINUTE)].append(e)
    targets = [(UsageKeys.hour(unit.hour), unit.events)] + [
        (UsageKeys.minute(m), members) for m, members in sorted(by_minute.items())
    ]
    for sk, members in targets:
        latest = _latest(members)
        if latest is None or (unit.pk, sk) in skip:
            continue
        actions.append(_last_update(unit.pk, sk, latest))
        kinds.append((unit.pk, sk))
        units += 2 * _BUCKET_UNITS
    return actions, kinds, units


def _transact(actions: list[dict], units: int) -> list[Any] | None:
    """Run one transaction; None on success, else the cancellation reasons (or [] to retry)."""
    from botocore.exceptions import ClientError

    STATS.requests += 1
    try:
        dynamodb().transact_write_items(TransactItems=actions)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "TransactionCanceledException":
            return list(exc.response.get("CancellationReasons") or [])  # type: ignore[arg-type]
        if code in (
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "TransactionInProgressException",
            "RequestLimitExceeded",
            "InternalServerError",
        ):
            return []
        raise
    STATS.write_units += units
    return None


def record(
    account: str, formula: Formula, shards: int, events: list[MeterEvent], now: int | None = None
) -> Outcome:
    """Store each event once and add it to its bucket atomically.

    Events whose identifier is already stored (now or by a concurrent writer) are reported as
    duplicates with the standing event. Raises Conflict (409, retryable) if contention persists;
    whatever was stored before that is stored exactly once, so a retry is safe.
    """
    now = int(time.time()) if now is None else now
    outcome = Outcome()
    first: dict[str, MeterEvent] = {}
    fresh: list[MeterEvent] = []
    for e in events:  # duplicates inside the batch: the first occurrence stands
        if e.identifier in first:
            outcome.duplicates.append((e, first[e.identifier].body(settings().livemode)))
        else:
            first[e.identifier] = e
            fresh.append(e)
    dup_ids: list[MeterEvent] = []
    for batch in _pack(formula, _units(account, formula, shards, fresh)):
        _write(account, formula, batch, now, outcome, dup_ids)
    if dup_ids:
        standing = _standing(account, [e.identifier for e in dup_ids])
        for e in dup_ids:
            outcome.duplicates.append((e, standing.get(e.identifier) or e.body(settings().livemode)))
    return outcome


def _pack(formula: Formula, units: list[_Unit]) -> list[list[_Unit]]:
    """Units into transactions of at most 100 actions (events + their bucket updates)."""
    batches: list[list[_Unit]] = []
    size = 0
    for unit in units:
        # additive: one Put per event + one ADD; last: + one update per minute at most, + the hour
        need = len(unit.events) + 1 if formula.additive else 2 * len(unit.events) + 1
        if batches and size + need <= MAX_TX_ACTIONS:
            batches[-1].append(unit)
            size += need
        else:
            batches.append([unit])
            size = need
    return batches


def _write(
    account: str, formula: Formula, batch: list[_Unit], now: int, outcome: Outcome, dups: list
) -> None:
    skip: set[tuple[str, str]] = set()
    for attempt in range(ATTEMPTS):
        batch = [u for u in batch if u.events]
        if not batch:
            return
        actions: list[dict] = []
        kinds: list[Any] = []
        units = 0
        for unit in batch:
            a, k, u = _unit_actions(account, formula, unit, now, skip)
            actions += a
            kinds += k
            units += u
        reasons = _transact(actions, units)
        if reasons is None:
            for unit in batch:
                outcome.stored.extend(unit.events)
            return
        failed = False
        for kind, reason in zip(kinds, reasons, strict=False):
            if reason.get("Code") != "ConditionalCheckFailed":
                continue
            failed = True
            if isinstance(kind, MeterEvent):
                dups.append(kind)
                for unit in batch:
                    if kind in unit.events:
                        unit.events.remove(kind)
            elif kind is not None:
                skip.add(kind)  # a newer `last` value already stands in that bucket
        if not failed:
            time.sleep(min(0.5, 0.01 * 2**attempt))
    raise Conflict("Meter events are contended right now; retry the request (it is safe to retry).")


def _standing(account: str, identifiers: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    table = settings().usage_table
    for i in range(0, len(identifiers), 100):
        keys = [
            {"pk": {"S": UsageKeys.event(account, ident)}, "sk": {"S": "e"}}
            for ident in identifiers[i : i + 100]
        ]
        STATS.requests += 1
        resp = dynamodb().batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
        for item in resp.get("Responses", {}).get(table, []):
            ident = item["pk"]["S"].split("#mev#", 1)[1]
            out[ident] = MeterEvent(
                ident,
                item["event_name"]["S"],
                item["meter"]["S"],
                item["customer"]["S"],
                int(item["value"]["N"]),
                int(item["ts"]["N"]),
                json.loads(item["payload"]["S"]),
                int(item["created"]["N"]),
            ).body(settings().livemode)
    return out


# -- adjustments --------------------------------------------------------------------------------
CANCEL_WINDOW = 24 * 3600


def cancel(account: str, formula: Formula, identifier: str, event_name: str, now: int | None = None) -> None:
    """Cancel one event received within 24 h: mark it and subtract it from its bucket, atomically.

    Raises InvalidRequest if the event is unknown, of another meter, too old, or already cancelled.
    """
    from botocore.exceptions import ClientError

    now = int(time.time()) if now is None else now
    table = settings().usage_table
    key = {"pk": {"S": UsageKeys.event(account, identifier)}, "sk": {"S": "e"}}
    STATS.requests += 1
    item = dynamodb().get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    param = "cancel[identifier]"
    if not item or int(item["expires"]["N"]) < now or item["event_name"]["S"] != event_name:
        raise InvalidRequest(
            f"No meter event with identifier '{identifier}' for event_name '{event_name}'.",
            code="resource_missing",
            param=param,
        )
    if "cancelled" in item:
        raise InvalidRequest(f"The meter event '{identifier}' is already cancelled.", param=param)
    if int(item["created"]["N"]) < now - CANCEL_WINDOW:
        raise InvalidRequest(
            f"The meter event '{identifier}' was received more than 24 hours ago and can no "
            "longer be cancelled.",
            param=param,
        )
    if not formula.additive:
        raise InvalidRequest(
            "Cancelling events of a meter with formula 'last' is not supported; send a newer "
            "event instead (see docs/API.md).",
            param=param,
        )
    event = MeterEvent(
        identifier,
        event_name,
        item["meter"]["S"],
        item["customer"]["S"],
        int(item["value"]["N"]),
        int(item["ts"]["N"]),
        {},
        int(item["created"]["N"]),
    )
    actions = [
        {
            "Update": {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET cancelled = :now",
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(cancelled)",
                "ExpressionAttributeValues": {":now": {"N": str(now)}},
            }
        },
        _additive_update(item["bucket"]["S"], floor_to(event.timestamp, HOUR), [event], formula, sign=-1),
    ]
    STATS.requests += 1
    try:
        dynamodb().transact_write_items(TransactItems=actions)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
            raise InvalidRequest(
                f"The meter event '{identifier}' is already cancelled.", param=param
            ) from exc
        raise
    STATS.write_units += 4


# -- reads --------------------------------------------------------------------------------------
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


def hourly(account: str, meter: dict[str, Any], customer: str, start: int, end: int) -> dict[int, HourValue]:
    """Per-hour usage in the minute-aligned [start, end): reads one item per hour per shard."""
    formula = Formula(meter["default_aggregation"]["formula"])
    span = Span.aligned(start, end)
    first, last = span.hours()
    out: dict[int, HourValue] = {}
    if last < first:
        return out
    for shard in range(int(meter.get("write_shards") or 1)):
        pk = UsageKeys.bucket(account, meter["id"], customer, shard)
        for item in _query(pk, UsageKeys.hour(first), UsageKeys.hour(last)):
            hour = int(item["sk"]["S"][2:])
            slot = out.setdefault(hour, HourValue(hour))
            if formula.additive:
                if span.covers(hour):
                    slot.total += int(item.get("v", {}).get("N", "0"))
                else:
                    slot.total += sum(
                        int(item.get(f"m{m:02d}", {}).get("N", "0")) for m in span.minutes_in(hour)
                    )
            elif "lt" in item:
                if span.covers(hour):
                    slot.latest = Latest.pick(slot.latest, Latest(int(item["lt"]["N"]), int(item["lv"]["N"])))
                else:
                    minutes = span.minutes_in(hour)
                    lo, hi = hour + minutes.start * MINUTE, hour + (minutes.stop - 1) * MINUTE
                    for m in _query(pk, UsageKeys.minute(lo), UsageKeys.minute(hi)):
                        slot.latest = Latest.pick(slot.latest, Latest(int(m["lt"]["N"]), int(m["lv"]["N"])))
    return out


def combine(formula: Formula, hours: list[HourValue]) -> int:
    if formula.additive:
        return sum(h.total for h in hours)
    best: Latest | None = None
    for h in sorted(hours, key=lambda h: h.hour):
        best = Latest.pick(best, h.latest)
    return best.value if best else 0


def aggregate(account: str, meter: dict[str, Any], customer_id: str, start: int, end: int) -> int:
    """The meter's aggregated value for a customer over minute-aligned [start, end)."""
    formula = Formula(meter["default_aggregation"]["formula"])
    return combine(formula, list(hourly(account, meter, customer_id, start, end).values()))
