"""Billing alerts (`/v1/billing/alerts`): create, read, list, activate, deactivate, archive.

A usage alert watches one meter, for every customer or (Stripe's one filter) for one customer.
A credit-balance alert (Stripe's preview `credit_balance_threshold`) watches one customer's
available credit balance in one currency: it is listed on the customer's credit watch
(`tally.billing.credit_watches`) instead, at most 25 active per customer. Each change is one
transaction: the alert record and the watch list ingestion reads (`tally.store.alerts`, or the
credit watch with the customer's flag), version-checked, so a list always holds exactly the active
alerts; two concurrent changes of one list make the second re-read and retry. At most 25 active
alerts per (meter, customer) — "every customer" being one more such scope. Archiving is final.

Stripe records no event for these changes (its only alert event is `billing.alert.triggered`,
`tally.billing.alert_evaluation`), so neither does Tally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from tally.billing import clocks, credit_watches
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain.alerts import MAX_PER_METER_AND_CUSTOMER, Watch
from tally.domain.credit_watch import MAX_ALERTS_PER_CUSTOMER
from tally.domain.credit_watch import Watch as CreditWatch
from tally.domain.listing import Page, Window
from tally.domain.records import (
    CREDIT_BALANCE_THRESHOLD,
    USAGE_THRESHOLD,
    Alert,
    CreditBalanceThreshold,
    Customer,
    Meter,
    UsageThreshold,
)
from tally.errors import Conflict, InvalidRequest
from tally.ids import new_id
from tally.settings import settings
from tally.store import alerts as watches
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Side, Stored, Write

LABEL = "billing.alert"
ATTEMPTS = 4


@dataclass(frozen=True)
class AlertSpec:
    title: str
    meter: str
    gte: int
    recurrence: str
    customer: str | None = None
    alert_type: str = USAGE_THRESHOLD


def _listed(watch: Watch, alert: Alert) -> tuple[Alert, ...]:
    """`watch`'s alerts with `alert` in its current state (in if active, out otherwise)."""
    others = tuple(a for a in watch.alerts if a.id != alert.id)
    return (*others, alert) if alert.active else others


def _limit(watch: Watch, alert: Alert) -> None:
    if alert.active and len(_listed(watch, alert)) > MAX_PER_METER_AND_CUSTOMER:
        who = (
            "every customer"
            if alert.usage_threshold and not alert.usage_threshold.customer
            else "this customer"
        )
        raise InvalidRequest(
            f"A meter can have at most {MAX_PER_METER_AND_CUSTOMER} active alerts for {who}; "
            "deactivate or archive one first.",
            code="alert_limit_exceeded",
            param="usage_threshold[meter]",
        )


def _credit_limit(watch: CreditWatch) -> CreditWatch:
    if len(watch.alerts) > MAX_ALERTS_PER_CUSTOMER:
        raise InvalidRequest(
            f"A customer can have at most {MAX_ALERTS_PER_CUSTOMER} active credit balance alerts; "
            "deactivate or archive one first.",
            code="alert_limit_exceeded",
            param="credit_balance_threshold[filters][0][customer]",
        )
    return watch


def _writes(account: str, before: Alert | None, after: Alert, clock: Clock) -> tuple[list[Side], list[Write]]:
    """The watch writes (sides of the alert's change, other records' writes) that keep the lists
    equal to the active alerts after this change."""
    credit = after.credit_balance_threshold
    if credit is None:
        return _sides(account, before, after, clock), []
    was = before is not None and before.active
    if was == after.active:
        return [], []
    w = credit_watches.writes(account, credit.customer, lambda cw: _credit_limit(cw.with_alert(after)), clock)
    return w.sides, w.writes


def _sides(account: str, before: Alert | None, after: Alert, clock: Clock) -> list[Side]:
    """The watch-list writes that keep the lists equal to the active alerts after this change."""
    rule = after.usage_threshold
    if rule is None:
        return []
    was = before is not None and before.active
    if was == after.active:  # listed alerts are immutable while active: the lists stay as they are
        return []
    meter = objects.get(account, rule.meter, Meter, clock)
    wide_key, wide = watches.meter_watch(account, meter)
    since = wide.figures_since or clock.now  # sticky: the figures stay kept once they are
    if rule.customer is None:
        _limit(wide, after)
        return [watches.side(wide_key, wide, replace(wide, alerts=_listed(wide, after), figures_since=since))]
    key, mine = watches.customer_watch(account, meter.id, rule.customer)
    _limit(mine, after)
    out = [watches.side(key, mine, replace(mine, alerts=_listed(mine, after)))]
    delta = int(after.active) - int(was)
    if delta:
        count = wide.customer_alerts + delta
        out.append(watches.side(wide_key, wide, replace(wide, customer_alerts=count, figures_since=since)))
    return out


