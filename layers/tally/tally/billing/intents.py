"""Billing intents (v2): create → reserve (effective instants resolved, what is due computed) →
commit (subscriptions created, moved or canceled) | release_reservation | cancel.

Commit is one transaction: the intent (checked against the version read, so a double commit is
one commit and a 400 `invalid_status_for_commit`), every subscription it creates or changes (each
checked against the version read), within DynamoDB's 100 actions (≤ 10 actions per intent).
Every instant is the cadence customer's clock (a test clock's time when it has one).
"""

from __future__ import annotations

from dataclasses import replace

from tally.billing import (
    intent_cadences,
    intent_invoices,
    intent_quantities,
    plan_lines,
    plan_servicing,
    pricing_plans,
    service_schedule,
)
from tally.billing.clocks import clock_for
from tally.clock import Clock
from tally.domain import cadence_billing, partial_periods
from tally.domain import cadences as cycles
from tally.domain.catalog import RateCard, price_model
from tally.domain.intents import (
    INTENT_TTL,
    MAX_SEGMENTS,
    Action,
    Intent,
    PlanSubscription,
    Segment,
    servicing_status,
)
from tally.domain.listing import Page, Window
from tally.domain.plans import LicenseFee, LicenseFeeVersion, PricingPlan, ServiceAction
from tally.domain.pricing import billable_quantity, line_amount
from tally.domain.records import InvoiceLine
from tally.errors import InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.presenters.invoices import invoice as present_invoice
from tally.settings import settings
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Stored, Write


def create(
    account: str,
    currency: str,
    cadence_id: str | None,
    actions: list[Action],
    request_clock: Clock,
    cadence_data: intent_cadences.CadenceRequest | None = None,
) -> Intent:
    """A draft intent on an existing cadence, or on the one `cadence_data` plans (its commit
    creates it: `tally.billing.intent_cadences`)."""
    data = None
    if cadence_data is not None:
        data, clock = intent_cadences.planned(account, cadence_data, request_clock)
        cadence_id, customer = data.cadence, data.customer
    else:
        cadence = intent_cadences.existing(account, cadence_id or "", request_clock)
        clock = clock_for(account, cadence.customer, request_clock)
        cadence_id, customer = cadence.id, cadence.customer
    intent = Intent(
        id=new_id("bilint", 24),
        created=clock.now,
        livemode=settings().livemode,
        currency=currency,
        cadence=cadence_id,
        customer=customer,
        actions=tuple(replace(a, id=new_id("bilinti", 24), created=clock.now) for a in actions),
        expires_at=clock.now + INTENT_TTL,
        cadence_data=data,
    )
    _check(account, intent, clock)
    objects.create(account, Change(intent, None, {}), clock)
    return intent


def retrieve(account: str, intent_id: str, clock: Clock) -> Intent:
    return objects.get(account, intent_id, Intent, clock)


def list_(account: str, window: Window, clock: Clock) -> Page[Intent]:
    return lists.list_records(account, Intent, window, clock)


def reserve(account: str, intent_id: str, request_clock: Clock) -> Intent:
    """draft → reserved: effective instants resolved at the clock's now, amounts computed."""
    stored, clock = _load(account, intent_id, request_clock, "draft", "invalid_status_for_reserve")
    intent = stored.record
    cadence = intent_cadences.cadence_of(account, intent, clock)
    resolved = tuple(replace(a, effective_at=_effective(a, cadence, clock.now)) for a in intent.actions)
    after = replace(intent, actions=resolved, status="reserved", reserved_at=clock.now)
    _check(account, after, clock)
    subtotal = sum(_due_now(account, a, clock) for a in resolved)
    after = replace(after, subtotal=subtotal, amount_due=max(subtotal, 0))
    objects.update(account, stored, Change(after, None, {}), clock)
    return after


def release(account: str, intent_id: str, request_clock: Clock) -> Intent:
    """reserved → draft."""
    stored, clock = _load(account, intent_id, request_clock, "reserved", "intent_not_reserved")
    after = replace(stored.record, status="draft", reserved_at=None, amount_due=0, subtotal=0)
    after = replace(after, actions=tuple(replace(a, effective_at=None) for a in after.actions))
    objects.update(account, stored, Change(after, None, {}), clock)
    return after


