"""Usage alerts, the pure rules: what "usage" means for an alert and a customer, and which
crossing an alert may fire only once.

Usage is the customer's running total of the meter (its formula: sum, count or last) over a
window of event time:

- with a subscription (the customer's newest that has not ended), its current billing period,
  from the later of the period start and the alert's `counts_from` (its creation instant, to the
  second: only usage stamped at or after creation counts) to the period end;
- without one, from `counts_from` on, with no end.

An alert fires when that usage reaches `gte`, once per *trigger key*: `once` for `one_time`
(Stripe's: once per customer, ever), the period start for `per_period` (Tally's extension: once
per customer per billing period; `nosub` while the customer has no subscription).
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.domain.aggregation import MINUTE, floor_to
from tally.domain.records import ONE_TIME, Alert

MAX_PER_METER_AND_CUSTOMER = 25  # Stripe's limit; "every customer" counts as one more scope
ONCE = "once"
NO_PERIOD = "nosub"
AHEAD = 600  # events may be stamped up to 5 minutes ahead: an open window reads that far


@dataclass(frozen=True)
class Watch:
    """The active alerts ingest evaluates for a meter: those on every customer, and how many
    more there are on single customers (0: no per-customer list to read). `version` is the
    stored item's (0: none), for optimistic locking; it is not part of the stored body."""

    alerts: tuple[Alert, ...] = ()
    customer_alerts: int = 0
    version: int = 0
    # When the meter's first alert was created (request time; 0: never): from then on every usage
    # write keeps the customers' running figures (`store.usage.figures`), whatever the alerts.
    figures_since: int = 0

    @property
    def figures(self) -> bool:
        return self.figures_since > 0

    @property
    def idle(self) -> bool:
        return not self.alerts and self.customer_alerts == 0


@dataclass(frozen=True)
class Window:
    """The event-time span [start, end) whose usage an alert compares, and its trigger key."""

    start: int
    end: int
    key: str

    @property
    def empty(self) -> bool:
        return self.end <= self.start


def window(alert: Alert, period: tuple[int, int] | None, now: int) -> Window:
    """The usage window of `alert` for a customer whose current period is `period` (None: no
    subscription), at instant `now` (the customer's clock: a test clock's frozen time)."""
    rule = alert.usage_threshold
    assert rule is not None
    since = alert.counts_from
    one_time = rule.recurrence == ONE_TIME
    if period is None:
        return Window(since, floor_to(now + AHEAD, MINUTE) + MINUTE, ONCE if one_time else NO_PERIOD)
    start, end = period
    return Window(max(start, since), end, ONCE if one_time else str(start))


def trigger_value(alert_id: str, customer: str, key: str) -> str:
    """The value of an alert's trigger claim for one customer and key (see `window`)."""
    return f"{alert_id}#{customer}#{key}"


def crossed(alert: Alert, usage: int) -> bool:
    rule = alert.usage_threshold
    return rule is not None and usage >= rule.gte