def create(account: str, spec: AlertSpec, clock: Clock) -> Alert:
    """A new active alert. Raises 400 naming the parameter when the meter or customer is unknown,
    or when the (meter, customer) already has 25 active alerts."""
    referenced(account, spec.meter, Meter, "usage_threshold[meter]", clock, label="billing meter")
    created = clock.now
    if spec.customer is not None:
        referenced(account, spec.customer, Customer, "usage_threshold[filters][0][customer]", clock)
        # A customer on a test clock lives at its clock's time: its alert counts usage from then.
        created = clocks.clock_for(account, spec.customer, clock).now
    alert = Alert(
        id=new_id("alrt"),
        created=created,
        livemode=settings().livemode,
        title=spec.title,
        alert_type=spec.alert_type,
        usage_threshold=UsageThreshold(spec.meter, spec.gte, spec.recurrence, spec.customer),
    )
    for attempt in range(ATTEMPTS):
        try:
            change = Change(alert, None, {}, sides=_sides(account, None, alert, clock))
            transactions.commit(account, [Write(change)], clock)
            return alert
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def create_credit(account: str, title: str, customer: str, currency: str, lte: int, clock: Clock) -> Alert:
    """A new active credit-balance alert on `customer` (400 naming the filter's customer when it
    is unknown, or when it already has 25 active ones). Evaluated by the caller
    (`tally.billing.credit_alerts`)."""
    referenced(account, customer, Customer, "credit_balance_threshold[filters][0][customer]", clock)
    alert = Alert(
        id=new_id("alrt"),
        created=clocks.clock_for(account, customer, clock).now,
        livemode=settings().livemode,
        title=title,
        alert_type=CREDIT_BALANCE_THRESHOLD,
        credit_balance_threshold=CreditBalanceThreshold(customer, currency, lte),
    )
    for attempt in range(ATTEMPTS):
        try:
            sides, others = _writes(account, None, alert, clock)
            transactions.commit(account, [Write(Change(alert, None, {}, sides=sides)), *others], clock)
            return alert
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def retrieve(account: str, alert_id: str, clock: Clock) -> Alert:
    return objects.get(account, alert_id, Alert, clock, label=LABEL)


def list_(
    account: str, window: Window, clock: Clock, *, meter: str | None = None, alert_type: str | None = None
) -> Page[Alert]:
    def keep(a: Alert) -> bool:
        return alert_type is None or a.alert_type == alert_type

    return lists.list_records(
        account,
        Alert,
        window,
        clock,
        where=keep if alert_type is not None else None,
        label=LABEL,
        any_of=[("usage_threshold.meter", meter)] if meter is not None else None,
    )


def _change(account: str, alert_id: str, clock: Clock, to: Callable[[Alert], Alert]) -> Alert:
    """Apply `to` to the stored alert (with its watch lists), retrying a concurrent change."""
    for attempt in range(ATTEMPTS):
        stored: Stored[Alert] = objects.load(account, alert_id, Alert, clock, label=LABEL)
        before = stored.record
        after = to(before)
        if after == before:
            return before
        sides, others = _writes(account, before, after, clock)
        try:
            transactions.commit(
                account, [Write(Change(after, None, {}, sides=sides), stored), *others], clock
            )
            return after
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _status(status: str) -> Callable[[Alert], Alert]:
    def to(alert: Alert) -> Alert:
        if alert.status == status:
            return alert
        if alert.status == "archived":
            raise InvalidRequest(f"The alert {alert.id} is archived; an archived alert cannot change.")
        return replace(alert, status=status)

    return to


def activate(account: str, alert_id: str, clock: Clock) -> Alert:
    """Make the alert active again (400 if archived, or if its meter and customer already have
    25 active alerts). An active alert is returned as it is."""
    return _change(account, alert_id, clock, _status("active"))


def deactivate(account: str, alert_id: str, clock: Clock) -> Alert:
    """Stop evaluating the alert until activated (400 if archived)."""
    return _change(account, alert_id, clock, _status("inactive"))


def archive(account: str, alert_id: str, clock: Clock) -> Alert:
    """Archive the alert: it is never evaluated again and can no longer change."""
    return _change(account, alert_id, clock, _status("archived"))
