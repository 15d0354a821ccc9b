"""Billing period arithmetic: where a cycle anchored at a given instant starts and ends.

All instants are int unix seconds in UTC. Month and year boundaries keep the anchor's
day-of-month and time of day; a month without that day clamps to its last day. Every boundary
is computed from the anchor (never from the previous boundary), so Jan 31 → Feb 28 → Mar 31.
"""

from __future__ import annotations

import calendar
import datetime as dt

INTERVALS = ("day", "week", "month", "year")
# Stripe caps a recurring interval at 3 years.
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}

_DAY = 86_400
_SECONDS = {"day": _DAY, "week": 7 * _DAY}
_MONTHS = {"month": 1, "year": 12}
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def validate_interval(interval: str, interval_count: int) -> None:
    """Check a recurring interval the way Stripe does; returns None or raises ValueError.

    `interval` is one of INTERVALS; `interval_count` is an integer from 1 up to
    MAX_INTERVAL_COUNT[interval] (three years in total).
    """
    if interval not in INTERVALS:
        raise ValueError(f"Invalid interval: {interval!r} (must be one of day, week, month or year).")
    if isinstance(interval_count, bool) or not isinstance(interval_count, int) or interval_count < 1:
        raise ValueError(f"Invalid interval_count: {interval_count!r} (must be a positive integer).")
    if interval_count > MAX_INTERVAL_COUNT[interval]:
        raise ValueError(
            f"Invalid interval_count: {interval_count} {interval}s is longer than the maximum billing "
            "interval of 3 years (3 years, 36 months, 156 weeks or 1095 days)."
        )


def add_intervals(anchor: int, interval: str, interval_count: int, n: int) -> int:
    """The boundary `n` periods after `anchor` (`n` may be negative or zero).

    Raises ValueError on an invalid interval (see `validate_interval`).
    """
    validate_interval(interval, interval_count)
    return _boundary(anchor, interval, interval_count, n)


def period_containing(anchor: int, interval: str, interval_count: int, now: int) -> tuple[int, int]:
    """The period `[start, end)` of the cycle anchored at `anchor` that contains `now`.

    `start <= now < end`; periods extend backwards when `now` is before the anchor. Takes a
    constant number of steps whatever the distance between `anchor` and `now`.
    Raises ValueError on an invalid interval.
    """
    validate_interval(interval, interval_count)
    if interval in _SECONDS:
        length = _SECONDS[interval] * interval_count
        n = (now - anchor) // length
        return anchor + n * length, anchor + (n + 1) * length
    # Estimate from calendar months, then correct: the estimate is off by at most one period
    # because the boundary inside a month can fall before or after `now`.
    step = _MONTHS[interval] * interval_count
    a, b = _utc_date(anchor), _utc_date(now)
    n = ((b.year - a.year) * 12 + (b.month - a.month)) // step
    while _boundary(anchor, interval, interval_count, n) > now:
        n -= 1
    while _boundary(anchor, interval, interval_count, n + 1) <= now:
        n += 1
    return _boundary(anchor, interval, interval_count, n), _boundary(anchor, interval, interval_count, n + 1)


def current_period(
    start_date: int, anchor: int, interval: str, interval_count: int, now: int
) -> tuple[int, int]:
    """The current `[start, end)` period of a subscription started at `start_date`.

    When the billing cycle anchor lies after the start and `now` is before it, the first period
    is the partial one `[start_date, anchor)`; otherwise it is `period_containing(anchor, ...)`.
    Raises ValueError on an invalid interval.
    """
    validate_interval(interval, interval_count)
    if start_date < anchor and now < anchor:
        return start_date, anchor
    return period_containing(anchor, interval, interval_count, now)


def _boundary(anchor: int, interval: str, interval_count: int, n: int) -> int:
    if interval in _SECONDS:
        return anchor + n * interval_count * _SECONDS[interval]
    day_seconds = anchor % _DAY
    date = _utc_date(anchor)
    month_index = date.year * 12 + (date.month - 1) + n * interval_count * _MONTHS[interval]
    year, month0 = divmod(month_index, 12)
    day = min(date.day, calendar.monthrange(year, month0 + 1)[1])
    return (dt.date(year, month0 + 1, day).toordinal() - _EPOCH_ORDINAL) * _DAY + day_seconds


def _utc_date(instant: int) -> dt.date:
    return dt.date.fromordinal(_EPOCH_ORDINAL + instant // _DAY)
