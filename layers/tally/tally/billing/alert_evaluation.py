"""Evaluating usage alerts on the ingest path, right after the usage is written.

For each (meter, customer) a request wrote to — or found already written: a client's retry of a
request that crashed after its usage write re-evaluates, so a crossing is never lost — and whose
meter has active alerts (`Watch`, read with the meter at no extra request):

1. the alerts on that customer: the meter-wide list, plus the customer's list (one GetItem) when
   the meter has alerts on single customers;
2. the customer's current billing period: its newest subscription that has not ended (one Query
   of `by_customer`), at the customer's clock (a test clock's frozen time);
3. which of those alerts already fired for this customer and period (one BatchGetItem of the
   trigger claims); the others read the usage of their window (`domain.alerts.window`, from the
   alert's creation second) through `usage_figures.usage_in`: ONE item (the running figure) on a
   meter whose figures are kept — then the usage is read first and only the alerts it crosses
   read their claims, so an unfired alert reads none — else one Query per shard of the hour
   buckets, plus one BatchGetItem when the window starts inside a minute, shared by alerts with
   the same window;
4. each alert whose usage reached `gte` records its trigger: the claim and the
   `billing.alert.triggered` event in ONE transaction, the claim conditional on being absent, so
   of 8 writers crossing together exactly one records it (`store.alerts.trigger`).

Crash points: before step 4 nothing is written (the next event or the client's retry evaluates
again); step 4 is all or nothing; after it the claim makes every later evaluation skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tally.billing import subscriptions, usage_figures
from tally.clock import Clock
from tally.domain import alerts as rules
from tally.domain.listing import Window
from tally.domain.records import Alert, Meter, Subscription
from tally.presenters.alerts import triggered
from tally.store import alerts as watches
from tally.store import lists

SUBSCRIPTIONS_READ = 10  # the customer's newest subscriptions looked at for the current period


def current_period(account: str, customer: str, clock: Clock) -> tuple[int, int] | None:
    """The current period of the customer's newest subscription that has not ended, if any."""
    page = lists.list_records(
        account, Subscription, Window(limit=SUBSCRIPTIONS_READ), clock, customer=customer
    )
    for s in page.data:
        if s.ended_at is None:
            return subscriptions.current_period(s, clock)
    return None


def evaluate(
    account: str,
    meter: Meter,
    watch: rules.Watch,
    customers: Iterable[str],
    clock_of: Callable[[str], Clock],
    request_now: int = 0,
) -> int:
    """Evaluate the meter's active alerts for each customer; returns how many triggers this call
    recorded (0 when they were already recorded, by it or a concurrent call)."""
    recorded = 0
    for customer in dict.fromkeys(customers):
        alerts: list[Alert] = list(watch.alerts)
        if watch.customer_alerts:
            alerts += watches.customer_watch(account, meter.id, customer)[1].alerts
        if alerts:
            recorded += _evaluate(account, meter, watch, customer, alerts, clock_of(customer), request_now)
    return recorded


def _evaluate(
    account: str,
    meter: Meter,
    watch: rules.Watch,
    customer: str,
    alerts: list[Alert],
    clock: Clock,
    request_now: int,
) -> int:
    period = current_period(account, customer, clock)
    plans = []
    for alert in alerts:
        window = rules.window(alert, period, clock.now)
        if not window.empty:
            plans.append((alert, window, rules.trigger_value(alert.id, customer, window.key)))
    totals: dict[tuple[int, int | None], int] = {}

    def span_of(window: rules.Window) -> tuple[int, int | None]:
        # An open window (no subscription) ends after any stamp: no end to register.
        return (window.start, None if period is None else window.end)

    def usage_of(window: rules.Window) -> int:
        span = span_of(window)
        if span not in totals:
            totals.update(
                usage_figures.usages_in(account, meter, watch, customer, [span], clock, request_now)
            )
        return totals[span]

    if usage_figures.kept(watch, request_now) and meter.formula.additive:
        # Usage is one item for every window: read it first (all windows at once), and the trigger
        # claims only of the alerts it crosses (an unfired alert below its threshold reads no
        # claim; the trigger's transaction is conditional on the claim anyway).
        spans = [span_of(window) for _, window, _ in plans]
        totals.update(usage_figures.usages_in(account, meter, watch, customer, spans, clock, request_now))
        plans = [p for p in plans if rules.crossed(p[0], usage_of(p[1]))]
    done = watches.fired(account, (value for _, _, value in plans)) if plans else set()
    recorded = 0
    for alert, window, value in plans:
        if value in done:
            continue
        used = usage_of(window)
        if rules.crossed(alert, used):
            body = triggered(alert, customer, used, clock.now)
            recorded += watches.trigger(account, alert, value, body, clock)
    return recorded
