"""Cadence billing cycles: unset fields from the creation instant (UTC), ticks from one anchor,
the 31st clamped in short months and back in long ones, month_of_year phases."""

from __future__ import annotations

import datetime as dt

from tally.domain.cadences import BillingCycle, Cadence, anchor, next_tick, resolve


def _ts(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


def _cadence(cycle: BillingCycle, created: int) -> Cadence:
    resolved = resolve(cycle, created)
    return Cadence(
        id="bc_x",
        created=created,
        livemode=False,
        billing_profile="p",
        customer="c",
        cycle=resolved,
        anchor=anchor(resolved, created),
    )


def _ticks(c: Cadence, start: int, n: int) -> list[str]:
    out, now = [], start
    for _ in range(n):
        now = next_tick(c, now)
        out.append(dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"))
    return out


def test_a_monthly_cycle_on_the_31st_clamps_and_comes_back():
    created = _ts(2026, 1, 10, 9, 30)
    c = _cadence(BillingCycle("month", day_of_month=31), created)
    assert _ticks(c, created, 4) == [
        "2026-01-31 00:00:00",
        "2026-02-28 00:00:00",
        "2026-03-31 00:00:00",
        "2026-04-30 00:00:00",
    ]


def test_unset_fields_take_the_creation_instant():
    created = _ts(2026, 3, 18, 14, 5, 7)  # a Wednesday
    week = resolve(BillingCycle("week"), created)
    assert week.day_of_week == 3
    month = resolve(BillingCycle("month"), created)
    assert (month.day_of_month, month.month_of_year) == (18, None)
    year = resolve(BillingCycle("year"), created)
    assert (year.day_of_month, year.month_of_year) == (18, 3)
    c = _cadence(BillingCycle("month", hour=14, minute=5, second=7), created)
    assert _ticks(c, created, 2) == ["2026-04-18 14:05:07", "2026-05-18 14:05:07"]


def test_a_quarterly_cycle_anchored_on_a_month_of_year():
    created = _ts(2026, 5, 2)
    c = _cadence(BillingCycle("month", interval_count=3, day_of_month=1, month_of_year=2), created)
    # quarters fall in Feb, May, Aug, Nov
    assert _ticks(c, created, 3) == ["2026-08-01 00:00:00", "2026-11-01 00:00:00", "2027-02-01 00:00:00"]


def test_a_weekly_and_a_yearly_cycle():
    created = _ts(2026, 3, 18, 12)  # Wednesday
    weekly = _cadence(BillingCycle("week", day_of_week=1, hour=6), created)
    assert _ticks(weekly, created, 2) == ["2026-03-23 06:00:00", "2026-03-30 06:00:00"]
    leap = _cadence(BillingCycle("year", day_of_month=29, month_of_year=2), created)
    assert _ticks(leap, created, 3) == ["2027-02-28 00:00:00", "2028-02-29 00:00:00", "2029-02-28 00:00:00"]
