"""How the local pollers idle: they back off while nothing happens and wake at once when something may.

An idle `make run` used to poll moto ~30 times a second (the stream every 50 ms, each queue every
0.5 s): 20 % of a core doing nothing. Now every poller (queues, the stream) waits on one `Bell`,
rung by every request that can create work: a write reaching moto (`MotoServer` rings it for any
request but the pollers' own reads) and every request the gateway answers. After a ring a poller
polls at once; while its polls find nothing it waits longer each time (`Backoff`, up to
`IDLE_MAX_S`), but never past the moment it knows work becomes due: a delayed or returning SQS
message becomes visible (`MotoServer.next_visible`), so delays stated by SQS (DelaySeconds,
visibility timeouts) hold to the poll, not to the backoff.
"""

from __future__ import annotations

import threading
import time

IDLE_MIN_S = 0.05  # the first wait after work, and the least time between two polls
IDLE_MAX_S = 30.0  # the longest an idle poller sleeps without a ring (a safety net, not a delay)


class Bell:
    """A counter of rings that waiters can block on; `ring()` never blocks on a waiter."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._rings = 0

    @property
    def rings(self) -> int:
        return self._rings

    def ring(self) -> None:
        with self._cond:
            self._rings += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until a ring after `seen` (a former `rings`) or `timeout` seconds; True if rung."""
        with self._cond:
            return self._cond.wait_for(lambda: self._rings != seen, timeout=max(0.0, timeout))


class Backoff:
    """Doubling waits while idle, from IDLE_MIN_S to IDLE_MAX_S; `reset()` when there was work."""

    def __init__(self, low: float = IDLE_MIN_S, high: float = IDLE_MAX_S) -> None:
        self.low, self.high = low, high
        self.delay = low

    def reset(self) -> None:
        self.delay = self.low

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.high, self.delay * 2)
        return delay


def idle(bell: Bell, seen: int, backoff: Backoff, stop: threading.Event, due: float | None = None) -> None:
    """One idle wait of a poller: the backoff's next wait, cut short by a ring (which resets the
    backoff), by `stop`, or by `due` (a `time.time()` at which work is known to become visible).
    A ring still leaves `backoff.low` between two polls: under steady traffic every request rings,
    and a poller must not turn each into a poll of moto (which serves one request at a time)."""
    timeout = backoff.next()
    if due is not None:
        timeout = min(timeout, max(0.0, due - time.time()) + 0.01)
    if stop.is_set():
        return
    started = time.monotonic()
    if bell.wait(seen, timeout):
        backoff.reset()
        stop.wait(max(0.0, backoff.low - (time.monotonic() - started)))


# The process's bell: the local stack's pollers wait on it; moto and the gateway ring it.
BELL = Bell()
