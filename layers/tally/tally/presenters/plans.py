"""Stripe's v2 pricing-plan objects: license fees and their versions, service actions, pricing
plans, their versions and components (v2 conventions: `tally.presenters.catalog`)."""

from __future__ import annotations

from typing import Any

from tally.domain.catalog import LicensedItem
from tally.domain.plans import (
    LicenseFee,
    LicenseFeeVersion,
    PricingPlan,
    PricingPlanComponent,
    PricingPlanVersion,
    ServiceAction,
)
from tally.presenters.catalog import decimal_string, licensed_item, tier
from tally.presenters.meter_events import rfc3339


def _price(version: LicenseFeeVersion) -> dict[str, Any]:
    return {
        "tiering_mode": version.tiering_mode,
        "tiers": [tier(t) for t in version.tiers],
        "transform_quantity": (
            None
            if version.divide_by is None
            else {"divide_by": str(version.divide_by), "round": version.round}
        ),
        "unit_amount": None if version.unit_amount is None else decimal_string(version.unit_amount),
    }


def license_fee(fee: LicenseFee, latest: LicenseFeeVersion, item: LicensedItem) -> dict[str, Any]:
    """A fee with its licensed item embedded and its latest version's price."""
    return {
        "id": fee.id,
        "object": fee.OBJECT,
        "active": fee.active,
        "created": rfc3339(fee.created),
        "currency": fee.currency,
        "display_name": fee.display_name,
        "licensed_item": licensed_item(item),
        "live_version": fee.live_version,
        "livemode": fee.livemode,
        "lookup_key": fee.lookup_key,
        "metadata": dict(fee.metadata),
        "service_cycle": {"interval": fee.interval, "interval_count": fee.interval_count},
        "tax_behavior": fee.tax_behavior,
        **_price(latest),
    }


def license_fee_version(version: LicenseFeeVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "object": version.OBJECT,
        "created": rfc3339(version.created),
        "license_fee_id": version.license_fee,
        "livemode": version.livemode,
        **_price(version),
    }


def service_action(action: ServiceAction) -> dict[str, Any]:
    grant = action.credit_grant
    scope: dict[str, Any] = (
        {"price_type": grant.price_type}
        if grant.price_type
        else {"billable_items": list(grant.billable_items)}
    )
    return {
        "id": action.id,
        "object": action.OBJECT,
        "created": rfc3339(action.created),
        "credit_grant": {
            "amount": {"type": "monetary", "monetary": {"currency": grant.currency, "value": grant.value}},
            "applicability_config": {"scope": scope},
            "category": grant.category,
            "expiry_config": {"type": grant.expiry},
            "name": grant.name,
            "priority": grant.priority,
        },
        "livemode": action.livemode,
        "lookup_key": action.lookup_key,
        "service_interval": action.interval,
        "service_interval_count": action.interval_count,
        "type": action.type,
    }


def pricing_plan(plan: PricingPlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "object": plan.OBJECT,
        "active": plan.active,
        "created": rfc3339(plan.created),
        "currency": plan.currency,
        "description": plan.description,
        "display_name": plan.display_name,
        "live_version": plan.live_version,
        "livemode": plan.livemode,
        "lookup_key": plan.lookup_key,
        "metadata": dict(plan.metadata),
        "tax_behavior": plan.tax_behavior,
    }


def pricing_plan_version(version: PricingPlanVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "object": version.OBJECT,
        "created": rfc3339(version.created),
        "end_date": None if version.end_date is None else rfc3339(version.end_date),
        "livemode": version.livemode,
        "pricing_plan": version.pricing_plan,
        "start_date": rfc3339(version.start_date),
    }


def pricing_plan_component(component: PricingPlanComponent) -> dict[str, Any]:
    named: dict[str, Any] = {"license_fee": None, "rate_card": None, "service_action": None}
    if component.type == "service_action":
        named["service_action"] = {"id": component.target}
    else:
        named[component.type] = {"id": component.target, "version": component.target_version}
    return {
        "id": component.id,
        "object": component.OBJECT,
        "created": rfc3339(component.created),
        **named,
        "livemode": component.livemode,
        "lookup_key": component.lookup_key,
        "metadata": dict(component.metadata),
        "pricing_plan": component.pricing_plan,
        "pricing_plan_version": component.pricing_plan_version,
        "type": component.type,
    }
