"""Events into bucket-hour units, units into transactions of at most 100 actions.

A unit is the events of one (meter, customer, hour) that share a transaction: their Puts plus the
bucket updates they need (the hour, and one per-second item per minute they fall in; for `last`
also one minute item per minute). Each event's shard is fixed by its identifier, so a retry of the same
event lands in the same bucket.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import TypeAlias

from tally.domain.aggregation import HOUR, MINUTE, Formula, Latest, floor_to
from tally.domain.records import MeterEvent
from tally.store.usage.actions import (
    BUCKET_UNITS,
    Action,
    additive_update,
    event_put,
    last_update,
    seconds_updates,
)
from tally.store.usage.keys import UsageKeys

MAX_TX_ACTIONS = 100

# What each action of a transaction is: an event's Put, an unconditional bucket update (None: an
# additive ADD, a per-second item's update), or the (pk, sk) of a conditional `last` update.
Kind: TypeAlias = MeterEvent | tuple[str, str] | None


@dataclass
class Unit:
    """Events of one bucket hour that go into the same transaction."""

    pk: str
    hour: int
    events: list[MeterEvent]


def size(formula: Formula, events: int, minutes: int) -> int:
    """The actions of a unit of `events` falling in `minutes` distinct minutes: one Put per event,
    the hour's update, one per-second item per minute (and for `last` one minute item per minute)."""
    return events + 1 + minutes * (1 if formula.additive else 2)


def segment_size(formula: Formula, minutes: dict[str, set[int]]) -> int:
    """The actions of a unit's segment buckets (meters with dimensions): per segment, its hour's
    update and one per minute of its events (two for `last`), as for the meter-level bucket."""
    return sum(1 + len(m) * (1 if formula.additive else 2) for m in minutes.values())


def _segment_minutes(events: list[MeterEvent]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = defaultdict(set)
    for e in events:
        if e.segment is not None:
            out[e.segment].add(floor_to(e.timestamp, MINUTE))
    return out


def units(
    account: str, formula: Formula, shards: int, events: list[MeterEvent], limit: int = MAX_TX_ACTIONS
) -> list[Unit]:
    """Events into bucket-hour units of at most `limit` actions each."""
    groups: dict[tuple[str, int], list[MeterEvent]] = defaultdict(list)
    for e in events:
        groups[(e.meter_id + "#" + e.customer, floor_to(e.timestamp, HOUR))].append(e)
    out = []
    for (_, hour), members in groups.items():
        shard = zlib.crc32(members[0].identifier.encode()) % shards
        pk = UsageKeys.bucket(account, members[0].meter_id, members[0].customer, shard)
        chunk: list[MeterEvent] = []
        minutes: set[int] = set()
        segments: dict[str, set[int]] = defaultdict(set)  # stays empty for a meter without dimensions
        for e in members:  # in arrival order (ties of `last` go to the later arrival)
            minute = floor_to(e.timestamp, MINUTE)
            need = size(formula, len(chunk) + 1, len(minutes | {minute}))
            if e.segment is not None:
                grown = {**segments, e.segment: segments.get(e.segment, set()) | {minute}}
                need += segment_size(formula, grown)
            if need > limit:
                out.append(Unit(pk, hour, chunk))
                chunk, minutes, segments = [], set(), defaultdict(set)
            chunk.append(e)
            minutes.add(minute)
            if e.segment is not None:
                segments[e.segment].add(minute)
        out.append(Unit(pk, hour, chunk))
    return out


def pack(formula: Formula, units: list[Unit], figures: bool = False) -> list[list[Unit]]:
    """Units into transactions of at most 100 actions (events + their bucket updates, and with
    `figures` one running-figure update per customer of the transaction)."""
    batches: list[list[Unit]] = []
    size_now = 0
    customers: set[str] = set()
    for unit in units:
        minutes = len({floor_to(e.timestamp, MINUTE) for e in unit.events})
        need = size(formula, len(unit.events), minutes) + segment_size(formula, _segment_minutes(unit.events))
        customer = unit.events[0].customer if unit.events else ""
        if batches and size_now + need + (figures and customer not in customers) <= MAX_TX_ACTIONS:
            batches[-1].append(unit)
            size_now += need + (figures and customer not in customers)
            customers.add(customer)
        else:
            batches.append([unit])
            size_now = need + figures
            customers = {customer}
    return batches


def _latest(events: list[MeterEvent]) -> Latest | None:
    best: Latest | None = None
    for e in events:
        best = Latest.pick(best, Latest(e.timestamp, e.value))
    return best


def unit_actions(
    account: str, formula: Formula, unit: Unit, now: int, skip: set[tuple[str, str]]
) -> tuple[list[Action], list[Kind], int]:
    """(actions, what each action is, write units) for one unit: its events' Puts, its bucket's
    updates, and (a meter with dimensions) the same updates of each of its segments' buckets.

    `skip` holds the `last` buckets already known to hold a newer value (their update would fail).
    """
    actions: list[Action] = []
    kinds: list[Kind] = []
    write_units = 0
    for e in unit.events:
        action, wu = event_put(account, e, unit.pk, now)
        actions.append(action)
        kinds.append(e)
        write_units += 2 * wu
    write_units += _bucket_actions(formula, unit.pk, unit.hour, unit.events, skip, actions, kinds)
    by_segment: dict[str, list[MeterEvent]] = defaultdict(list)
    for e in unit.events:
        if e.segment is not None:
            by_segment[e.segment].append(e)
    for segment, members in by_segment.items():
        pk = UsageKeys.segment_bucket(unit.pk, segment)
        write_units += _bucket_actions(formula, pk, unit.hour, members, skip, actions, kinds)
    return actions, kinds, write_units


def _bucket_actions(
    formula: Formula,
    pk: str,
    hour: int,
    events: list[MeterEvent],
    skip: set[tuple[str, str]],
    actions: list[Action],
    kinds: list[Kind],
) -> int:
    """Append the updates of bucket `pk` for `events` of one hour; returns their write units."""
    write_units = 0
    for _, update in seconds_updates(pk, events, formula):
        actions.append(update)
        kinds.append(None)
        write_units += 2 * BUCKET_UNITS
    if formula.additive:
        actions.append(additive_update(pk, hour, events, formula))
        kinds.append(None)
        return write_units + 2 * BUCKET_UNITS
    by_minute: dict[int, list[MeterEvent]] = defaultdict(list)
    for e in events:
        by_minute[floor_to(e.timestamp, MINUTE)].append(e)
    targets = [(UsageKeys.hour(hour), events)] + [
        (UsageKeys.minute(m), members) for m, members in sorted(by_minute.items())
    ]
    for sk, members in targets:
        latest = _latest(members)
        if latest is None or (pk, sk) in skip:
            continue
        actions.append(last_update(pk, sk, latest))
        kinds.append((pk, sk))
        write_units += 2 * BUCKET_UNITS
    return write_units


def batch_actions(
    account: str, formula: Formula, batch: list[Unit], now: int, skip: set[tuple[str, str]]
) -> tuple[list[Action], list[Kind], int]:
    """The actions of one transaction (every unit of `batch`), what each is, and the write units."""
    actions: list[Action] = []
    kinds: list[Kind] = []
    total = 0
    for unit in batch:
        a, k, u = unit_actions(account, formula, unit, now, skip)
        actions += a
        kinds += k
        total += u
    return actions, kinds, total