def cancel(account: str, intent_id: str, request_clock: Clock) -> Intent:
    stored = objects.load(account, intent_id, Intent, request_clock)
    if stored.record.status not in ("draft", "reserved"):
        raise InvalidRequest(
            f"This intent is {stored.record.status}: only a draft or reserved intent can be canceled.",
            code="invalid_status_for_cancel",
        )
    clock = clock_for(account, stored.record.customer, request_clock)
    after = replace(stored.record, status="canceled", canceled_at=clock.now)
    objects.update(account, stored, Change(after, None, {}), clock)
    return after


def commit(account: str, intent_id: str, request_clock: Clock) -> Intent:
    """reserved → committed: apply every action, all in one transaction."""
    stored, clock = _load(account, intent_id, request_clock, "reserved", "invalid_status_for_commit")
    intent = stored.record
    writes: list[Write] = intent_cadences.writes(account, intent, clock)
    done: list[Action] = []
    collected: list[InvoiceLine] = []
    for action in intent.actions:  # `_check`: each subscription is named by one action at most
        if action.type == "subscribe":
            made = _subscription(account, intent, action, clock)
            if action.collect_at == "on_effective_at":  # its first fees, on an invoice now
                made = replace(made, collected_at_commit=True)
                collected += plan_lines.first_fees(account, made, clock)
            made = service_schedule.scheduled(account, None, made, clock)  # service action grants due?
            writes.append(Write(plan_servicing.change(made, clock.now)))
            done.append(replace(action, subscription=made.id))
            continue
        assert action.subscription is not None
        sub = objects.load(account, action.subscription, PlanSubscription, clock)
        changed = _apply(account, sub.record, action, clock)
        if _collects(action, clock):  # its prorations, on the commit's invoice
            changed, lines = plan_lines.change_fees(account, changed, action.effective_at or 0, clock)
            collected += lines
        changed = service_schedule.scheduled(account, sub.record, changed, clock)  # grants due?
        writes.append(Write(plan_servicing.change(changed, clock.now), sub))
        done.append(action)
    after = replace(intent, actions=tuple(done), status="committed", committed_at=clock.now)
    if collected:
        invoice = intent_invoices.collected(account, intent, collected, clock)
        writes.append(Write(Change(invoice, "invoice.created", present_invoice(invoice))))
    writes = plan_servicing.fitted([Write(Change(after, None, {}), stored), *writes])
    transactions.commit(account, writes, clock)
    return after


# -- rules -------------------------------------------------------------------------------------


def _load(
    account: str, intent_id: str, request_clock: Clock, status: str, code: str
) -> tuple[Stored[Intent], Clock]:
    stored = objects.load(account, intent_id, Intent, request_clock)
    intent = stored.record
    clock = clock_for(account, intent.customer, request_clock, changing=True)
    if intent.status != status:
        raise InvalidRequest(f"This intent is {intent.status}, not {status}.", code=code)
    if clock.now >= intent.expires_at:
        raise InvalidRequest("This intent has expired: create a new one.", code="intent_expired")
    return stored, clock


def _effective(action: Action, cadence: cycles.Cadence, now: int) -> int:
    start, end = cycles.period(cadence, now)
    if action.effective_type == "timestamp":
        assert action.effective_timestamp is not None
        if action.effective_timestamp < start:
            raise invalid(
                "effective_at.timestamp", "effective_at may not be before the current billing period."
            )
        return action.effective_timestamp
    return {"current_billing_period_start": start, "current_billing_period_end": end}.get(
        action.effective_type, now
    )


