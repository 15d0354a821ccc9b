"""Period arithmetic: month ends, leap years, interval counts, boundaries, before-anchor periods."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.domain.periods import (
    INTERVALS,
    MAX_INTERVAL_COUNT,
    add_intervals,
    current_period,
    period_containing,
    validate_interval,
)


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Unix seconds for a UTC wall-clock time (calendar.timegm: independent of the module)."""
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


# --- add_intervals --------------------------------------------------------------------------

JAN31 = ts(2025, 1, 31, 10, 30)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, ts(2025, 1, 31, 10, 30)),
        (1, ts(2025, 2, 28, 10, 30)),  # Feb 2025 has 28 days → clamp
        (2, ts(2025, 3, 31, 10, 30)),  # from the anchor, so the 31st comes back
        (3, ts(2025, 4, 30, 10, 30)),  # April has 30
        (4, ts(2025, 5, 31, 10, 30)),
        (5, ts(2025, 6, 30, 10, 30)),
        (6, ts(2025, 7, 31, 10, 30)),
        (7, ts(2025, 8, 31, 10, 30)),
        (8, ts(2025, 9, 30, 10, 30)),
        (9, ts(2025, 10, 31, 10, 30)),
        (10, ts(2025, 11, 30, 10, 30)),
        (11, ts(2025, 12, 31, 10, 30)),
        (12, ts(2026, 1, 31, 10, 30)),
        (-1, ts(2024, 12, 31, 10, 30)),
        (-11, ts(2024, 2, 29, 10, 30)),  # Feb 2024 is a leap month
    ],
)
def test_monthly_jan31_anchor_keeps_its_day_through_a_year(n, expected):
    # GIVEN a Jan 31 10:30 anchor WHEN stepping n months THEN short months clamp, time is kept
    assert add_intervals(JAN31, "month", 1, n) == expected


@pytest.mark.parametrize(
    ("anchor", "interval", "count", "n", "expected"),
    [
        # leap years
        (ts(2028, 1, 31), "month", 1, 1, ts(2028, 2, 29)),  # 2028 is leap → Feb 29
        (ts(2028, 1, 30), "month", 1, 1, ts(2028, 2, 29)),  # 30 clamps to 29
        (ts(2027, 1, 30), "month", 1, 1, ts(2027, 2, 28)),  # 30 clamps to 28
        (ts(2028, 2, 29), "month", 1, 1, ts(2028, 3, 29)),  # the 29th is kept
        (ts(2028, 2, 29), "month", 1, 12, ts(2029, 2, 28)),  # 2029 not leap
        (ts(2028, 2, 29), "month", 1, -1, ts(2028, 1, 29)),
        # interval_count 3 months
        (ts(2025, 1, 31), "month", 3, 1, ts(2025, 4, 30)),
        (ts(2025, 1, 31), "month", 3, 2, ts(2025, 7, 31)),
        (ts(2025, 1, 31), "month", 3, 3, ts(2025, 10, 31)),
        (ts(2025, 1, 31), "month", 3, 4, ts(2026, 1, 31)),
        (ts(2025, 11, 30), "month", 3, 1, ts(2026, 2, 28)),  # Nov + 3 = Feb → 28
        (ts(2025, 11, 30), "month", 3, 2, ts(2026, 5, 30)),  # the 30th comes back
        (ts(2025, 11, 30), "month", 3, -1, ts(2025, 8, 30)),
        # yearly Feb 29 anchor
        (ts(2024, 2, 29, 12), "year", 1, 1, ts(2025, 2, 28, 12)),
        (ts(2024, 2, 29, 12), "year", 1, 4, ts(2028, 2, 29, 12)),
        (ts(2024, 2, 29, 12), "year", 1, -1, ts(2023, 2, 28, 12)),
        (ts(2024, 2, 29, 12), "year", 2, 1, ts(2026, 2, 28, 12)),
        (ts(2024, 2, 29, 12), "year", 2, 2, ts(2028, 2, 29, 12)),
        # 2 weeks: plain seconds
        (ts(2025, 1, 1), "week", 2, 1, ts(2025, 1, 15)),  # +14 days
        (ts(2025, 1, 1), "week", 2, 26, ts(2025, 12, 31)),  # +364 days
        (ts(2025, 1, 1), "week", 2, -1, ts(2024, 12, 18)),  # -14 days
        # days
        (ts(2025, 2, 27, 6), "day", 1, 2, ts(2025, 3, 1, 6)),  # 27 → 28 → Mar 1
        (ts(2028, 2, 27, 6), "day", 1, 2, ts(2028, 2, 29, 6)),  # leap: 27 → 28 → 29
        (ts(2025, 1, 1), "day", 3, 3, ts(2025, 1, 10)),  # +9 days
    ],
)
def test_add_intervals(anchor, interval, count, n, expected):
    # GIVEN an anchor and interval WHEN stepping n periods THEN the boundary is as computed by hand
    assert add_intervals(anchor, interval, count, n) == expected


