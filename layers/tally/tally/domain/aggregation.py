"""Meter formulas and the time grid usage is bucketed on.

Usage is pre-aggregated per (meter, customer, shard, hour) with per-minute detail inside the hour
item, so a period read touches one item per hour per shard, whatever the number of events.
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
class Span:
    """A minute-aligned [start, end) range cut into the hours it touches."""

    start: int
    end: int

    @classmethod
    def aligned(cls, start: int, end: int) -> Span:
        return cls(floor_to(start, MINUTE), floor_to(end, MINUTE))

    def hours(self) -> tuple[int, int]:
        """First and last hour-bucket starts touched (inclusive); empty span → (1, 0)."""
        if self.end <= self.start:
            return 1, 0
        return floor_to(self.start, HOUR), floor_to(self.end - 1, HOUR)

    def minutes_in(self, hour: int) -> range:
        """The minute indices (0–59) of `hour` that fall inside the span."""
        lo = max(self.start, hour)
        hi = min(self.end, hour + HOUR)
        if hi <= lo:
            return range(0)
        return range((lo - hour) // MINUTE, (hi - hour) // MINUTE)

    def covers(self, hour: int) -> bool:
        return self.start <= hour and hour + HOUR <= self.end


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
