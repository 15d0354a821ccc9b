"""Which service actions a pricing plan subscription runs, and when its next grant may be due
(v2, issue 14 point 5; the grants themselves: `tally.billing.service_grants`).

`actions_of` lists the service action components of the plan versions on a subscription's
timeline. `scheduled` is what an intent's commit calls on each subscription it writes: a timeline
whose changed part names no service action is marked seen at once, so a plan without service
actions never enters the due index (`PlanSubscription.due_at`); otherwise the subscription is due
at its new segment's start and the period close (or a test clock's advance) creates its grants.
Reads only.
"""

from __future__ import annotations

from dataclasses import replace

from tally.clock import Clock
from tally.domain.intents import PlanSubscription
from tally.domain.plans import PricingPlanComponent, PricingPlanVersion, ServiceAction, in_version
from tally.store import lists, objects


class Catalog:
    """The plan components and service actions one use case reads, each once."""

    def __init__(self, account: str, clock: Clock) -> None:
        self.account, self.clock = account, clock
        self._components: dict[str, list[PricingPlanComponent]] = {}
        self._actions: dict[str, ServiceAction] = {}

    def components(self, plan_id: str, version_id: str) -> list[PricingPlanComponent]:
        """The components of a plan version (every component of the plan, read once)."""
        if plan_id not in self._components:
            every = lists.every_record(
                self.account, PricingPlanComponent, self.clock, any_of=[("pricing_plan", plan_id)]
            )
            self._components[plan_id] = every
        version = objects.get(self.account, version_id, PricingPlanVersion, self.clock)
        return in_version(self._components[plan_id], version.seq)

    def action(self, action_id: str) -> ServiceAction:
        if action_id not in self._actions:
            self._actions[action_id] = objects.get(self.account, action_id, ServiceAction, self.clock)
        return self._actions[action_id]


def actions_of(
    sub: PlanSubscription, catalog: Catalog, first_segment: int = 0
) -> list[tuple[str, PricingPlanComponent, ServiceAction]]:
    """(plan version, component, action) of every service action component of the timeline's
    segments from `first_segment` on (each plan version once)."""
    out = []
    seen = set()
    for seg in sub.timeline[first_segment:]:
        pair = (seg.pricing_plan, seg.pricing_plan_version)
        if pair in seen:
            continue
        seen.add(pair)
        for component in catalog.components(*pair):
            if component.type == "service_action":
                out.append((seg.pricing_plan_version, component, catalog.action(component.target)))
    return out


def scheduled(
    account: str, before: PlanSubscription | None, sub: PlanSubscription, clock: Clock
) -> PlanSubscription:
    """`sub` (`before` it, None: new) as an intent's commit writes it: marked seen when nothing
    was pending before and the new last segment's plan version has no service action (nothing new
    to grant), else left due (`PlanSubscription.grants_due`)."""
    if sub.grants_mark == sub.mark:
        return sub
    if before is not None and before.grants_mark != before.mark:
        return sub  # grants were pending already: the worker decides
    if actions_of(sub, Catalog(account, clock), len(sub.timeline) - 1):
        return sub
    return replace(sub, grants_mark=sub.mark)
