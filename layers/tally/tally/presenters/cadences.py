"""Stripe's v2 billing profile and cadence objects (v2 conventions: `tally.presenters.catalog`)."""

from __future__ import annotations

from typing import Any

from tally.domain.cadences import BillingCycle, BillingProfile, Cadence
from tally.presenters.meter_events import rfc3339


def profile(p: BillingProfile) -> dict[str, Any]:
    return {
        "id": p.id,
        "object": p.OBJECT,
        "created": rfc3339(p.created),
        "customer": p.customer,
        "default_payment_method": p.default_payment_method,
        "display_name": p.display_name,
        "livemode": p.livemode,
        "lookup_key": p.lookup_key,
        "metadata": dict(p.metadata),
        "status": p.status,
    }


def billing_cycle(c: BillingCycle) -> dict[str, Any]:
    time = {"hour": c.hour, "minute": c.minute, "second": c.second}
    shown: dict[str, Any] = {"type": c.type, "interval_count": c.interval_count}
    if c.type == "day":
        shown["day"] = {"time": time}
    elif c.type == "week":
        shown["week"] = {"day_of_week": c.day_of_week, "time": time}
    elif c.type == "month":
        month: dict[str, Any] = {"day_of_month": c.day_of_month, "time": time}
        if c.month_of_year is not None:
            month["month_of_year"] = c.month_of_year
        shown["month"] = month
    else:
        shown["year"] = {"day_of_month": c.day_of_month, "month_of_year": c.month_of_year, "time": time}
    return shown


def cadence(c: Cadence, next_billing_date: int | None) -> dict[str, Any]:
    """`next_billing_date` is read at the cadence's clock by the caller (None once canceled)."""
    return {
        "id": c.id,
        "object": c.OBJECT,
        "billing_cycle": billing_cycle(c.cycle),
        "created": rfc3339(c.created),
        "invoice_discount_rules": [],
        "livemode": c.livemode,
        "lookup_key": c.lookup_key,
        "metadata": dict(c.metadata),
        "next_billing_date": None if next_billing_date is None else rfc3339(next_billing_date),
        "payer": {"billing_profile": c.billing_profile, "customer": c.customer, "type": "customer"},
        "settings": None,
        "status": c.status,
        "test_clock": c.test_clock,
    }
