"""Stripe's v2 billing intent, intent action and pricing plan subscription objects."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tally.domain import partial_periods
from tally.domain.intents import Action, CadenceData, Intent, PlanSubscription, servicing_status
from tally.presenters.cadences import billing_cycle
from tally.presenters.catalog import decimal_string
from tally.presenters.meter_events import rfc3339


def _ts(value: int | None) -> str | None:
    return None if value is None else rfc3339(value)


def intent(i: Intent) -> dict[str, Any]:
    zero = "0"
    return {
        "id": i.id,
        "object": i.OBJECT,
        "amount_details": {
            "amount_due": decimal_string(Decimal(i.amount_due)),
            "currency": i.currency,
            "customer_balance_applied": zero,
            "discount": zero,
            "shipping": zero,
            "subtotal": decimal_string(Decimal(i.subtotal)),
            "tax": zero,
            "total": decimal_string(Decimal(i.subtotal)),
        },
        # with `cadence_data`, the cadence exists (and is shown) once the commit created it
        "cadence": i.cadence if i.cadence_data is None or i.status == "committed" else None,
        "cadence_data": None if i.cadence_data is None else _cadence_data(i.cadence_data),
        "created": rfc3339(i.created),
        "currency": i.currency,
        "livemode": i.livemode,
        "status": i.status,
        "status_transitions": {
            "canceled_at": _ts(i.canceled_at),
            "committed_at": _ts(i.committed_at),
            "drafted_at": rfc3339(i.created),
            "expires_at": rfc3339(i.expires_at),
            "reserved_at": _ts(i.reserved_at),
        },
    }


def _cadence_data(d: CadenceData) -> dict[str, Any]:
    payer: dict[str, Any] = (
        {"billing_profile_data": {"customer": d.customer, "default_payment_method": None}}
        if d.new_profile
        else {"billing_profile": d.billing_profile}
    )
    return {"billing_cycle": billing_cycle(d.billing_cycle), "payer": payer, "settings": None}


def _overrides(a: Action) -> dict[str, Any]:
    """The partial-period behaviours in force for the action (given, else its type's default)."""
    credit, debit, grants = partial_periods.behaviors(
        a.type, a.credit_proration, a.debit_proration, a.credit_grant_create
    )
    values = {"credit_proration_behavior": credit, "debit_proration_behavior": debit}
    shown = [
        {
            "type": "license_fee",
            "license_fee": {k: values[k] for k in partial_periods.LICENSE_FEE_FIELDS[a.type]},
        }
    ]
    if "recurring_credit_grant" in partial_periods.OVERRIDE_TYPES[a.type]:
        shown.append(
            {"type": "recurring_credit_grant", "recurring_credit_grant": {"create_behavior": grants}}
        )
    return {"partial_period_behaviors": shown}


def _effective(a: Action) -> dict[str, Any]:
    shown: dict[str, Any] = {"type": a.effective_type}
    if a.effective_type == "timestamp" and a.effective_timestamp is not None:
        shown["timestamp"] = rfc3339(a.effective_timestamp)
    return shown


def action(a: Action, livemode: bool) -> dict[str, Any]:
    quantities = [
        {"lookup_key": q.lookup_key, "quantity": q.quantity}
        if q.lookup_key is not None
        else {"pricing_plan_component": q.component, "quantity": q.quantity}
        for q in a.quantities
    ]
    shown: dict[str, Any] = {
        "id": a.id,
        "object": "v2.billing.intent_action",
        "created": rfc3339(a.created),
        "livemode": livemode,
        "type": a.type,
    }
    if a.type == "subscribe":
        shown["subscribe"] = {
            "collect_at": a.collect_at,
            "effective_at": _effective(a),
            "type": "pricing_plan_subscription_details",
            "pricing_plan_subscription_details": {
                "component_configurations": quantities,
                "metadata": dict(a.metadata),
                "overrides": _overrides(a),
                "pricing_plan": a.pricing_plan,
                "pricing_plan_subscription": a.subscription,
                "pricing_plan_version": a.pricing_plan_version,
            },
        }
    elif a.type == "modify":
        shown["modify"] = {
            "collect_at": a.collect_at,
            "effective_at": _effective(a),
            "type": "pricing_plan_subscription_details",
            "pricing_plan_subscription_details": {
                "component_configurations": quantities,
                "new_pricing_plan": a.new_pricing_plan,
                "new_pricing_plan_version": a.new_pricing_plan_version,
                "overrides": _overrides(a),
                "pricing_plan_subscription": a.subscription,
            },
        }
    else:
        shown["deactivate"] = {
            "cancellation_details": {"comment": a.cancel_comment, "feedback": a.cancel_feedback},
            "collect_at": a.collect_at,
            "effective_at": _effective(a),
            "type": "pricing_plan_subscription_details",
            "pricing_plan_subscription_details": {
                "overrides": _overrides(a),
                "pricing_plan_subscription": a.subscription,
            },
        }
    return shown


def plan_subscription(s: PlanSubscription, now: int) -> dict[str, Any]:
    """Statuses are read at `now` (the customer's clock)."""
    status = servicing_status(s, now)
    current = s.segment_at(now)
    cancel = None
    if s.canceled_at is not None:
        cancel = {
            "comment": s.cancel_comment,
            "feedback": s.cancel_feedback,
            "reason": "cancellation_requested",
        }
    return {
        "id": s.id,
        "object": s.OBJECT,
        "billing_cadence": s.billing_cadence,
        "cancellation_details": cancel,
        "collection_status": "current",
        "collection_status_transitions": {
            "awaiting_customer_action_at": None,
            "current_at": rfc3339(s.created),
            "past_due_at": None,
            "paused_at": None,
            "unpaid_at": None,
        },
        "created": rfc3339(s.created),
        "livemode": s.livemode,
        "metadata": dict(s.metadata),
        "pricing_plan": current.pricing_plan,
        "pricing_plan_version": current.pricing_plan_version,
        "servicing_status": status,
        "servicing_status_transitions": {
            "activated_at": rfc3339(s.activated_at) if now >= s.activated_at else None,
            "canceled_at": _ts(s.canceled_at) if status == "canceled" else None,
            "paused_at": None,
            "will_activate_at": rfc3339(s.activated_at) if now < s.activated_at else None,
            "will_cancel_at": _ts(s.canceled_at)
            if s.canceled_at is not None and status != "canceled"
            else None,
        },
        "test_clock": s.test_clock,
    }
