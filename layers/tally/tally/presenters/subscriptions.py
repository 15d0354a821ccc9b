"""The Stripe `subscription` object and its items.

A subscription record names its prices; presenting one needs those prices and the period that is
current at the instant of the read, which `SubscriptionView` carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tally.domain.records import Price, Subscription, SubscriptionItem
from tally.presenters.prices import plan, price


@dataclass(frozen=True)
class SubscriptionView:
    subscription: Subscription
    prices: Mapping[str, Price]
    period: tuple[int, int]  # the current period, or the one it ended in


def item(i: SubscriptionItem, p: Price, subscription_id: str, period: tuple[int, int]) -> dict[str, Any]:
    out = {
        "id": i.id,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": i.created,
        "current_period_end": period[1],
        "current_period_start": period[0],
        "current_trial": None,
        "discounts": [],
        "metadata": dict(i.metadata),
        "plan": plan(p),
        "price": price(p),
        "quantity": i.quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    }
    if i.quantity is None:  # a metered item: Stripe leaves `quantity` out (it is never null)
        del out["quantity"]
    return out


def _cancel_at(s: Subscription, period_end: int) -> int | None:
    if s.status == "canceled":
        return None
    return period_end if s.cancel_at_period_end else s.cancel_at


def subscription(view: SubscriptionView) -> dict[str, Any]:
    s = view.subscription
    start, end = view.period
    items = [item(i, view.prices[i.price], s.id, view.period) for i in s.items]
    return {
        "id": s.id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": s.billing_cycle_anchor,
        "billing_cycle_anchor_config": None,
        "billing_schedules": [],
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_thresholds": None,
        "cancel_at": _cancel_at(s, end),
        "cancel_at_period_end": s.cancel_at_period_end and s.status != "canceled",
        "canceled_at": s.canceled_at,
        "cancellation_details": {
            "comment": None,
            "feedback": None,
            "feedback_option": None,
            "reason": s.cancellation_reason,
        },
        "collection_method": "charge_automatically",
        "created": s.created,
        "currency": s.currency,
        "current_period_end": end,
        "current_period_start": start,
        "customer": s.customer,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": s.description,
        "discounts": [],
        "ended_at": s.ended_at,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={s.id}",
        },
        "latest_invoice": s.latest_invoice,
        "livemode": s.livemode,
        "managed_payments": None,
        "metadata": dict(s.metadata),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": s.start_date,
        "status": s.status,
        "test_clock": s.test_clock,
        "transfer_data": None,
        "trial_end": s.trial_end,
        "trial_settings": {
            "end_behavior": {"billing_cycle_anchor": None, "missing_payment_method": "create_invoice"}
        },
        "trial_start": s.start_date if s.trial_end is not None else None,
    }
