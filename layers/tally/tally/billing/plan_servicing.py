"""A pricing plan subscription's servicing events (`v2.billing.pricing_plan_subscription.
servicing_activated|servicing_canceled`), each written exactly once, at its instant.

Servicing status is read at the customer's clock (`tally.domain.intents.servicing_status`), so no
scheduler flips it; what is time-driven is only its announcement. The subscription keeps the
status last announced (`announced`) and, while an announcement is to come, sits in the period
close's due index at its instant (`PlanSubscription.due_at`; on a test clock the advance writes it
instead, at the instant). Writing one is ONE transaction: the subscription with `announced`
moved on (checked against the version read) and the thin event(s). Crash points:

1. before or inside the transaction: nothing written; SQS (or the advance) delivers again;
2. after it, before the message is deleted: the redelivery finds it announced, writes nothing.

Two deliveries at once: one transaction wins, the other fails its version check, reads again
and finds nothing left to announce. A commit whose action takes effect at once (`on_reserve`)
announces in the commit's own transaction (`change`, `fitted`), when the events fit in it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tally.clock import Clock
from tally.domain import v2_events
from tally.domain.intents import PlanSubscription
from tally.domain.listing import Window
from tally.errors import Conflict
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Write

ATTEMPTS = 3
KIND = "plan_subscription_due"  # the `kind` of the billing queue's message (`billing.cycles.PLAN_DUE`)


@dataclass(frozen=True)
class Announced:
    """What `announce` did: `announced` (with the event types written) or `nothing_due`."""

    outcome: str
    types: tuple[str, ...] = ()


def change(sub: PlanSubscription, now: int) -> Change:
    """The change writing `sub` with every servicing event due by `now` (none: a plain change)."""
    announced, types = v2_events.announcements(sub.announced, sub.activated_at, sub.canceled_at, now)
    related = v2_events.subscription(sub.id)
    return Change(replace(sub, announced=announced), None, {}, thin=[(t, related) for t in types])


def fitted(writes: list[Write]) -> list[Write]:
    """A commit's writes (its subscriptions' changes made by `change`), without their servicing
    events when all of them do not fit in one transaction (ten subscribes at once): then the due
    index or the test clock's advance writes those right after, as for any instant to come."""
    if transactions.fits(writes):
        return writes
    return [_unannounced(w) if isinstance(w.change.record, PlanSubscription) else w for w in writes]


def _unannounced(w: Write) -> Write:
    """`w` without its servicing events, its `announced` left as it was."""
    before = w.stored.record.announced if w.stored is not None else "pending"
    record = replace(w.change.record, announced=before)
    return replace(w, change=replace(w.change, record=record, thin=[]))


def announce(account: str, sub_id: str, clock: Clock) -> Announced:
    """Write the servicing events of `sub_id` due at `clock`, exactly once (module doc). Raises
    Conflict when the subscription kept changing under us (the message is retried)."""
    for attempt in range(ATTEMPTS):
        try:
            stored = objects.load(account, sub_id, PlanSubscription, clock)
            made = change(stored.record, clock.now)
            if not made.thin:
                return Announced("nothing_due")
            objects.update(account, stored, made, clock)
            return Announced("announced", tuple(t for t, _ in made.thin))
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def due_on_clock(account: str, customers: list[str], at: Clock, until: int) -> list[tuple[int, str]]:
    """(instant, id) of the next servicing event of each subscription of `customers` (a test
    clock's) due by `until`; the advance writes them in time order."""
    out = []
    for customer in customers:
        after: str | None = None
        while True:
            page = lists.list_records(
                account, PlanSubscription, Window(100, after, None), at, customer=customer
            )
            for sub in page.data:
                when = v2_events.next_servicing(sub.announced, sub.activated_at, sub.canceled_at)
                if when is not None and when <= until:
                    out.append((when, sub.id))
            if not page.has_more or not page.data:
                break
            after = page.data[-1].id
    return out


def next_on_clock(account: str, sub_id: str, at: Clock) -> int | None:
    """The subscription's next servicing instant after an announcement (None: none to come)."""
    sub = objects.get(account, sub_id, PlanSubscription, at)
    return v2_events.next_servicing(sub.announced, sub.activated_at, sub.canceled_at)
