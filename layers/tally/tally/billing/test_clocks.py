"""Test clocks (`/v1/test_helpers/test_clocks`): customers whose objects run at a frozen time.

A customer created with `test_clock` runs at the clock's `frozen_time`: it is created then, and
the entry points choose `clock_for(account, customer, request_clock)` (`tally.billing.clocks`) for
the use cases acting for it (subscription create, meter events' default timestamp and
35-day/5-minute window).

Membership: a customer joins a clock in its own create transaction, which bumps the clock's
customer counter (`tally.store.changes.Counter`), requires the clock to exist, and claims slot
`<clock>#<n>` (n = the count read, so two concurrent joins cannot take the same slot and a fourth
is refused: at most `MAX_CUSTOMERS`). The slots are how `advance` and `delete` find the customers
(one GetItem each, no index). A customer deleted on its own keeps its slot (it still counts).

The wall-clock schedule never bills a subscription on a test clock: such subscriptions have no
due-index entry (`Subscription.due_at` is None). An advance bills them instead, in the background
as Stripe: `advance` (the request) records the target and sends one message to the test clock
queue; `run_advance` (its worker, functions/advance_test_clock) bills and sets the clock `ready`
(docs/API.md "Test clocks"). A clock past its `deletes_after` reads as deleted (`_load`).

One now: a clock's time is its `frozen_time` while `ready` and its target while `advancing`
(`frozen`): meter events, their cancel window (`store.usage.cancel`), reads and alerts run there;
changes to its customers' subscriptions and invoices are refused while it advances (`changing`:
400 `test_clock_advancing`). Usage accepted during an advance lies within 35 days (+ 24 h of
cancels) of the target, so no period the advance settles can receive it; the advance settles no
later than the clock's time when it began (`settle_until`), which covers a request that read the
clock just before.

An advance always ends (`_run_until`): it steps from the stored state, checks after each period
close that the subscription moved on, takes at most `MAX_STEPS` steps (else `internal_failure` at
once, with the reason logged), and stops when its clock is deleted.
"""

from __future__ import annotations

import heapq
from dataclasses import replace

from tally.billing import (
    cadence_invoices,
    changes,
    clocks,
    credit_ledger,
    customers,
    cycles,
    lifecycle,
    plan_servicing,
    service_grants,
    subscriptions,
)
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain import periods
from tally.domain.cadences import Cadence
from tally.domain.intents import PlanSubscription
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate
from tally.domain.records import Customer, Invoice, InvoiceItem, Subscription, TestClock
from tally.errors import Conflict, InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.observability import logger
from tally.presenters.test_clocks import clock as present
from tally.settings import settings
from tally.store import claims, lists, objects, queues, transactions
from tally.store.changes import Change, Counter, Exists, Guard, Stored, Unique, Write

MAX_CUSTOMERS = 3  # Stripe's limit of customers per test clock
DELETES_AFTER_SECONDS = 30 * 86400  # Stripe deletes a clock 30 days after its creation
NO_SUBSCRIPTION_YEARS = 2  # how far one advance may go when the clock has no subscription
LABEL = "test_helpers.test_clock"
SLOT = "test_clock_customer"  # claim: <clock>#<n> → the clock's n-th customer
MAX_FROZEN_TIME = 32503680000  # 3000-01-01: an advance then still has its two years of room
ADVANCE_ATTEMPTS = 5  # = the test clock queue's maxReceiveCount (template.yaml): the last one fails the clock
# Steps (a reminder, a period close, a finalization) one advance may take: far above what two
# intervals of 3 customers' subscriptions need, so reaching it means a bug, never a long advance.
MAX_STEPS = 10_000
ADVANCING = clocks.ADVANCING  # the error code of a request a clock's advance refuses


# -- reading --------------------------------------------------------------------------------------
def expired(test_clock: TestClock, clock: Clock) -> bool:
    """Past its `deletes_after` (Stripe deletes a clock then): read as deleted, never advanced."""
    return clock.now >= test_clock.deletes_after


def _load(account: str, clock_id: str, clock: Clock) -> Stored[TestClock]:
    """The clock as the API shows it: NotFound (404) if absent or expired."""
    stored = objects.load(account, clock_id, TestClock, clock, label=LABEL)
    if expired(stored.record, clock):
        raise NotFound(LABEL, clock_id)
    return stored


