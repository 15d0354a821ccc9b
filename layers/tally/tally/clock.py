"""The instant a flow runs at, chosen once at its entry point and handed down.

An HTTP request runs at the moment it arrived, a scheduled job at its schedule's time, and (later)
a customer on a test clock at that clock's frozen time. Nothing below the entry points reads the
wall clock: a test runs a whole flow at any instant by passing `Clock(instant)`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    instant: float  # unix seconds, with the fraction (list order is kept to the millisecond)

    @property
    def now(self) -> int:
        """Unix seconds, as Stripe's timestamps are."""
        return int(self.instant)

    @property
    def millis(self) -> int:
        return int(self.instant * 1000)

    def later(self, seconds: float) -> Clock:
        return Clock(self.instant + seconds)

    @classmethod
    def at(cls, instant: float) -> Clock:
        return cls(float(instant))

    @classmethod
    def system(cls) -> Clock:
        """The wall clock. Only entry points (handlers, the CLI) call this."""
        return cls(time.time())
