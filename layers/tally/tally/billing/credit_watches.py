"""Keeping a customer's credit watch equal to its active credit-balance alerts and top-up rules.

Every alert or rule change that lists or unlists something on the watch writes, in its own
transaction: the watch (`store.credit_watch.side`, version-checked) and, when the watch turns
empty or non-empty, the customer record's `credit_watched` flag (version-checked, no event:
Stripe shows nothing of it). So ingest, which reads the customer anyway, evaluates exactly the
customers who have something to evaluate, and pays nothing for the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tally.clock import Clock
from tally.domain.credit_watch import Watch
from tally.domain.records import Customer
from tally.store import credit_watch, objects
from tally.store.changes import Change, Side, Stored, Write


@dataclass
class WatchWrites:
    """What a change of the watch adds to the caller's transaction."""

    before: Watch
    after: Watch
    sides: list[Side] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)


def writes(account: str, customer: str, to: Callable[[Watch], Watch], clock: Clock) -> WatchWrites:
    """The writes that make the customer's watch `to(watch as read)` (none when unchanged).
    `to` may raise (a limit) before anything is written."""
    before = credit_watch.read(account, customer)
    after = replace(to(before), version=before.version)
    out = WatchWrites(before, after)
    if after == before:
        return out
    out.sides.append(credit_watch.side(account, customer, before, after))
    stored: Stored[Customer] = objects.load(account, customer, Customer, clock)
    watched = not after.empty
    if stored.record.credit_watched != watched:
        flagged = replace(stored.record, credit_watched=watched)
        out.writes.append(Write(Change(flagged, None, {}), stored))
    return out