def retrieve(account: str, clock_id: str, clock: Clock) -> TestClock:
    return _load(account, clock_id, clock).record


def list_(account: str, window: Window, clock: Clock) -> Page[TestClock]:
    return lists.list_records(
        account, TestClock, window, clock, label=LABEL, where=lambda tc: not expired(tc, clock)
    )


def customers_of(account: str, test_clock: TestClock) -> list[str]:
    """Ids of the customers that joined the clock, in order (deleted ones included)."""
    count = objects.count(account, test_clock.id, Customer.OBJECT)
    owners = (claims.owner_of(account, SLOT, f"{test_clock.id}#{n}") for n in range(count))
    return [o for o in owners if o is not None]


def _subscriptions(account: str, test_clock: TestClock, clock: Clock) -> list[Subscription]:
    """The active subscriptions of the clock's customers."""
    found = []
    for customer_id in customers_of(account, test_clock):
        for sub_id in subscriptions.of_customer(account, customer_id, clock):
            s = objects.get(account, sub_id, Subscription, clock)
            if s.running and s.test_clock == test_clock.id:
                found.append(s)
    return found


# -- create, join ---------------------------------------------------------------------------------
def create(account: str, frozen_time: int, name: str | None, clock: Clock) -> TestClock:
    test_clock = TestClock(
        id=new_id("clock"),
        created=clock.now,
        livemode=settings().livemode,
        frozen_time=frozen_time,
        deletes_after=clock.now + DELETES_AFTER_SECONDS,
        name=name,
    )
    objects.create(
        account, changes.created(test_clock, "test_helpers.test_clock.created", present(test_clock)), clock
    )
    return test_clock


def create_customer(
    account: str, clock_id: str, fields: dict[str, object], metadata: MetadataUpdate, request_clock: Clock
) -> Customer:
    """A customer on a test clock, created at its frozen time (one transaction: module doc)."""
    test_clock = referenced(account, clock_id, TestClock, "test_clock", request_clock, label=LABEL)
    gone = InvalidRequest(f"No such {LABEL}: '{clock_id}'", code="resource_missing", param="test_clock")
    if expired(test_clock, request_clock):
        raise gone
    if test_clock.status != "ready":
        raise invalid(
            "test_clock", f"The test clock {clock_id} is {test_clock.status}; it takes no customer."
        )
    n = objects.count(account, test_clock.id, Customer.OBJECT)
    if n >= MAX_CUSTOMERS:
        raise invalid(
            "test_clock", f"A test clock can have at most {MAX_CUSTOMERS} customers; {clock_id} has {n}."
        )
    at = Clock.at(test_clock.frozen_time)
    change = customers.new({**fields, "test_clock": test_clock.id}, metadata, at)
    change.claim.append(
        Unique(
            SLOT,
            f"{test_clock.id}#{n}",
            Conflict("A customer joined this test clock at the same time; retry."),
        )
    )
    change.requires.append(Exists(test_clock.id, gone))
    change.bump.append(Counter(test_clock.id, Customer.OBJECT))
    objects.create(account, change, at)
    return change.record  # type: ignore[no-any-return]


# -- advance --------------------------------------------------------------------------------------
def limit(test_clock: TestClock, subs: list[Subscription]) -> int:
    """The latest frozen_time one advance may reach (Stripe's rule): two intervals of the shortest
    subscription from the current frozen time, or two years without subscriptions."""
    ends = [periods.add_intervals(test_clock.frozen_time, s.interval, s.interval_count, 2) for s in subs]
    return min(ends, default=periods.add_intervals(test_clock.frozen_time, "year", NO_SUBSCRIPTION_YEARS, 1))


def _next_wake(s: Subscription, after: int) -> int | None:
    """When an advance next has work for `s`: a reminder still to write before its unbilled
    period's end (`Subscription.reminders_at`), else that end; once it has ended, its last
    true-up; None when nothing is left."""
    if not s.running:
        return s.final_true_up_at  # its last true-up (`billing.final_true_ups`), or None once done
    end = s.unbilled_period[1]
    return min((end, *(max(at, after) for at in s.reminders_at(end))))


