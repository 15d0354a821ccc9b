"""Service actions' credit grants (v2, issue 14 point 5): one grant per service interval.

A pricing plan subscription whose plan version has a service action component (`type:
credit_grant`) gets, at the start of each of the action's service intervals (counted from the
subscription's `activated_at`, with the action's own `service_interval`, like every component),
ONE ordinary credit grant (`billing.credit_grant`, with its usual `billing.credit_grant.created`
event and `credits_granted` entry): the action's amount, `category`, `priority` and `name`,
`effective_at` = the interval's start, `expires_at` = its end (`expiry_config:
end_of_service_period`), scoped as the action says (`price_type: metered`, or its
`billable_items`: those metered items' lines only). The interval's segment decides: the plan
version in force at the interval's start must hold the component; none starts at or after a
cancel. Stripe's default partial-period behaviour (`recurring_credit_grant.create_behavior:
full_credits`): every interval that starts gets the full amount, and so does the partial period a
modify starts mid-interval for a service action its new version adds (`_partial`).

The grant's credits cover the usage of its own interval, which the cadence invoices at the tick
after the interval ends: its expiry is recorded once that invoice is final
(`credit_ledger.settles_at`), and the application rules match a cadence line by its service
interval (`domain.credit_application.covers_period`). docs/API.md, "Service actions' credit grants".

When: the subscription record is in the due index at its next interval start
(`PlanSubscription.due_at`), so the period close sends `{kind: plan_subscription_due}` to the
billing queue, whose worker (`grant_due`) creates what started by then — whether or not a cadence
tick falls then; a test clock's advance calls it at each instant instead (`billing.test_clocks`).

Exactly once: a grant's id is derived from (subscription, component, interval start)
(`domain.credits.service_grant_id`), so its create (a conditional Put) succeeds once. Writes and
crash points:

1. each grant: ONE transaction (`credit_grants.commit_new`). A crash before or in it writes
   nothing; the retry creates it.
2. the subscription's `grants_through` / `grants_next` (version-checked; no event), which moves
   its due entry. A crash before it: the redelivery finds the grants already made (skipped by id)
   and writes it; after it, before the ack: the redelivery finds nothing due.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tally.billing import credit_grants
from tally.billing.service_schedule import Catalog, actions_of
from tally.clock import Clock
from tally.domain import cadence_billing as rules
from tally.domain import partial_periods
from tally.domain.credits import CreditGrant, Scope, service_grant_id
from tally.domain.intents import PlanSubscription
from tally.domain.plans import PricingPlanComponent, ServiceAction
from tally.errors import Conflict
from tally.settings import settings
from tally.store import credits as grant_store
from tally.store import objects, transactions
from tally.store.changes import Change, Write

ATTEMPTS = 3


@dataclass(frozen=True)
class Due:
    """One service interval's grant to make: the component, its action and the interval."""

    component: PricingPlanComponent
    action: ServiceAction
    interval: rules.Interval


def due_intervals(sub: PlanSubscription, low: int, high: int, catalog: Catalog) -> list[Due]:
    """The service intervals starting in `[low, high)` that get a grant (module doc)."""
    out = []
    for version, component, action in actions_of(sub, catalog):
        anchor = sub.activated_at
        for i in rules.intervals_between(anchor, action.interval, action.interval_count, low, high):
            if not (low <= i.start < high) or i.start < anchor:
                continue
            if sub.canceled_at is not None and i.start >= sub.canceled_at:
                continue
            if sub.segment_at(i.start).pricing_plan_version != version:
                continue  # another version is in force then
            out.append(Due(component, action, i))
    out += _partial(sub, low, high, catalog)
    return sorted(out, key=lambda d: (d.interval.start, d.component.id))


