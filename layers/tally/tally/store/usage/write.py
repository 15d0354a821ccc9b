"""Recording meter events: each stored once, and added to its bucket in the same transaction.

A transaction cancelled because an identifier already stands drops that event (a duplicate) and
retries the rest; a busy store is retried with backoff; persistent contention is a 409 the caller
may retry safely (whatever was stored is stored exactly once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tally.domain.aggregation import Formula
from tally.domain.records import MeterEvent
from tally.errors import Conflict
from tally.store import errors
from tally.store.aws import dynamodb
from tally.store.usage import duplicates, packing
from tally.store.usage import figures as figures_store
from tally.store.usage.actions import Action
from tally.store.usage.figures import Figure
from tally.store.usage.packing import Unit
from tally.store.usage.stats import STATS

ATTEMPTS = 8


@dataclass
class Outcome:
    stored: list[MeterEvent] = field(default_factory=list)
    duplicates: list[tuple[MeterEvent, MeterEvent]] = field(default_factory=list)  # (event, standing)


def transact(actions: list[Action], units: int) -> list[str | None] | None:
    """Run one transaction; None on success, else the per-action cancellation codes ([] to retry)."""
    from botocore.exceptions import ClientError

    STATS.requests += 1
    try:
        dynamodb().transact_write_items(TransactItems=actions)
    except ClientError as exc:
        code = errors.code_of(exc)
        if code == errors.CANCELLED:
            return errors.cancellation_codes(exc)
        if code in errors.TRANSIENT:
            return []
        raise
    STATS.write_units += units
    return None


def record(
    account: str, formula: Formula, shards: int, events: list[MeterEvent], now: int, *, figures: bool = False
) -> Outcome:
    """Store each event once and add it to its bucket atomically — and, with `figures` (an
    additive meter whose running figures are kept, `store.usage.figures`), to each customer's
    figure in the same transaction.

    Events whose identifier is already stored (now or by a concurrent writer) are reported as
    duplicates with the standing event. Raises Conflict (409, retryable) if contention persists;
    whatever was stored before that is stored exactly once, so a retry is safe.
    """
    outcome = Outcome()
    first: dict[str, MeterEvent] = {}
    fresh: list[MeterEvent] = []
    for e in events:  # duplicates inside the batch: the first occurrence stands
        if e.identifier in first:
            outcome.duplicates.append((e, first[e.identifier]))
        else:
            first[e.identifier] = e
            fresh.append(e)
    stored_before: list[MeterEvent] = []
    figures = figures and formula.additive
    limit = packing.MAX_TX_ACTIONS - figures
    read_figures: dict[str, Figure] = {}  # customers whose figure refused the no-read update
    for batch in packing.pack(formula, packing.units(account, formula, shards, fresh, limit), figures):
        _write(account, formula, batch, now, outcome, stored_before, read_figures if figures else None)
    if stored_before:
        standing = duplicates.standing(account, [e.identifier for e in stored_before])
        for e in stored_before:
            outcome.duplicates.append((e, standing.get(e.identifier, e)))
    return outcome


def _write(
    account: str,
    formula: Formula,
    batch: list[Unit],
    now: int,
    outcome: Outcome,
    stored_before: list[MeterEvent],
    read_figures: dict[str, Figure] | None = None,
) -> None:
    skip: set[tuple[str, str]] = set()
    for attempt in range(ATTEMPTS):
        batch = [u for u in batch if u.events]
        if not batch:
            return
        actions, kinds, units = packing.batch_actions(account, formula, batch, now, skip)
        if read_figures is not None:
            units += _figure_actions(account, formula, batch, read_figures, actions, kinds)
        reasons = transact(actions, units)
        if reasons is None:
            for unit in batch:
                outcome.stored.extend(unit.events)
            return
        failed = False
        for kind, reason in zip(kinds, reasons, strict=False):
            if reason != errors.CONDITION_FAILED:
                continue
            failed = True
            if isinstance(kind, FigureOf):
                assert read_figures is not None
                e0 = kind.events[0]
                read_figures[e0.customer] = figures_store.read(account, e0.meter_id, e0.customer)
            elif isinstance(kind, MeterEvent):
                stored_before.append(kind)
                for unit in batch:
                    if kind in unit.events:
                        unit.events.remove(kind)
            elif kind is not None:
                skip.add(kind)  # a newer `last` value already stands in that bucket
        if not failed:
            time.sleep(min(0.5, 0.01 * 2**attempt))  # backoff, not billing time
    raise Conflict("Meter events are contended right now; retry the request (it is safe to retry).")


@dataclass(frozen=True)
class FigureOf:
    """A transaction's action on one customer's running figure (the events it adds)."""

    events: tuple[MeterEvent, ...]


def _figure_actions(
    account: str,
    formula: Formula,
    batch: list[Unit],
    read_figures: dict[str, Figure],
    actions: list[Action],
    kinds: list[packing.Kind | FigureOf],
) -> int:
    """Append one figure update per customer of `batch` (the no-read one, unless that customer's
    figure refused it: then the one built from the item as read); returns their write units."""
    by_customer: dict[str, list[MeterEvent]] = {}
    for unit in batch:
        for e in unit.events:
            by_customer.setdefault(e.customer, []).append(e)
    for customer, events in by_customer.items():
        known = read_figures.get(customer)
        if known is None:
            actions.append(figures_store.hot_action(account, formula, events))
        else:
            actions.append(figures_store.read_action(account, formula, events, known))
        kinds.append(FigureOf(tuple(events)))
    return 2 * len(by_customer)
