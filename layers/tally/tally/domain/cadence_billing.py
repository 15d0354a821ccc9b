"""A cadence's invoices: which service intervals one billing interval bills (pure, no I/O).

A cadence tick `T` closes the billing interval `[P, T)`. Each component of a pricing plan
subscription has its own service interval (`service_cycle`), counted from the subscription's
`activated_at` (never from the cadence's ticks), so one billing interval may bill several service
intervals of a component, or none:

- a rate card bills usage in arrears, only for COMPLETED service intervals: those ending in
  `(P, T]`. A canceled subscription's last interval ends at its cancel instant (partial). Tiers
  reset per service interval, so each (interval, rate) is priced on its own.
- a license fee bills in advance each service interval that STARTS in `[P, T)` (seed 003's rule
  "License fees are billed in advance for any service interval that started during the billing
  interval"), in full, × the subscription's quantity; none starts at or after a cancel.

A service interval longer than the billing interval is refused (`longer_than`, Stripe's rule:
"You must configure the service interval to be shorter than the billing interval"); equal is fine.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tally.domain import periods
from tally.domain.records import Invoice, InvoiceLine

TICK_CLAIM = "cadence_tick"  # claim: one invoice per <cadence>@<tick>
LATE_SECONDS = 36 * 86_400  # meter events are accepted 35 days back (+ 24 h of cancels)
MAX_INTERVALS = 400  # service intervals one component may bill on one invoice (a daily one, a year)


@dataclass(frozen=True)
class Interval:
    start: int
    end: int


def _index(anchor: int, interval: str, count: int, at: int) -> int:
    """The index of the interval counted from `anchor` that contains `at` (0 before `anchor`)."""
    if at <= anchor:
        return 0
    if interval in ("day", "week"):
        return (at - anchor) // ((86_400 if interval == "day" else 7 * 86_400) * count)
    months = (12 if interval == "year" else 1) * count
    a, b = dt.datetime.fromtimestamp(anchor, dt.UTC), dt.datetime.fromtimestamp(at, dt.UTC)
    n = max(0, ((b.year - a.year) * 12 + b.month - a.month) // months)
    while n > 0 and periods.add_intervals(anchor, interval, count, n) > at:
        n -= 1
    while periods.add_intervals(anchor, interval, count, n + 1) <= at:
        n += 1
    return n


def intervals_between(anchor: int, interval: str, count: int, low: int, high: int) -> list[Interval]:
    """The natural intervals counted from `anchor` that start in `[low - one interval, high)`."""
    n = max(0, _index(anchor, interval, count, low) - 1)
    out: list[Interval] = []
    while len(out) < MAX_INTERVALS:
        start = periods.add_intervals(anchor, interval, count, n)
        if start >= high:
            break
        out.append(Interval(start, periods.add_intervals(anchor, interval, count, n + 1)))
        n += 1
    return out


def usage_intervals(
    activated_at: int, canceled_at: int | None, interval: str, count: int, p: int, t: int
) -> list[Interval]:
    """The completed service intervals a rate card bills at tick `t` closing `[p, t)`: ending in
    `(p, t]`, the last one cut at the cancel instant."""
    out = []
    stop = t if canceled_at is None else min(t, canceled_at)
    for i in intervals_between(activated_at, interval, count, p, stop):
        end = i.end if canceled_at is None else min(i.end, canceled_at)
        if i.start < end and p < end <= t:
            out.append(Interval(i.start, end))
    return out


def fee_intervals(
    activated_at: int, canceled_at: int | None, interval: str, count: int, p: int, t: int
) -> list[Interval]:
    """The service intervals a license fee bills in advance at tick `t`: starting in `[p, t)`
    (and before any cancel)."""
    stop = t if canceled_at is None else min(t, canceled_at)
    return [i for i in intervals_between(activated_at, interval, count, p, stop) if p <= i.start < stop]


def _months_days(interval: str, count: int) -> tuple[int, int]:
    if interval in ("month", "year"):
        return (12 if interval == "year" else 1) * count, 0
    return 0, (7 if interval == "week" else 1) * count


def _month_days(months: int, longest: bool) -> int:
    """The fewest (or most) days `months` consecutive calendar months can have."""
    spans = []
    for year in (2023, 2024):  # a common year and a leap year cover every case
        for first in range(12):
            total = 0
            for k in range(months):
                y, m = divmod(first + k, 12)
                total += calendar.monthrange(year + y, m + 1)[1]
            spans.append(total)
    return max(spans) if longest else min(spans)


def longer_than(service: tuple[str, int], billing: tuple[str, int]) -> bool:
    """A service interval that can be longer than the billing interval (never allowed)."""
    s_months, s_days = _months_days(*service)
    b_months, b_days = _months_days(*billing)
    if s_days and b_days:
        return s_days > b_days
    if s_months and b_months:
        return s_months > b_months
    if s_days:  # days against months: longer than the shortest such billing interval
        return s_days > _month_days(b_months, longest=False)
    return _month_days(s_months, longest=True) > b_days


def _key(ln: InvoiceLine) -> tuple[Any, ...]:
    assert ln.plan is not None and ln.plan.rate_card_rate is not None
    # a group of `invoice_presentation_dimensions` is trued up on its own line
    plan = ln.plan
    return (
        plan.pricing_plan_subscription,
        plan.rate_card_rate,
        ln.period_start,
        ln.period_end,
        plan.dimensions,
    )


def true_ups(now: Iterable[InvoiceLine], earlier: Sequence[Invoice], new_id: str) -> list[InvoiceLine]:
    """Late usage of service intervals earlier ticks billed: `now` are the rate card lines those
    intervals amount to today (same rates), `earlier` the cadence's invoices that billed them
    (void ones billed nothing). One line per (subscription, rate, interval) whose amount changed:
    the difference (negative when usage was canceled), `plan.late`, ids `<new_id>_<n>`."""
    billed: dict[tuple[Any, ...], tuple[int, int, InvoiceLine]] = {}
    for inv in earlier:
        if inv.status == "void":
            continue
        for ln in inv.lines:
            if ln.plan is not None and ln.plan.rate_card_rate is not None:
                amount, quantity, _ = billed.get(_key(ln), (0, 0, ln))
                billed[_key(ln)] = (amount + ln.amount, quantity + ln.quantity, ln)
    out: list[InvoiceLine] = []
    seen = set()
    for ln in now:
        key = _key(ln)
        seen.add(key)
        amount, quantity, _ = billed.get(key, (0, 0, ln))
        if ln.amount != amount:
            out.append(_late(ln, ln.amount - amount, max(ln.quantity - quantity, 0), f"{new_id}_{len(out)}"))
    for key, (amount, _, ln) in billed.items():
        if key not in seen and amount != 0:  # its usage is gone (canceled events)
            out.append(_late(ln, -amount, 0, f"{new_id}_{len(out)}"))
    return out


def _late(ln: InvoiceLine, amount: int, quantity: int, line_id: str) -> InvoiceLine:
    # `PlanLine.late`, not `InvoiceLine.true_up`: the lifecycle recomputes a v1 subscription's
    # true-up lines at finalization (`billing.true_ups`) and would drop these
    assert ln.plan is not None
    return replace(
        ln,
        id=line_id,
        amount=amount,
        quantity=quantity,
        description=f"Late usage: {ln.description}",
        plan=replace(ln.plan, late=True),
    )