def test_add_intervals_works_before_the_epoch():
    # GIVEN an anchor before 1970 WHEN stepping a month THEN floor arithmetic keeps the time of day
    assert add_intervals(ts(1969, 12, 31, 23), "month", 1, 2) == ts(1970, 2, 28, 23)


# --- period_containing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "interval", "count", "now", "expected"),
    [
        # now exactly on a boundary: start inclusive, end exclusive
        (ts(2025, 1, 31), "month", 1, ts(2025, 2, 28), (ts(2025, 2, 28), ts(2025, 3, 31))),
        (ts(2025, 1, 31), "month", 1, ts(2025, 2, 28) - 1, (ts(2025, 1, 31), ts(2025, 2, 28))),
        (ts(2025, 1, 31), "month", 1, ts(2025, 1, 31), (ts(2025, 1, 31), ts(2025, 2, 28))),
        (ts(2025, 1, 1), "day", 1, ts(2025, 1, 1), (ts(2025, 1, 1), ts(2025, 1, 2))),
        (ts(2025, 1, 1), "day", 1, ts(2025, 1, 2) - 1, (ts(2025, 1, 1), ts(2025, 1, 2))),
        # same day of month as the anchor but earlier in the day → still the previous period
        (
            ts(2025, 1, 15, 10),
            "month",
            1,
            ts(2025, 3, 15, 9, 59, 59),
            (ts(2025, 2, 15, 10), ts(2025, 3, 15, 10)),
        ),
        # leap February inside a period
        (ts(2028, 1, 31), "month", 1, ts(2028, 3, 1), (ts(2028, 2, 29), ts(2028, 3, 31))),
        # 3-month cycle
        (ts(2025, 1, 31), "month", 3, ts(2025, 6, 1), (ts(2025, 4, 30), ts(2025, 7, 31))),
        # 2-week cycle: Jan 1 + 14 = Jan 15, + 28 = Jan 29
        (ts(2025, 1, 1), "week", 2, ts(2025, 1, 20, 8), (ts(2025, 1, 15), ts(2025, 1, 29))),
        # yearly Feb 29 anchor in a non-leap year
        (ts(2024, 2, 29), "year", 1, ts(2025, 12, 1), (ts(2025, 2, 28), ts(2026, 2, 28))),
        (ts(2024, 2, 29), "year", 1, ts(2027, 6, 1), (ts(2027, 2, 28), ts(2028, 2, 29))),
        # day interval, ~100 years away from the anchor
        (ts(2000, 1, 1), "day", 1, ts(2099, 12, 31, 23, 59, 59), (ts(2099, 12, 31), ts(2100, 1, 1))),
        (ts(2025, 3, 10, 6), "day", 1, ts(2035, 7, 4, 15), (ts(2035, 7, 4, 6), ts(2035, 7, 5, 6))),
        # 3-day cycle: Jan 1 + 9 days = Jan 10 (9 = 3 × 3) ≤ Jan 10 12:00 < Jan 13
        (ts(2025, 1, 1), "day", 3, ts(2025, 1, 10, 12), (ts(2025, 1, 10), ts(2025, 1, 13))),
        # month interval, a century away
        (ts(2025, 1, 31, 10), "month", 1, ts(2125, 6, 15), (ts(2125, 5, 31, 10), ts(2125, 6, 30, 10))),
        # now before the anchor: periods extend backwards
        (ts(2025, 3, 31), "month", 1, ts(2025, 1, 15), (ts(2024, 12, 31), ts(2025, 1, 31))),
        (ts(2025, 3, 31), "month", 1, ts(2025, 2, 28), (ts(2025, 2, 28), ts(2025, 3, 31))),
        (ts(2025, 1, 15), "week", 1, ts(2025, 1, 1), (ts(2025, 1, 1), ts(2025, 1, 8))),  # 2 weeks back
        (ts(2025, 1, 15), "week", 1, ts(2025, 1, 1) - 1, (ts(2024, 12, 25), ts(2025, 1, 1))),
        (ts(2030, 6, 1), "year", 1, ts(2025, 6, 1) - 1, (ts(2024, 6, 1), ts(2025, 6, 1))),
    ],
)
def test_period_containing(anchor, interval, count, now, expected):
    # GIVEN a cycle anchor WHEN asked for the period holding now THEN [start, end) as computed by hand
    assert period_containing(anchor, interval, count, now) == expected


