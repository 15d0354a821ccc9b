"""Stripe's `billing_portal.session`, and the usage figures a portal page charts (a Tally shape)."""

from __future__ import annotations

from typing import Any

from tally.domain.portal import MeterUsage, PortalSession
from tally.presenters.meters import event_summary


def session(s: PortalSession, configuration: str, url: str, livemode: bool) -> dict[str, Any]:
    return {
        "id": s.id,
        "object": "billing_portal.session",
        "configuration": configuration,
        "created": s.created,
        "customer": s.customer,
        "customer_account": None,
        "flow": None,
        "livemode": livemode,
        "locale": s.locale,
        "on_behalf_of": None,
        "return_url": s.return_url,
        "url": url,
    }


def meter_usage(u: MeterUsage) -> dict[str, Any]:
    """One meter's chart: its summaries (the summaries API's objects, oldest first), the total so
    far and the projection to the period's end."""
    return {
        "meter": u.meter.id,
        "display_name": u.meter.display_name,
        "event_name": u.meter.event_name,
        "formula": u.meter.formula.value,
        "subscription": u.subscription,
        "period_start": u.period_start,
        "period_end": u.period_end,
        "usage_start": u.usage_start,
        "now": u.now,
        "value_grouping_window": u.grouping,
        "summaries": [event_summary(p) for p in u.points],
        "total": u.total,
        "projected": u.projected,
    }
