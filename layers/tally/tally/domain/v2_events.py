"""The v2 billing events Stripe documents for pricing plans, cadences and pricing plan
subscriptions (stripe-v2-pricing-plans.md §3.3, §9.1, §11.3): their types, the `related_object`
each names, and when a subscription's servicing events are due. Pure rules, no I/O.

They are thin events: the event log's entry carries `related_object` (`{id, type, url}`) instead
of a snapshot, as `v1.billing.credit_grant.*` do (`tally.store.changes.Change.thin`). Only the
types the reference names are written: none for rate cards, license fees, billable items, service
actions or intents (Stripe documents none), none for `servicing_paused` (Tally never pauses) nor
the `collection_*` family (Tally takes no payments: `collection_status` is always `current`).
"""

from __future__ import annotations

from typing import Any

PLAN_CREATED = "v2.billing.pricing_plan.created"
PLAN_UPDATED = "v2.billing.pricing_plan.updated"
COMPONENT_CREATED = "v2.billing.pricing_plan_component.created"
COMPONENT_UPDATED = "v2.billing.pricing_plan_component.updated"
VERSION_CREATED = "v2.billing.pricing_plan_version.created"
CADENCE_CREATED = "v2.billing.cadence.created"
CADENCE_CANCELED = "v2.billing.cadence.canceled"
CADENCE_BILLED = "v2.billing.cadence.billed"
SERVICING_ACTIVATED = "v2.billing.pricing_plan_subscription.servicing_activated"
SERVICING_CANCELED = "v2.billing.pricing_plan_subscription.servicing_canceled"

V2_EVENT_TYPES = frozenset(
    {
        PLAN_CREATED,
        PLAN_UPDATED,
        COMPONENT_CREATED,
        COMPONENT_UPDATED,
        VERSION_CREATED,
        CADENCE_CREATED,
        CADENCE_CANCELED,
        CADENCE_BILLED,
        SERVICING_ACTIVATED,
        SERVICING_CANCELED,
    }
)

# Named by the reference but never written by Tally (no pause, no payments): a webhook endpoint
# may still enable them, as it may enable any Stripe type (an app registers its list unchanged)
NEVER_SENT = frozenset(
    {
        "v2.billing.pricing_plan_subscription.servicing_paused",
        *(
            f"v2.billing.pricing_plan_subscription.collection_{s}"
            for s in ("current", "awaiting_customer_action", "past_due", "paused", "unpaid")
        ),
    }
)

PLANS = "/v2/billing/pricing_plans"


def related(object_type: str, object_id: str, url: str) -> dict[str, Any]:
    return {"id": object_id, "type": object_type, "url": url}


def plan(plan_id: str) -> dict[str, Any]:
    return related("v2.billing.pricing_plan", plan_id, f"{PLANS}/{plan_id}")


def version(plan_id: str, version_id: str) -> dict[str, Any]:
    return related("v2.billing.pricing_plan_version", version_id, f"{PLANS}/{plan_id}/versions/{version_id}")


def component(plan_id: str, component_id: str) -> dict[str, Any]:
    url = f"{PLANS}/{plan_id}/components/{component_id}"
    return related("v2.billing.pricing_plan_component", component_id, url)


def cadence(cadence_id: str) -> dict[str, Any]:
    return related("v2.billing.cadence", cadence_id, f"/v2/billing/cadences/{cadence_id}")


def subscription(sub_id: str) -> dict[str, Any]:
    url = f"/v2/billing/pricing_plan_subscriptions/{sub_id}"
    return related("v2.billing.pricing_plan_subscription", sub_id, url)


# -- servicing: time-driven, each exactly once ---------------------------------------------------


def next_servicing(announced: str, activated_at: int, canceled_at: int | None) -> int | None:
    """The instant of the next servicing event not yet written, given the status last announced
    (`pending`, `active`, `canceled`): the activation, then the cancel. A subscription canceled
    at or before its activation never activates: only its cancel is announced."""
    if announced == "canceled":
        return None
    never_active = canceled_at is not None and canceled_at <= activated_at
    if announced == "pending" and not never_active:
        return activated_at
    return canceled_at


def announcements(
    announced: str, activated_at: int, canceled_at: int | None, now: int
) -> tuple[str, list[str]]:
    """The servicing events due by `now` that were not announced yet, in order, and the status
    announced once they are written."""
    types: list[str] = []
    while (when := next_servicing(announced, activated_at, canceled_at)) is not None and when <= now:
        if (
            announced == "pending"
            and when == activated_at
            and not (canceled_at is not None and canceled_at <= activated_at)
        ):
            types.append(SERVICING_ACTIVATED)
            announced = "active"
        else:
            types.append(SERVICING_CANCELED)
            announced = "canceled"
    return announced, types