def _partial(sub: PlanSubscription, low: int, high: int, catalog: Catalog) -> list[Due]:
    """The partial periods a modify starts (Stripe's default partial-period behaviour,
    `recurring_credit_grant.create_behavior: full_credits`): a service action component that the
    new segment's version holds and the previous one did not grants its full amount from the
    segment's start `M` to the end of its interval containing `M` (unless `M` starts one); with
    the modify's override `create_behavior: none`, nothing for that partial interval."""
    out = []
    for n in range(1, len(sub.timeline)):
        seg, prev = sub.timeline[n], sub.timeline[n - 1]
        if not (low <= seg.start < high) or (sub.canceled_at is not None and seg.start >= sub.canceled_at):
            continue
        had = {c.id for c in catalog.components(prev.pricing_plan, prev.pricing_plan_version)}
        for version, component, action in actions_of(sub, catalog, n):
            if version != seg.pricing_plan_version or component.id in had:
                continue
            spans = rules.intervals_between(
                sub.activated_at, action.interval, action.interval_count, seg.start, seg.start + 1
            )
            around = next((i for i in spans if i.start < seg.start < i.end), None)
            if around is None or sub.segment_at(seg.start) is not seg:
                continue
            if partial_periods.grant_create_behavior(sub, seg.start) == "full_credits":  # else `none`
                out.append(Due(component, action, rules.Interval(seg.start, around.end)))
    return out


def next_start(sub: PlanSubscription, after: int, catalog: Catalog) -> int | None:
    """The first instant after `after` at which a grant may be due: an interval start of an
    action of the timeline, or a segment starting later (None: never, as things stand)."""
    found = [seg.start for seg in sub.timeline if seg.start > after]
    for _, _, action in actions_of(sub, catalog):
        for i in rules.intervals_between(
            sub.activated_at, action.interval, action.interval_count, after, after + 1
        ):
            found.append(i.start if i.start > after else i.end)
    found = [f for f in found if f > after]
    if sub.canceled_at is not None:
        found = [f for f in found if f < sub.canceled_at]
    return min(found, default=None)


def grant_of(sub: PlanSubscription, due: Due, now: int) -> CreditGrant:
    """The credit grant of one service interval (module doc)."""
    t = due.action.credit_grant
    items = tuple(t.billable_items)
    scope = Scope(price_type=None, billable_items=items) if items else Scope()
    return CreditGrant(
        id=service_grant_id(sub.id, due.component.id, due.interval.start),
        created=now,
        updated=now,
        livemode=settings().livemode,
        customer=sub.customer,
        currency=t.currency,
        amount=t.value,
        effective_at=due.interval.start,
        scope=scope,
        category=t.category,
        priority=t.priority,
        expires_at=due.interval.end,
        name=t.name,
        test_clock=sub.test_clock,
        pricing_plan_subscription=sub.id,
        billing_cadence=sub.billing_cadence,
        service_action=due.action.id,
    )


def _create(account: str, grant: CreditGrant, clock: Clock) -> bool:
    """Create the grant unless it exists (True: this call created it)."""
    if grant_store.grants(account, [grant.id]):
        return False
    try:
        credit_grants.commit_new(account, grant, clock, limited=False)
    except Conflict:
        if grant_store.grants(account, [grant.id]):
            return False  # a concurrent worker made it
        raise
    return True


def grant_due(account: str, subscription_id: str, clock: Clock) -> list[CreditGrant]:
    """Create every grant due by `clock` for the subscription, exactly once (module doc), and move
    its due entry to the next interval start. Returns the grants this call created."""
    made: list[CreditGrant] = []
    for attempt in range(ATTEMPTS):
        stored = objects.load(account, subscription_id, PlanSubscription, clock)
        sub = stored.record
        due = sub.grants_due
        if due is None or due > clock.now:
            return made
        low = sub.activated_at if sub.grants_through is None else sub.grants_through + 1
        if sub.grants_mark and sub.grants_mark != sub.mark:  # a modify since: from its segment
            low = min(low, sub.current.start)
        catalog = Catalog(account, clock)
        for d in due_intervals(sub, low, clock.now + 1, catalog):
            grant = grant_of(sub, d, clock.now)
            if _create(account, grant, clock):
                made.append(grant)
        after = replace(
            sub,
            grants_through=clock.now,
            grants_next=next_start(sub, clock.now, catalog),
            grants_mark=sub.mark,
        )
        try:
            transactions.commit(account, [Write(Change(after, None, {}), stored)], clock)
        except Conflict:  # the subscription changed (an intent committed): decide again
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return made
    raise AssertionError("unreachable")
