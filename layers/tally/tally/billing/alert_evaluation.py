"""Evaluating usage alerts on the ingest path, right after the usage is written.

For each (meter, customer) a request wrote to — or found already written: a client's retry of a
request that crashed after its usage write re-evaluates, so a crossing is never lost — and whose
meter has active alerts (`Watch`, read with the meter at no extra request):

1. ONE read (`store.alerts.evaluation_state`, a BatchGetItem across the usage and objects tables):
   the customer's running figure on the meter, its subscriptions' period rules
   (`store.subscription_periods`, kept by every subscription write) and, when the meter has alerts
   on single customers, the customer's own watch list;
2. the customer's current billing period: that of its newest subscription that has not ended, at
   the customer's clock (a test clock's frozen time), computed from those rules — a customer whose
   rules are unknown (created before they were kept) queries its subscriptions instead (one Query);
3. each alert's window (`domain.alerts.window`, from the alert's creation second) and its usage
   through `usage_figures.usages_in`: from the figure already read on a meter whose figures are
   kept — no further read once the windows' bounds are registered (a registration, once per new
   bound: a period roll, a new alert, reads the buckets of the new interval and Puts the item) —
   else one Query per shard of the hour buckets per distinct window;
4. only alerts whose usage reached `gte` read their trigger claims (one BatchGetItem) — on a meter
   without kept figures every alert reads them first —, and each not yet recorded records its
   trigger: the claim and the `billing.alert.triggered` event in ONE transaction, the claim
   conditional on being absent, so of 8 writers crossing together exactly one records it
   (`store.alerts.trigger`).

So an unfired alert costs one read per (request, customer), whatever the day of the period and
the number of alerts, plus the figure's update in the usage transaction (the one write).

Crash points: before step 4's transaction nothing is written by the evaluation except a
registration (one conditional Put of the figure, exact at any point: `store.usage.figures`); the
next event or the client's retry evaluates again; step 4 is all or nothing; after it the claim
makes every later evaluation skip.
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
from tally.store import lists, subscription_periods

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
        state = watches.evaluation_state(account, meter.id, customer, own=watch.customer_alerts > 0)
        alerts: list[Alert] = list(watch.alerts)
        if state.own is not None:
            alerts += state.own.alerts
        if alerts:
            clock = clock_of(customer)
            recorded += _evaluate(account, meter, watch, customer, alerts, clock, request_now, state)
    return recorded


def _evaluate(
    account: str,
    meter: Meter,
    watch: rules.Watch,
    customer: str,
    alerts: list[Alert],
    clock: Clock,
    request_now: int,
    state: watches.State,
) -> int:
    if state.running is not None:
        period = subscription_periods.current(state.running, clock.now)
    else:  # rules not kept for this customer (created before they were): ask its subscriptions
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
        totals.update(
            usage_figures.usages_in(account, meter, watch, customer, spans, clock, request_now, state.figure)
        )
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
