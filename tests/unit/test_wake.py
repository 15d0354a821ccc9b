"""How the local pollers idle (`tally_local.wake`): backing off, woken by a ring, never past `due`."""

from __future__ import annotations

import threading
import time

from tally_local.wake import Backoff, Bell, idle


def test_the_backoff_doubles_up_to_its_ceiling_and_resets():
    backoff = Backoff(low=0.05, high=0.3)
    assert [backoff.next() for _ in range(5)] == [0.05, 0.1, 0.2, 0.3, 0.3]
    backoff.reset()
    assert backoff.next() == 0.05


def test_a_ring_wakes_an_idle_poller_at_once_but_not_sooner_than_the_gap():
    # GIVEN a poller far into its backoff (its next wait: 10 s)
    bell, stop = Bell(), threading.Event()
    backoff = Backoff(low=0.2, high=10.0)
    backoff.delay = 10.0
    seen = bell.rings
    threading.Timer(0.05, bell.ring).start()
    # WHEN work rings the bell
    started = time.monotonic()
    idle(bell, seen, backoff, stop)
    waited = time.monotonic() - started
    # THEN it polls after the minimum gap, not after its backoff, and its backoff starts over
    assert 0.19 <= waited < 2.0
    assert backoff.delay == 0.2


def test_a_known_due_time_cuts_the_wait_short():
    # GIVEN a message known to become visible in 0.1 s, and a backoff of 10 s
    bell, stop = Bell(), threading.Event()
    backoff = Backoff(low=0.05, high=10.0)
    backoff.delay = 10.0
    started = time.monotonic()
    # WHEN the poller idles THEN it wakes when the message is due
    idle(bell, bell.rings, backoff, stop, due=time.time() + 0.1)
    assert 0.09 <= time.monotonic() - started < 2.0
