"""Billing profiles and cadences (v2): who pays, and when invoices are generated. Records and the
billing-cycle arithmetic, no I/O.

A cadence's `billing_cycle` names its ticks by calendar fields (a time of day, a day of the
week or month, a month of the year) in UTC; unset fields take the cadence's creation instant
(Stripe). `anchor` turns the fields into one instant of the cycle; every tick is computed from
it by `tally.domain.periods` (never from the previous tick), so the 31st clamps to short months
and comes back in long ones.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import ClassVar

from tally.domain import periods

Metadata = dict[str, str]
CYCLE_TYPES = ("day", "week", "month", "year")
# month_of_year anchors a multi-month cycle only when its count divides a year (Stripe)
MONTH_OF_YEAR_COUNTS = (2, 3, 4, 6)
MAX_CYCLE_COUNT = {"day": 365, "week": 52, "month": 12, "year": 1}
_DAY = 86_400
GRACE_SECONDS = 3600  # Stripe: "a finalized invoice an hour after the billing cadence tick"


@dataclass(frozen=True)
class BillingProfile:
    OBJECT: ClassVar[str] = "v2.billing.profile"

    id: str
    created: int
    livemode: bool
    customer: str
    display_name: str | None = None
    default_payment_method: str | None = None
    lookup_key: str | None = None
    status: str = "active"
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class BillingCycle:
    """Resolved: every field the type uses is set (`month_of_year` only when given)."""

    type: str
    interval_count: int = 1
    hour: int = 0
    minute: int = 0
    second: int = 0
    day_of_week: int | None = None  # ISO: Monday 1 … Sunday 7 (week)
    day_of_month: int | None = None  # 1–31, clamped to short months (month, year)
    month_of_year: int | None = None  # 1–12 (year; month with a count dividing a year)


@dataclass(frozen=True)
class Cadence:
    OBJECT: ClassVar[str] = "v2.billing.cadence"

    id: str
    created: int
    livemode: bool
    billing_profile: str
    customer: str
    cycle: BillingCycle
    anchor: int  # one tick of the cycle (`anchor`)
    status: str = "active"
    canceled_at: int | None = None
    test_clock: str | None = None
    lookup_key: str | None = None
    metadata: Metadata = field(default_factory=dict)
    # The tick its invoices are billed through (`tally.billing.cadence_ticks`); None: none yet,
    # the first billing interval is the one containing `created`
    billed_through: int | None = None

    @property
    def unbilled(self) -> tuple[int, int]:
        """The billing interval `[P, T)` the next tick closes."""
        start = self.billed_through if self.billed_through is not None else period(self, self.created)[0]
        return start, next_tick(self, start)

    @property
    def due_at(self) -> int | None:
        """When the scheduled close bills its next tick (`tally.store.due`); on a test clock the
        advance bills it (None)."""
        return None if self.test_clock is not None else self.bills_at

    @property
    def bills_at(self) -> int | None:
        """When its next tick is billed: an hour after the tick (Stripe's grace for backdated
        usage). A canceled cadence bills one last tick, the one after its cancel (its
        subscriptions' last intervals end by then), then never (None)."""
        start, tick = self.unbilled
        if self.status != "active" and (self.canceled_at is None or start >= self.canceled_at):
            return None
        return tick + GRACE_SECONDS


def resolve(cycle: BillingCycle, created: int) -> BillingCycle:
    """Fill the fields left unset from the creation instant (UTC), as Stripe echoes them."""
    moment = dt.datetime.fromtimestamp(created, dt.UTC)
    out = dict(cycle.__dict__)
    if cycle.type == "week" and cycle.day_of_week is None:
        out["day_of_week"] = moment.isoweekday()
    if cycle.type in ("month", "year") and cycle.day_of_month is None:
        out["day_of_month"] = moment.day
    if cycle.type == "year" and cycle.month_of_year is None:
        out["month_of_year"] = moment.month
    return BillingCycle(**out)


def anchor(cycle: BillingCycle, created: int) -> int:
    """One tick of a resolved cycle, at or before `created`'s period: the instant every other
    tick is counted from. A month or year anchor is chosen in a month long enough for its day, so
    clamping never sticks (the 31st of a monthly cycle is anchored in a 31-day month)."""
    seconds = cycle.hour * 3600 + cycle.minute * 60 + cycle.second
    day = dt.datetime.fromtimestamp(created, dt.UTC).date()
    if cycle.type == "day":
        return _at(day, seconds)
    if cycle.type == "week":
        assert cycle.day_of_week is not None
        return _at(day - dt.timedelta(days=day.isoweekday() - cycle.day_of_week), seconds)
    assert cycle.day_of_month is not None
    step = cycle.interval_count * (12 if cycle.type == "year" else 1)
    month = cycle.month_of_year or day.month
    index = day.year * 12 + (month - 1)
    if index > day.year * 12 + day.month - 1:  # the anchor month is later this year: a cycle earlier
        index -= step
    for _ in range(12):  # a congruent month long enough for the day (≤ 8 leap years back)
        year, month0 = divmod(index, 12)
        if calendar.monthrange(year, month0 + 1)[1] >= cycle.day_of_month:
            return _at(dt.date(year, month0 + 1, cycle.day_of_month), seconds)
        index -= step
    raise ValueError(f"no month of the cycle has a day {cycle.day_of_month}")


def _at(date: dt.date, seconds: int) -> int:
    return int(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp()) + seconds


def next_tick(cadence: Cadence, now: int) -> int:
    """The first tick after `now`."""
    cycle = cadence.cycle
    return periods.period_containing(cadence.anchor, cycle.type, cycle.interval_count, now)[1]


def period(cadence: Cadence, now: int) -> tuple[int, int]:
    """The billing period `[start, end)` containing `now`."""
    cycle = cadence.cycle
    return periods.period_containing(cadence.anchor, cycle.type, cycle.interval_count, now)
