"""The Clock a use case runs at: a customer on a test clock lives at the clock's frozen time.

The entry points choose `clock_for(account, customer, request_clock)` (or `clock_for_subscription`)
for the use cases acting for a customer or on a subscription; `frozen` is a test clock's time.
Reads only: below every use case that needs a customer's time (`tally.billing.test_clocks`, which
manages the clocks, sits above them).
"""

from __future__ import annotations

from tally.clock import Clock
from tally.domain.records import Customer, Subscription, TestClock
from tally.errors import NotFound
from tally.store import objects


def frozen(account: str, clock_id: str, request_clock: Clock) -> Clock:
    """The Clock of a test clock's frozen time (the request's clock if the test clock is gone).
    An expired clock still gives its time: its customers' objects stay consistent until deleted."""
    try:
        return Clock.at(objects.get(account, clock_id, TestClock, request_clock).frozen_time)
    except NotFound:
        return request_clock


def clock_for(account: str, customer_id: str | None, request_clock: Clock) -> Clock:
    """The clock a use case acting for `customer_id` runs at: its test clock's frozen time, else
    the request's. An unknown customer runs at the request's clock (the use case reports it)."""
    if not customer_id:
        return request_clock
    try:
        customer = objects.get(account, customer_id, Customer, request_clock)
    except NotFound:
        return request_clock
    if customer.test_clock is None:
        return request_clock
    return frozen(account, customer.test_clock, request_clock)


def clock_for_subscription(account: str, subscription_id: str, request_clock: Clock) -> Clock:
    """The clock a use case acting on a subscription runs at: its test clock's frozen time (an
    update or cancel of a subscription on a test clock happens at the clock's time), else the
    request's. An unknown subscription runs at the request's clock (the use case reports it)."""
    try:
        subscription = objects.get(account, subscription_id, Subscription, request_clock)
    except NotFound:
        return request_clock
    if subscription.test_clock is None:
        return request_clock
    return frozen(account, subscription.test_clock, request_clock)
