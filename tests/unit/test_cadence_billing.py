"""Which service intervals a cadence tick bills (`tally.domain.cadence_billing`), by hand."""

from __future__ import annotations

import datetime as dt

from tally.domain.cadence_billing import Interval, fee_intervals, longer_than, usage_intervals


def ts(y: int, m: int, d: int = 1) -> int:
    return int(dt.datetime(y, m, d, tzinfo=dt.UTC).timestamp())


def test_five_month_service_interval_on_an_annual_cadence_bills_two_completed_intervals():
    # seed 003: service every 5 months from 2025-03-31 (the tick), billed every year on March 31
    start, tick = ts(2025, 3, 31), ts(2026, 3, 31)
    billed = usage_intervals(start, None, "month", 5, start, tick)
    # Mar 31 → Aug 31 → Jan 31: two completed intervals, 10 months; Jan 31 → Jun 30 is still open
    assert billed == [Interval(ts(2025, 3, 31), ts(2025, 8, 31)), Interval(ts(2025, 8, 31), ts(2026, 1, 31))]
    # the next year's invoice picks up the interval that was open, and the next completed one
    nxt = usage_intervals(start, None, "month", 5, tick, ts(2027, 3, 31))
    assert nxt == [Interval(ts(2026, 1, 31), ts(2026, 6, 30)), Interval(ts(2026, 6, 30), ts(2026, 11, 30))]
    # license fees: each interval that STARTS in the billing interval, in advance (three of them)
    assert [i.start for i in fee_intervals(start, None, "month", 5, start, tick)] == [
        ts(2025, 3, 31),
        ts(2025, 8, 31),
        ts(2026, 1, 31),
    ]


def test_a_cancel_cuts_the_last_interval_and_starts_no_more():
    start = ts(2026, 1, 1)
    cancel = ts(2026, 2, 15)
    assert usage_intervals(start, cancel, "month", 1, ts(2026, 2, 1), ts(2026, 3, 1)) == [
        Interval(ts(2026, 2, 1), cancel)
    ]
    assert fee_intervals(start, cancel, "month", 1, ts(2026, 3, 1), ts(2026, 4, 1)) == []
    assert usage_intervals(start, cancel, "month", 1, ts(2026, 3, 1), ts(2026, 4, 1)) == []


def test_weekly_service_on_a_monthly_cadence():
    start = ts(2026, 1, 1)  # a Thursday
    weeks = usage_intervals(start, None, "week", 1, ts(2026, 1, 1), ts(2026, 2, 1))
    assert [w.end for w in weeks] == [ts(2026, 1, 8), ts(2026, 1, 15), ts(2026, 1, 22), ts(2026, 1, 29)]


def test_service_interval_longer_than_billing_interval():
    assert longer_than(("month", 1), ("week", 1))
    assert longer_than(("month", 2), ("month", 1))
    assert longer_than(("day", 30), ("month", 1))  # February is shorter
    assert not longer_than(("month", 1), ("month", 1))
    assert not longer_than(("month", 5), ("year", 1))
    assert not longer_than(("week", 1), ("month", 1))
    assert not longer_than(("day", 28), ("month", 1))
    assert longer_than(("month", 1), ("day", 30))
    assert not longer_than(("month", 1), ("day", 31))