def _check(account: str, intent: Intent, clock: Clock) -> None:
    """What each action names exists and fits the intent (plan currency, cadence, live version,
    service intervals no longer than the cadence's billing interval)."""
    seen: set[str] = set()
    cadence = intent_cadences.cadence_of(account, intent, clock)
    for index, action in enumerate(intent.actions):
        where = f"actions[{index}]"
        if action.type == "subscribe":
            plan = _plan(
                account, action.pricing_plan, f"{where}.subscribe.pricing_plan_subscription_details", clock
            )
            if plan.currency != intent.currency:
                raise invalid(
                    f"{where}.subscribe",
                    f"The pricing plan is in {plan.currency}, the intent in {intent.currency}.",
                )
            version = _version(account, plan, action.pricing_plan_version, where, clock)
            _fits(account, plan, version, cadence, where, clock)
            intent_quantities.quantities(account, plan, version, action.quantities, clock, where)
            continue
        sub_id = action.subscription
        assert sub_id is not None
        if sub_id in seen:
            raise invalid(where, f"{sub_id} is named by two actions of this intent.")
        seen.add(sub_id)
        try:
            sub = objects.get(account, sub_id, PlanSubscription, clock)
        except NotFound as exc:
            raise InvalidRequest(exc.message, code="resource_missing", param=where) from None
        if sub.billing_cadence != intent.cadence:
            raise invalid(where, f"{sub_id} is billed on another cadence than this intent's.")
        if servicing_status(sub, clock.now) == "canceled" or sub.canceled_at is not None:
            raise invalid(where, f"{sub_id} is canceled or will be.")
        if action.type == "modify" and (action.new_pricing_plan or action.new_pricing_plan_version):
            plan = _plan(account, action.new_pricing_plan or sub.current.pricing_plan, where, clock)
            if plan.currency != intent.currency:
                raise invalid(
                    where, f"The pricing plan is in {plan.currency}, the intent in {intent.currency}."
                )
            version = _version(account, plan, action.new_pricing_plan_version, where, clock)
            _fits(account, plan, version, cadence, where, clock)
        if action.type == "modify":  # its component configurations name the target version's
            _moved(account, sub, action, where, clock)


def _fits(
    account: str, plan: PricingPlan, version_id: str, cadence: cycles.Cadence, where: str, clock: Clock
) -> None:
    """A 400 when a component's service interval can be longer than the cadence's billing
    interval (Stripe: "You must configure the service interval to be shorter")."""
    version = pricing_plans.version_of(account, plan, version_id, clock)
    billing = (cadence.cycle.type, cadence.cycle.interval_count)
    kinds = {"rate_card": RateCard, "license_fee": LicenseFee, "service_action": ServiceAction}
    for component in pricing_plans.components(account, plan, version, clock):
        target = objects.get(account, component.target, kinds[component.type], clock)
        service = (target.interval, target.interval_count)
        if cadence_billing.longer_than(service, billing):
            raise invalid(
                where,
                f"The {component.type} {component.target} has a service interval of "
                f"{service[1]} {service[0]}(s), longer than the cadence's billing interval of "
                f"{billing[1]} {billing[0]}(s): a service interval must not exceed the billing interval.",
            )


def _plan(account: str, plan_id: str | None, where: str, clock: Clock) -> PricingPlan:
    try:
        plan = pricing_plans.retrieve(account, plan_id or "", clock)
    except NotFound as exc:
        raise InvalidRequest(exc.message, code="resource_missing", param=f"{where}.pricing_plan") from None
    if not plan.active:
        raise invalid(
            f"{where}.pricing_plan", "This pricing plan is inactive: it takes no new subscriptions."
        )
    return plan


def _version(account: str, plan: PricingPlan, version: str | None, where: str, clock: Clock) -> str:
    if version is None:
        if plan.live_version is None:
            raise invalid(
                f"{where}.pricing_plan", "This pricing plan has no live version: set live_version first."
            )
        return plan.live_version
    return pricing_plans.version_of(account, plan, version, clock, param=f"{where}.pricing_plan_version").id


def _subscription(account: str, intent: Intent, action: Action, clock: Clock) -> PlanSubscription:
    assert action.effective_at is not None
    plan = pricing_plans.retrieve(account, action.pricing_plan or "", clock)
    version = _version(account, plan, action.pricing_plan_version, "actions", clock)
    cadence = intent_cadences.cadence_of(account, intent, clock)
    _, debit, grants = partial_periods.behaviors(
        "subscribe", None, action.debit_proration, action.credit_grant_create
    )
    return PlanSubscription(
        id=new_id("bpps", 24),
        created=clock.now,
        livemode=settings().livemode,
        billing_cadence=cadence.id,
        customer=cadence.customer,
        activated_at=action.effective_at,
        timeline=(
            Segment(
                action.effective_at,
                plan.id,
                version,
                intent_quantities.quantities(account, plan, version, action.quantities, clock),
                debit_proration=debit,
                credit_grant_create=grants,
            ),
        ),
        test_clock=cadence.test_clock,
        metadata=dict(action.metadata),
    )


