"""What a usage alert needs of a customer's subscriptions, in ONE small item beside the customer
(issue 15, point 3): the period rules of each of its subscriptions that has not ended.

  pk = acct#<customer id>   sk = subscription_periods   body = {"running": [[created, id,
  start_date, billing_cycle_anchor, interval, interval_count], …]}   version

An alert evaluation reads it with the running figure in one request
(`store.alerts.evaluation_state`) instead of querying the customer's subscriptions; the current
period is computed from it at the customer's clock (`current`), so a period rolling over, a test
clock advancing or a period close writes nothing here.

Kept exact by `transactions.commit` (`aux_for`), in the transaction of every write that can change
it: a customer's creation (an empty list), a subscription's creation, a change of its period rules
(a trial's end or an anchor reset moves its anchor), its end (`ended_at`: a cancel at any second,
a period-end cancel, a test clock's advance past `cancel_at`) and its deletion. A write that
changes none of these (a period close, metadata) neither reads nor writes it. The Put is
version-checked: two concurrent changes of one customer's list make the later a 409 (retryable),
so it never loses a change.

Absent means *unknown* — a customer created before this item existed, or one whose
subscriptions were bulk-loaded (`store.bulk` deletes it): readers then query the subscriptions as
before, and writers leave it absent (they cannot know the others).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import GetError

from tally.domain import periods
from tally.errors import Conflict
from tally.store.changes import Aux, Write
from tally.store.errors import raise_translated
from tally.store.models import ObjectItem, bind

SK = "subscription_periods"
KIND = "subscription_periods"
CHANGED = Conflict("The customer's subscriptions changed at the same time; retry the request.")


@dataclass(frozen=True, order=True)
class Running:
    """A subscription that has not ended, as far as its current period goes (ordered: newest last)."""

    created: int
    id: str
    start_date: int
    anchor: int
    interval: str
    interval_count: int

    def plain(self) -> list[Any]:
        return [self.created, self.id, self.start_date, self.anchor, self.interval, self.interval_count]


def key(account: str, customer: str) -> tuple[str, str]:
    return ObjectItem.object_key(account, customer), SK


def of(subscription: Any) -> Running | None:
    """The entry of a subscription record (None once it has ended)."""
    s = subscription
    if s.ended_at is not None:
        return None
    return Running(s.created, s.id, s.start_date, s.billing_cycle_anchor, s.interval, s.interval_count)


def current(running: Sequence[Running], now: int) -> tuple[int, int] | None:
    """The current period at `now` of the newest subscription that has not ended (None: none) —
    what the subscriptions Query of `alert_evaluation.current_period` answers."""
    if not running:
        return None
    s = max(running)
    return periods.current_period(s.start_date, s.anchor, s.interval, s.interval_count, now)


def decode(item: ObjectItem | None) -> tuple[tuple[Running, ...], int] | None:
    """(entries, version) of a stored item; None when absent (unknown)."""
    if item is None:
        return None
    plain = json.loads(item.body or "{}")
    return tuple(Running(*e) for e in plain.get("running", [])), int(item.version)


def read(account: str, customer: str) -> tuple[tuple[Running, ...], int] | None:
    """The customer's entries and version (one consistent GetItem); None when unknown."""
    bind()
    try:
        return decode(ObjectItem.get(*key(account, customer), consistent_read=True))
    except ObjectItem.DoesNotExist:
        return None
    except GetError as exc:
        raise_translated(exc)
    raise AssertionError("unreachable")


def _touches(w: Write) -> bool:
    """Whether a subscription write can change its customer's entries."""
    if w.stored is None or w.delete:
        return True
    return of(w.stored.record) != of(w.change.record)


def aux_for(account: str, writes: Sequence[Write]) -> list[Aux]:
    """The Puts that keep each customer's entries equal to its subscriptions after `writes`
    (`transactions.commit` adds them to the same transaction). Reads the item of each customer
    whose entries may change (one GetItem each; none for writes that cannot change them)."""
    created: set[str] = set()
    by_customer: dict[str, list[Write]] = {}
    for w in writes:
        record = w.change.record
        kind = getattr(record, "OBJECT", None)
        if kind == "customer" and w.stored is None:
            created.add(record.id)
        elif kind == "subscription" and _touches(w):
            by_customer.setdefault(record.customer, []).append(w)
    out = []
    for customer in sorted(created | set(by_customer)):
        if customer in created:
            before: tuple[Running, ...] = ()
            version: int | None = None
        else:
            found = read(account, customer)
            if found is None:
                continue  # unknown: left to the readers' Query
            before, version = found
        entries = {e.id: e for e in before}
        for w in by_customer.get(customer, []):
            entries.pop(w.change.record.id, None)
            entry = None if w.delete else of(w.change.record)
            if entry is not None:
                entries[entry.id] = entry
        after = tuple(sorted(entries.values()))
        if after == before and version is not None:
            continue
        body = json.dumps({"running": [e.plain() for e in after]}, separators=(",", ":"))
        pk, sk = key(account, customer)
        out.append(Aux(pk=pk, sk=sk, body=body, version=version, error=CHANGED, kind=KIND))
    return out
