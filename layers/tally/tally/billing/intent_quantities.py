"""Which license fee components a billing intent's subscription bills, and how many of each.

`component_configurations[]` name a plan version's license fee components by id or by the
component's `lookup_key` in that version (Stripe: `pricing_plan_component` or `lookup_key`); a
component left out bills quantity 1. A `modify` that names no configuration carries the current
quantities over to the new version: by component (a component kept across versions), else by
license fee (a fee's component replaced, e.g. to pin its new version), else 1.
"""

from __future__ import annotations

from tally.billing import pricing_plans
from tally.clock import Clock
from tally.domain.intents import Quantity, Segment
from tally.domain.plans import PricingPlan, PricingPlanComponent
from tally.errors import invalid


def _fees(account: str, plan: PricingPlan, version_id: str, clock: Clock) -> list[PricingPlanComponent]:
    version = pricing_plans.version_of(account, plan, version_id, clock)
    return [c for c in pricing_plans.components(account, plan, version, clock) if c.type == "license_fee"]


def quantities(
    account: str,
    plan: PricingPlan,
    version_id: str,
    given: tuple[Quantity, ...],
    clock: Clock,
    where: str = "actions",
) -> tuple[Quantity, ...]:
    """Every license fee component of the version with its quantity (1 when not given); a
    component is named by id or by its `lookup_key` in that version."""
    fees = _fees(account, plan, version_id, clock)
    ids = {c.id for c in fees}
    by_key = {c.lookup_key: c.id for c in fees if c.lookup_key}
    chosen: dict[str, int] = {}
    for i, q in enumerate(given):
        param = f"{where}.component_configurations[{i}]"
        if q.lookup_key is not None:
            if q.lookup_key not in by_key:
                raise invalid(
                    f"{param}.lookup_key",
                    f"No license fee component of this version has the lookup_key {q.lookup_key!r}.",
                )
            component = by_key[q.lookup_key]
        elif q.component in ids:
            component = q.component
        else:
            raise invalid(
                f"{param}.pricing_plan_component",
                f"{q.component} is not a license fee component of this version.",
            )
        if component in chosen:
            raise invalid(param, f"The component {component} is configured twice.")
        chosen[component] = q.quantity
    return tuple(Quantity(c.id, chosen.get(c.id, 1)) for c in fees)


def carried(
    account: str, current: Segment, plan: PricingPlan, version_id: str, clock: Clock
) -> tuple[Quantity, ...]:
    """`current`'s quantities on the license fee components of `plan`'s version `version_id`."""
    old_plan = (
        plan
        if plan.id == current.pricing_plan
        else pricing_plans.retrieve(account, current.pricing_plan, clock)
    )
    old = {c.id: c.target for c in _fees(account, old_plan, current.pricing_plan_version, clock)}
    by_component = {q.component: q.quantity for q in current.quantities}
    by_fee = {old[q.component]: q.quantity for q in current.quantities if q.component in old}
    return tuple(
        Quantity(c.id, by_component.get(c.id, by_fee.get(c.target, 1)))
        for c in _fees(account, plan, version_id, clock)
    )