def _invoices_due(account: str, tc: TestClock, at: Clock, until: int) -> list[tuple[int, str]]:
    """(due time, id) of the clock's customers' invoices the schedule would advance by `until`:
    drafts whose grace period ends, and open zero totals left unpaid by a crash."""
    out = []
    for customer_id in customers_of(account, tc):
        page = lists.list_records(account, Invoice, Window(limit=100), at, customer=customer_id)
        out += [(inv.due_at, inv.id) for inv in page.data if inv.due_at is not None and inv.due_at <= until]
    return out


def _final_true_ups(account: str, tc: TestClock, at: Clock, until: int) -> list[tuple[int, str]]:
    """(due time, id) of the clock's ended subscriptions whose last true-up falls by `until`
    (`billing.final_true_ups`; billed by `cycles.bill_period` like a period end)."""
    out = []
    for customer_id in customers_of(account, tc):
        for sub_id in subscriptions.of_customer(account, customer_id, at):
            due = objects.get(account, sub_id, Subscription, at).final_true_up_at
            if due is not None and due <= until:
                out.append((due, sub_id))
    return out


def _cadence_ticks(account: str, tc: TestClock, at: Clock, until: int) -> list[tuple[int, str]]:
    """(bill time, id) of the clock's customers' v2 cadences whose next tick is billed by `until`."""
    out = []
    for customer_id in customers_of(account, tc):
        page = lists.list_records(account, Cadence, Window(limit=100), at, customer=customer_id)
        out += [(c.bills_at, c.id) for c in page.data if c.bills_at is not None and c.bills_at <= until]
    return out


def _plan_grants(account: str, tc: TestClock, at: Clock, until: int) -> list[tuple[int, str]]:
    """(due time, id) of the clock's customers' pricing plan subscriptions whose next service
    action grant is due by `until` (`billing.service_grants`)."""
    out = []
    for customer_id in customers_of(account, tc):
        page = lists.list_records(account, PlanSubscription, Window(limit=100), at, customer=customer_id)
        out += [(s.grants_due, s.id) for s in page.data if s.grants_due is not None and s.grants_due <= until]
    return out


class NoProgress(Exception):
    """An advance that cannot make progress: a step changed nothing, or it took more than
    `MAX_STEPS` steps. Retrying would do the same, so the clock fails at once."""


class Stopped(Exception):
    """The clock was deleted (or its advance replaced) while its worker ran: stop there."""


def _still_advancing(account: str, clock_id: str, frozen_time: int, request_clock: Clock) -> None:
    """Raise Stopped unless the clock still exists and still advances to `frozen_time`."""
    try:
        tc = objects.get(account, clock_id, TestClock, request_clock)
    except NotFound:
        raise Stopped(f"the test clock {clock_id} was deleted") from None
    if tc.status != "advancing" or tc.advancing_to != frozen_time:
        raise Stopped(f"the test clock {clock_id} no longer advances to {frozen_time}")


