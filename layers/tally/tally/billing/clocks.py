"""The Clock a use case runs at: a customer on a test clock lives at the clock's frozen time.

The entry points choose `clock_for(account, customer, request_clock)` (or `clock_for_subscription`)
for the use cases acting for a customer or on a subscription; `frozen` is a test clock's time (its
target while it advances; a change is refused then: `changing`).
Reads only: below every use case that needs a customer's time (`tally.billing.test_clocks`, which
manages the clocks, sits above them).
"""

from __future__ import annotations

from tally.clock import Clock
from tally.domain.records import Customer, Subscription, TestClock
from tally.errors import InvalidRequest, NotFound
from tally.store import objects

ADVANCING = "test_clock_advancing"  # the error code of a request a clock's advance refuses


def frozen(account: str, clock_id: str, request_clock: Clock, *, changing: bool = False) -> Clock:
    """A test clock's "now" (the request's clock if the test clock is gone): its frozen time, and
    while it advances the time it advances to (`tally.billing.test_clocks`, "One now").
    `changing` (a request that changes a subscription or an invoice) is refused while it
    advances: 400 `test_clock_advancing`. An expired clock still gives its time: its customers'
    objects stay consistent until deleted."""
    try:
        tc = objects.get(account, clock_id, TestClock, request_clock)
    except NotFound:
        return request_clock
    if tc.status == "advancing" and tc.advancing_to is not None:
        if changing:
            raise InvalidRequest(
                f"The test clock {clock_id} is advancing to {tc.advancing_to}: its customers' "
                "subscriptions and invoices cannot change until its status is ready.",
                code=ADVANCING,
            )
        return Clock.at(tc.advancing_to)
    return Clock.at(tc.frozen_time)


def clock_for(
    account: str, customer_id: str | None, request_clock: Clock, *, changing: bool = False
) -> Clock:
    """The clock a use case acting for `customer_id` runs at: its test clock's "now" (`frozen`),
    else the request's. An unknown customer runs at the request's clock (the use case reports it)."""
    if not customer_id:
        return request_clock
    try:
        customer = objects.get(account, customer_id, Customer, request_clock)
    except NotFound:
        return request_clock
    if customer.test_clock is None:
        return request_clock
    return frozen(account, customer.test_clock, request_clock, changing=changing)


def clock_for_subscription(
    account: str, subscription_id: str, request_clock: Clock, *, changing: bool = False
) -> Clock:
    """The clock a use case acting on a subscription runs at: its test clock's "now" (`frozen`: an
    update or cancel of a subscription on a test clock happens at the clock's time), else the
    request's. An unknown subscription runs at the request's clock (the use case reports it)."""
    try:
        subscription = objects.get(account, subscription_id, Subscription, request_clock)
    except NotFound:
        return request_clock
    if subscription.test_clock is None:
        return request_clock
    return frozen(account, subscription.test_clock, request_clock, changing=changing)
