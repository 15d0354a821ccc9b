"""Customer portal records and rules (no I/O): what a portal link grants, one meter's usage as the
portal charts it, and the projection of a period's usage to its end."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from tally.domain.aggregation import Formula
from tally.domain.event_summaries import EventSummary
from tally.domain.records import Meter


@dataclass(frozen=True)
class PortalSession:
    """What a portal link grants: one customer of one account, until `expires_at`."""

    id: str
    account: str
    customer: str
    created: int
    expires_at: int
    return_url: str | None
    locale: str | None


@dataclass(frozen=True)
class MeterUsage:
    """One metered item's usage in its subscription's current period, as the chart shows it."""

    meter: Meter
    subscription: str
    period_start: int
    period_end: int
    usage_start: int  # the period start, or when the item was added or switched since
    now: int  # the customer's "now": usage is counted up to here
    grouping: str  # "hour" or "day"
    points: list[EventSummary]  # oldest first, [usage_start, now) cut at grouping boundaries
    total: int
    projected: int  # to the period's end


def project(formula: Formula, total: int, start: int, now: int, end: int) -> int:
    """The period's total if usage goes on at its average rate so far: sum and count scale by
    period length / elapsed (half up to a whole unit); a last-value meter stays at its value."""
    if formula == Formula.LAST or now >= end or now <= start:
        return total
    scaled = Decimal(total) * Decimal(end - start) / Decimal(now - start)
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))
