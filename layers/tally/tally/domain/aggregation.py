"""Meter formulas and the time grid usage is bucketed on.

Usage is pre-aggregated per (meter, customer, shard, hour) with per-minute detail inside the hour
item, and per second in one small item per minute, so a read of [start, end) to the second touches
one item per hour per shard, plus one item per shard for each boundary inside a minute, whatever
the number of events.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MINUTE = 60
HOUR = 3600
DAY = 86400


class Formula(StrEnum):
    SUM = "sum"
    COUNT = "count"
    LAST = "last"

    @property
    def additive(self) -> bool:
        return self is not Formula.LAST

    def contribution(self, value: int) -> int:
        """What one event adds to an additive bucket."""
        return 1 if self is Formula.COUNT else value


def floor_to(ts: int, step: int) -> int:
    return ts - ts % step


def minute_of_hour(ts: int) -> int:
    return (ts % HOUR) // MINUTE


@dataclass(frozen=True)
class Partial:
    """The seconds [lo, hi) of the minute starting at `minute` that a span holds (0 ≤ lo < hi ≤ 60,
    not the whole minute): where a boundary falls inside a minute."""

    minute: int
    lo: int
    hi: int

    @property
    def holds_first_second(self) -> bool:
        return self.lo == 0


@dataclass(frozen=True)
class Span:
    """An event-time range [start, end), to the second, cut into the hours it touches, the whole
    minutes it holds, and at most two partial minutes (one per boundary inside a minute)."""

    start: int
    end: int

    @property
    def empty(self) -> bool:
        return self.end <= self.start

    def hours(self) -> tuple[int, int]:
        """First and last hour-bucket starts touched (inclusive); empty span → (1, 0)."""
        if self.empty:
            return 1, 0
        return floor_to(self.start, HOUR), floor_to(self.end - 1, HOUR)

    def whole(self) -> tuple[int, int]:
        """The whole minutes inside the span, as a minute-aligned [lo, hi) (lo ≥ hi: none)."""
        return -(-self.start // MINUTE) * MINUTE, floor_to(self.end, MINUTE)

    def partials(self) -> list[Partial]:
        """The minutes the span holds only in part: the minute of an unaligned start, the minute
        of an unaligned end (one, when both fall in the same minute)."""
        if self.empty:
            return []
        first, last = floor_to(self.start, MINUTE), floor_to(self.end - 1, MINUTE)
        if first == last:
            lo, hi = self.start - first, self.end - first
            return [] if (lo, hi) == (0, MINUTE) else [Partial(first, lo, hi)]
        out = []
        if self.start != first:
            out.append(Partial(first, self.start - first, MINUTE))
        if self.end != last + MINUTE:
            out.append(Partial(last, 0, self.end - last))
        return out

    def minutes_in(self, hour: int) -> range:
        """The indices (0–59) of the whole minutes of `hour` inside the span."""
        lo, hi = self.whole()
        lo, hi = max(lo, hour), min(hi, hour + HOUR)
        if hi <= lo:
            return range(0)
        return range((lo - hour) // MINUTE, (hi - hour) // MINUTE)

    def covers(self, hour: int) -> bool:
        return self.start <= hour and hour + HOUR <= self.end

    def contains(self, ts: int) -> bool:
        return self.start <= ts < self.end


@dataclass(frozen=True)
class Latest:
    """A `last` candidate: the event time wins; ties go to the later arrival."""

    ts: int
    value: int

    @staticmethod
    def pick(a: Latest | None, b: Latest | None) -> Latest | None:
        if a is None:
            return b
        if b is None:
            return a
        return b if b.ts >= a.ts else a