@given(
    anchor=st.integers(min_value=ts(1971, 1, 1), max_value=ts(2100, 1, 1)),
    now=st.integers(min_value=ts(1971, 1, 1), max_value=ts(2100, 1, 1)),
    interval=st.sampled_from(INTERVALS),
    data=st.data(),
)
def test_period_containing_tiles_time(anchor, now, interval, data):
    # GIVEN any anchor, instant and valid interval
    count = data.draw(st.integers(min_value=1, max_value=MAX_INTERVAL_COUNT[interval]))
    # WHEN the containing period is computed
    start, end = period_containing(anchor, interval, count, now)
    # THEN it holds now, and its neighbours meet it exactly (no gaps, no overlaps)
    assert start <= now < end
    assert period_containing(anchor, interval, count, end)[0] == end
    assert period_containing(anchor, interval, count, start - 1)[1] == start


# --- current_period -------------------------------------------------------------------------

START = ts(2025, 1, 10, 9)
ANCHOR = ts(2025, 2, 1)


@pytest.mark.parametrize(
    ("start", "anchor", "now", "expected"),
    [
        (START, ANCHOR, ts(2025, 1, 20), (START, ANCHOR)),  # before the anchor: partial first period
        (START, ANCHOR, START, (START, ANCHOR)),  # at the start itself
        (START, ANCHOR, ANCHOR, (ANCHOR, ts(2025, 3, 1))),  # on the anchor: the first full period
        (START, ANCHOR, ts(2025, 3, 5), (ts(2025, 3, 1), ts(2025, 4, 1))),
        (START, START, ts(2025, 2, 20), (ts(2025, 2, 10, 9), ts(2025, 3, 10, 9))),  # anchor == start
        # anchor == start: no partial period, even for an instant before the start
        (START, START, START - 1, (ts(2024, 12, 10, 9), START)),
    ],
)
def test_current_period(start, anchor, now, expected):
    # GIVEN a monthly subscription WHEN asked for its current period THEN [start, end) by hand
    assert current_period(start, anchor, "month", 1, now) == expected


# --- validate_interval ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "count", "message"),
    [
        ("quarter", 1, "Invalid interval"),
        ("month", 0, "positive integer"),
        ("month", -1, "positive integer"),
        ("month", True, "positive integer"),
        ("month", "1", "positive integer"),
        ("day", 1096, "3 years"),
        ("week", 157, "3 years"),
        ("month", 37, "3 years"),
        ("year", 4, "3 years"),
    ],
)
def test_validate_interval_rejects(interval, count, message):
    # GIVEN an invalid interval WHEN validated THEN ValueError explains it
    with pytest.raises(ValueError, match=message):
        validate_interval(interval, count)


@pytest.mark.parametrize("interval", INTERVALS)
def test_validate_interval_accepts_the_three_year_maximum(interval):
    # GIVEN the largest allowed count per interval WHEN validated THEN nothing is raised
    validate_interval(interval, 1)
    validate_interval(interval, MAX_INTERVAL_COUNT[interval])


def test_period_functions_reject_invalid_intervals():
    # GIVEN an unknown interval WHEN any period function runs THEN ValueError, not a wrong answer
    with pytest.raises(ValueError, match="Invalid interval"):
        period_containing(0, "fortnight", 1, 0)
    with pytest.raises(ValueError, match="Invalid interval"):
        add_intervals(0, "fortnight", 1, 1)