def _moved(account: str, sub: PlanSubscription, action: Action, where: str, clock: Clock) -> Segment:
    """Where a modify moves `sub` (its start left to the caller): the new plan / version (the
    current ones when not given) and the quantities given, else the current ones carried over."""
    current = sub.current
    plan = pricing_plans.retrieve(account, action.new_pricing_plan or current.pricing_plan, clock)
    version = (
        _version(account, plan, action.new_pricing_plan_version, where, clock)
        if (action.new_pricing_plan or action.new_pricing_plan_version)
        else current.pricing_plan_version
    )
    if action.quantities:
        quantities = intent_quantities.quantities(account, plan, version, action.quantities, clock, where)
    else:
        quantities = intent_quantities.carried(account, current, plan, version, clock)
    return Segment(current.start, plan.id, version, quantities)


def _apply(account: str, sub: PlanSubscription, action: Action, clock: Clock) -> PlanSubscription:
    assert action.effective_at is not None
    if action.type == "deactivate":
        return replace(
            sub,
            canceled_at=max(action.effective_at, sub.activated_at),
            cancel_comment=action.cancel_comment,
            cancel_feedback=action.cancel_feedback,
            cancel_credit_proration=partial_periods.behaviors(
                "deactivate", action.credit_proration, None, None
            )[0],
        )
    current = sub.current
    if len(sub.timeline) >= MAX_SEGMENTS:
        raise invalid(
            "actions",
            f"{sub.id} was modified {MAX_SEGMENTS} times, the most one subscription keeps: "
            "deactivate it and subscribe anew.",
        )
    if action.effective_at < current.start:
        raise invalid(
            "effective_at", "A modification may not take effect before the subscription's last change."
        )
    segment = _moved(account, sub, action, "actions", clock)
    credit, debit, grants = partial_periods.behaviors(
        "modify", action.credit_proration, action.debit_proration, action.credit_grant_create
    )
    segment = replace(
        segment,
        start=action.effective_at,
        credit_proration=credit,
        debit_proration=debit,
        credit_grant_create=grants,
    )
    kept = tuple(s for s in sub.timeline if s.start < action.effective_at)
    return replace(sub, timeline=(*kept, segment))


def _collects(action: Action, clock: Clock) -> bool:
    """A modify or deactivate whose prorations its commit invoices: `collect_at:
    on_effective_at` and effective by now (a later one's go on the tick of its instant)."""
    effective = action.effective_at
    return action.collect_at == "on_effective_at" and effective is not None and effective <= clock.now


def _due_now(account: str, action: Action, clock: Clock) -> int:
    """What an action collects at its effective instant (`collect_at: on_effective_at`): a
    subscribe's license fees for the first service interval (which starts then, so is never
    partial); a modify's or deactivate's prorations when it is effective by now."""
    if action.type != "subscribe":
        if not _collects(action, clock):
            return 0
        sub = objects.get(account, action.subscription or "", PlanSubscription, clock)
        changed = _apply(account, sub, action, clock)
        return sum(
            ln.amount for ln in plan_lines.change_fees(account, changed, action.effective_at or 0, clock)[1]
        )
    if action.collect_at != "on_effective_at":
        return 0
    plan = pricing_plans.retrieve(account, action.pricing_plan or "", clock)
    version_id = _version(account, plan, action.pricing_plan_version, "actions", clock)
    total = 0
    for q in intent_quantities.quantities(account, plan, version_id, action.quantities, clock):
        component = pricing_plans.component(account, plan, q.component, clock)
        fee_version: LicenseFeeVersion = objects.get(
            account, component.target_version or "", LicenseFeeVersion, clock
        )
        model = price_model(
            fee_version.unit_amount,
            fee_version.tiers,
            fee_version.tiering_mode,
            fee_version.divide_by,
            fee_version.round,
        )
        total += line_amount(model, billable_quantity(model, q.quantity))
    return total