def _run_until(
    account: str, tc: TestClock, at: Clock, frozen_time: int, request_clock: Clock
) -> list[Invoice]:
    """What the schedule would have done between the clock's time and `frozen_time`, in time
    order: write each reminder and bill each period end crossed (`cycles.bill_period`, at its own
    instant), and finalize every draft whose grace period ends (`lifecycle.advance_due`, which
    also pays a zero total) — each exactly once, so a resumed advance repeats nothing.

    Never a loop: after each step the subscription is read again and must have moved on (its next
    wake later, or ended), else NoProgress; at most `MAX_STEPS` steps, else NoProgress. Before
    each step the clock is read: deleted (or no longer advancing to `frozen_time`) → Stopped."""
    events: list[tuple[int, int, str, str]] = []
    for s in _subscriptions(account, tc, at):
        wake = _next_wake(s, tc.frozen_time)
        if wake is not None and wake <= frozen_time:
            events.append((wake, 0, "bill", s.id))
    events += [(due, 1, "finalize", inv_id) for due, inv_id in _invoices_due(account, tc, at, frozen_time)]
    events += [(due, 0, "bill", sub_id) for due, sub_id in _final_true_ups(account, tc, at, frozen_time)]
    events += [(due, 0, "tick", bc) for due, bc in _cadence_ticks(account, tc, at, frozen_time)]
    serviced = plan_servicing.due_on_clock(account, customers_of(account, tc), at, frozen_time)
    events += [(t, -3, "servicing", sub_id) for t, sub_id in serviced]  # v2: at their instants, first
    # service action grants at each interval start (before a tick or expiry at the same instant)
    events += [(due, -2, "grant", sub) for due, sub in _plan_grants(account, tc, at, frozen_time)]
    for customer_id in customers_of(account, tc):  # grants' expiries: before a bill at the same instant
        expiring = credit_ledger.expiries_until(account, customer_id, frozen_time)
        events += [(t, -1, "expire", customer_id) for t in expiring]
    heapq.heapify(events)
    billed = []
    steps = 0
    while events:
        _still_advancing(account, tc.id, frozen_time, request_clock)
        steps += 1
        if steps > MAX_STEPS:
            raise NoProgress(f"more than {MAX_STEPS} steps before {frozen_time}")
        when, _, kind, object_id = heapq.heappop(events)
        if kind == "expire":  # the ledger's `credits_expired` at the expiry instant (once)
            credit_ledger.record_expiries(account, object_id, Clock.at(when))
            continue
        if kind == "grant":  # a plan subscription's service action grants (`billing.service_grants`)
            service_grants.grant_due(account, object_id, Clock.at(when))
            nxt = objects.get(account, object_id, PlanSubscription, Clock.at(when)).grants_due
            if nxt is not None and nxt <= when:
                raise NoProgress(f"the pricing plan subscription {object_id} did not move on at {when}")
            if nxt is not None and nxt <= frozen_time:
                heapq.heappush(events, (nxt, -2, "grant", object_id))
            continue
        if kind == "finalize":
            # settled no later than the clock's time before this advance: a request that read the
            # clock then may still add usage reaching back 35 days (+ 24 h of cancels) from it
            lifecycle.advance_due(account, object_id, Clock.at(when), settle_until=tc.frozen_time)
            # a service action grant's expiry waits for its interval's invoice (`settles_at`)
            for customer_id in customers_of(account, tc):
                credit_ledger.record_expiries(account, customer_id, Clock.at(when))
            continue
        if kind == "servicing":  # `billing.plan_servicing`: once each, at its instant
            plan_servicing.announce(account, object_id, Clock.at(when))
            nxt = plan_servicing.next_on_clock(account, object_id, Clock.at(when))
            if nxt is not None and nxt <= when:
                raise NoProgress(f"the subscription {object_id} did not move on at {when}")
            if nxt is not None and nxt <= frozen_time:
                heapq.heappush(events, (nxt, -3, "servicing", object_id))
            continue
        if kind == "tick":  # a v2 cadence's tick, an hour after it (`billing.cadence_invoices`)
            ticked = cadence_invoices.bill_tick(account, object_id, when, Clock.at(when))
            if ticked.invoice is not None:
                billed.append(ticked.invoice)
                due = ticked.invoice.due_at
                if due is not None and due <= frozen_time:
                    heapq.heappush(events, (due, 1, "finalize", ticked.invoice.id))
            nxt = objects.get(account, object_id, Cadence, Clock.at(when)).bills_at
            if nxt is not None and nxt <= when:
                raise NoProgress(f"the cadence {object_id} did not move on at {when} ({ticked.outcome})")
            if nxt is not None and nxt <= frozen_time:
                heapq.heappush(events, (nxt, 0, "tick", object_id))
            if ticked.invoice is None:  # nothing billed: held grants of the interval may expire
                for customer_id in customers_of(account, tc):
                    credit_ledger.record_expiries(account, customer_id, Clock.at(when))
            continue
        s = objects.get(account, object_id, Subscription, Clock.at(when))
        end = s.unbilled_period[1]
        done = cycles.bill_period(account, object_id, end, Clock.at(when))
        if done.invoice is not None:
            billed.append(done.invoice)
            due = done.invoice.due_at
            if due is not None and due <= frozen_time:
                heapq.heappush(events, (due, 1, "finalize", done.invoice.id))
        try:
            after = objects.get(account, object_id, Subscription, Clock.at(when))
        except NotFound:  # removed with its clock while the step ran: stop there
            _still_advancing(account, tc.id, frozen_time, request_clock)
            raise
        wake = _next_wake(after, tc.frozen_time)
        if wake is not None and wake <= when:
            raise NoProgress(
                f"the subscription {object_id} did not move on at {when} (close: {done.outcome}; "
                f"next at {wake})"
            )
        if wake is not None and wake <= frozen_time:
            heapq.heappush(events, (wake, 0, "bill", object_id))
    return billed


def advance(account: str, clock_id: str, frozen_time: int, request_clock: Clock) -> TestClock:
    """Start moving the clock to `frozen_time` (Stripe's answer: the clock, `advancing`); its
    worker (`run_advance`, functions/advance_test_clock) does the billing in the background.

    Writes: (1) the clock → `advancing` (with its target); (2) one message to the test clock queue.
    Crash point: between them the clock is `advancing` with no message; the same advance sent
    again re-sends it (a duplicate message is harmless: `run_advance` is exactly-once). Any other
    advance is refused while the clock is `advancing`, and always once it is `internal_failure`.
    """
    stored = _load(account, clock_id, request_clock)
    tc = stored.record
    if tc.status == "advancing":
        if tc.advancing_to != frozen_time:
            raise InvalidRequest(
                f"The test clock {clock_id} is advancing to {tc.advancing_to}; wait until its status "
                "is ready before advancing it again.",
                code=ADVANCING,
            )
    elif tc.status == "internal_failure":
        raise InvalidRequest(
            f"The test clock {clock_id} failed to advance (status internal_failure) and cannot advance "
            "any more; delete it and start a new one."
        )
    else:
        if frozen_time <= tc.frozen_time:
            raise invalid(
                "frozen_time",
                f"The frozen_time must be after the test clock's current frozen_time ({tc.frozen_time}).",
            )
        furthest = limit(tc, _subscriptions(account, tc, Clock.at(tc.frozen_time)))
        if frozen_time > furthest:
            raise invalid(
                "frozen_time",
                "Cannot advance more than two intervals of the shortest subscription on this test "
                f"clock (or two years without subscriptions): at most {furthest}.",
            )
        after = replace(tc, status="advancing", advancing_to=frozen_time)
        change = changes.updated(after, "test_helpers.test_clock.advancing", present(tc), present(after))
        assert change is not None
        objects.update(account, stored, change, request_clock)
        tc = after
    queues.send([advance_message(account, tc.id, frozen_time)], settings().test_clock_queue_url)
    return tc


def advance_message(account: str, clock_id: str, frozen_time: int) -> dict[str, object]:
    """The test clock queue's message: which clock, and the advance it runs."""
    return {"account": account, "test_clock": clock_id, "frozen_time": frozen_time}


def run_advance(
    account: str, clock_id: str, frozen_time: int, attempt: int, request_clock: Clock
) -> tuple[TestClock | None, list[Invoice]]:
    """The worker's part of an advance: bill what the schedule would have between the clock's
    time and `frozen_time` (`_run_until`), then the clock → `ready` at `frozen_time`.

    Exactly once: a message for a clock that is gone, or no longer advancing to `frozen_time`
    (a duplicate delivery of a finished advance), does nothing; a redelivery after a crash resumes
    (`_run_until` skips what is done; the final update is conditioned on the clock's version).
    A failure is raised (SQS redelivers) until attempt `ADVANCE_ATTEMPTS`, which instead marks the
    clock `internal_failure` (Stripe's status: no further advance), so nothing waits forever.
    """
    try:
        stored = objects.load(account, clock_id, TestClock, request_clock, label=LABEL)
    except NotFound:
        return None, []
    tc = stored.record
    if tc.status != "advancing" or tc.advancing_to != frozen_time:
        return tc, []
    try:
        billed = _run_until(account, tc, Clock.at(tc.frozen_time), frozen_time, request_clock)
        ready = replace(tc, status="ready", frozen_time=frozen_time, advancing_to=None)
        change = changes.updated(ready, "test_helpers.test_clock.ready", present(tc), present(ready))
        assert change is not None
        objects.update(account, stored, change, request_clock)
    except Stopped as stop:
        logger.info("test clock advance stopped", extra={"test_clock": clock_id, "reason": str(stop)})
        return None, []
    except NoProgress as stuck:  # retrying would do the same: fail now, with the reason
        logger.error(
            "test clock advance made no progress: %s",
            stuck,
            extra={"account": account, "test_clock": clock_id, "frozen_time": frozen_time},
        )
        return _fail(account, clock_id, frozen_time, request_clock), []
    except Exception:
        if attempt < ADVANCE_ATTEMPTS:
            raise
        logger.exception(
            "test clock advance failed on its last attempt",
            extra={"account": account, "test_clock": clock_id, "frozen_time": frozen_time},
        )
        return _fail(account, clock_id, frozen_time, request_clock), []
    return ready, billed


def _fail(account: str, clock_id: str, frozen_time: int, request_clock: Clock) -> TestClock | None:
    """The clock → `internal_failure` (re-read: the failed attempt may have moved it on, or the
    clock may have been deleted meanwhile)."""
    try:
        stored = objects.load(account, clock_id, TestClock, request_clock, label=LABEL)
    except NotFound:
        return None
    tc = stored.record
    if tc.status != "advancing" or tc.advancing_to != frozen_time:
        return tc
    failed = replace(tc, status="internal_failure", advancing_to=None)
    change = changes.updated(failed, "test_helpers.test_clock.internal_failure", present(tc), present(failed))
    assert change is not None
    objects.update(account, stored, change, request_clock)
    return failed


# -- delete ---------------------------------------------------------------------------------------
def delete(account: str, clock_id: str, request_clock: Clock) -> TestClock:
    """Delete the clock with everything of its customers, as Stripe does.

    Per customer: `customers.delete` (its active subscriptions canceled at the clock's frozen
    time, with their `customer.subscription.deleted`, then `customer.deleted`), then its
    subscriptions and invoices removed without events (`_remove_objects_of`, transactions of at
    most 100 actions), and its credit grants with their ledger (`credit_ledger.remove_customer`);
    then the clock (`test_helpers.test_clock.deleted`). Crash points: after any of these
    transactions; a retry re-reads what is left (customers from the clock's slots, their
    objects from the by_customer index) and finishes. An expired clock (past `deletes_after`, read
    as deleted) can still be deleted, so its customers go too.
    """
    stored = objects.load(account, clock_id, TestClock, request_clock, label=LABEL)
    tc = stored.record
    at = Clock.at(tc.frozen_time)
    count = objects.count(account, tc.id, Customer.OBJECT)  # before reading the slots
    for customer_id in customers_of(account, tc):
        try:
            customers.delete(account, customer_id, at)
        except NotFound:
            pass  # deleted already (on its own, or by an interrupted delete of the clock)
        _remove_objects_of(account, customer_id, at)
        credit_ledger.remove_customer(account, customer_id, at)  # its billing credits
    change = changes.created(tc, "test_helpers.test_clock.deleted", present(tc))
    change.release = [(SLOT, f"{tc.id}#{n}") for n in range(count)]
    raced = Conflict("A customer joined this test clock at the same time; retry.")
    change.guards.append(Guard(tc.id, Customer.OBJECT, count, raced))
    objects.delete(account, stored, change, request_clock)
    return tc


def _remove_objects_of(account: str, customer_id: str, clock: Clock) -> None:
    """Remove a deleted customer's subscriptions (releasing their items' ids), invoices
    (releasing their period claims) and invoice items, a page at a time, in transactions of at
    most 100 actions."""
    for cls in (Invoice, Subscription, InvoiceItem):
        while True:
            page = lists.list_records(account, cls, Window(limit=100), clock, customer=customer_id)
            if not page.data:
                break
            batch: list[Write] = []
            released: set[tuple[str, str]] = set()  # a transaction names each claim once
            for record in page.data:
                write = _removal(objects.load(account, record.id, cls, clock))
                if batch and not transactions.fits([*batch, write]):
                    transactions.commit(account, batch, clock)
                    batch, released = [], set()
                write.change.release = [r for r in write.change.release if r not in released]
                released.update(write.change.release)
                batch.append(write)
            transactions.commit(account, batch, clock)


def _removal(stored: Stored[Invoice] | Stored[Subscription] | Stored[InvoiceItem]) -> Write:
    """The silent delete of one record with the claims that name it."""
    record = stored.record
    release: list[tuple[str, str]] = []
    if isinstance(record, Subscription):
        release = [(subscriptions.ITEM, i.id) for i in record.items]
    elif isinstance(record, Invoice) and record.subscription is not None:  # one-off: no claim
        release = [(cycles.INVOICE_PERIOD, f"{record.subscription}@{record.period_start}")]
    change = Change(record, None, {}, release=release)  # no event
    return Write(change, stored, delete=True)
