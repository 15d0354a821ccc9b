"""Automatic top-up rules (`/v1/tally/credit_top_up_rules`, a Tally extension): create, retrieve,
list (by customer), delete.

A rule is a record (`tally.domain.credit_watch.TopUpRule`) and an entry of its customer's credit
watch, written together in ONE transaction (`tally.billing.credit_watches`), at most one rule per
(customer, currency): two rules would top the same shortfall up twice. Creating a rule evaluates
the customer's watch at once (`credit_evaluation`), so a rule created while the balance is already
at or below its threshold starts its first top-up before the answer. Deleting a rule stops it,
but not while one of its top-ups is in flight (400 naming the invoice: void it first, or pay it
and let it be granted), so a paid top-up invoice always finds its rule and gets its grant. Rules
have no events (Stripe has no such object).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tally.billing import clocks, credit_evaluation, credit_watches
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain import credit_watch as rules
from tally.domain.credit_watch import RuleState, TopUpRule, Watch
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.records import Customer, Invoice
from tally.errors import Conflict, InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.settings import settings
from tally.store import credit_watch, lists, objects, transactions
from tally.store.changes import Change, Stored, Write

LABEL = "tally.credit_top_up_rule"
ATTEMPTS = 4
DEFAULT_DAYS_UNTIL_DUE = 30  # Stripe's default payment terms for `send_invoice`


@dataclass(frozen=True)
class RuleSpec:
    """What `POST /v1/tally/credit_top_up_rules` asks for (checked for form by the api)."""

    customer: str
    currency: str
    threshold: int
    amount: int | None = None
    target_balance: int | None = None
    max_per_period: int = 1
    period: str = rules.MONTH
    collection_method: str = rules.CHARGE_AUTOMATICALLY
    days_until_due: int | None = None
    metadata: MetadataUpdate = None


def _check(spec: RuleSpec) -> int | None:
    """The rule's `days_until_due`, or a 400 naming the parameter the spec gets wrong."""
    if (spec.amount is None) == (spec.target_balance is None):
        raise InvalidRequest(
            "Pass exactly one of amount (top up that much) or target_balance (top up to that balance).",
            param="amount" if spec.amount is not None else "target_balance",
        )
    if spec.target_balance is not None and spec.target_balance <= spec.threshold:
        raise invalid(
            "target_balance",
            f"Invalid target_balance: must be above threshold ({spec.threshold}), "
            "or a top-up would not lift the balance above it.",
        )
    if spec.collection_method == rules.SEND_INVOICE:
        return DEFAULT_DAYS_UNTIL_DUE if spec.days_until_due is None else spec.days_until_due
    if spec.days_until_due is not None:
        raise invalid("days_until_due", "days_until_due is for collection_method=send_invoice only.")
    return None


def _one_per_currency(watch: Watch, rule: TopUpRule) -> Watch:
    for state in watch.rules:
        if state.rule.currency == rule.currency and state.rule.id != rule.id:
            raise InvalidRequest(
                f"The customer {rule.customer} already has a top-up rule in {rule.currency} "
                f"({state.rule.id}); delete it first.",
                code="resource_already_exists",
                param="currency",
            )
    return watch.with_rule(rule)


def create(account: str, spec: RuleSpec, clock: Clock) -> TopUpRule:
    """A new rule on `spec.customer`, then one evaluation of its watch (module doc). 400 for an
    unknown customer, a second rule in the currency, or a spec `_check` refuses."""
    days = _check(spec)
    customer = referenced(account, spec.customer, Customer, "customer", clock)
    if customer.currency not in (None, spec.currency):
        raise invalid(
            "currency",
            f"The customer {customer.id} is billed in {customer.currency}: its top-up invoices "
            f"cannot be in {spec.currency}.",
        )
    at = clocks.clock_for(account, customer.id, clock)
    rule = TopUpRule(
        id=new_id("ctur"),
        created=at.now,
        livemode=settings().livemode,
        customer=customer.id,
        currency=spec.currency,
        threshold=spec.threshold,
        amount=spec.amount,
        target_balance=spec.target_balance,
        max_per_period=spec.max_per_period,
        period=spec.period,
        collection_method=spec.collection_method,
        days_until_due=days,
        metadata=apply_metadata({}, spec.metadata),
    )
    for attempt in range(ATTEMPTS):
        w = credit_watches.writes(account, customer.id, lambda cw: _one_per_currency(cw, rule), clock)
        try:
            transactions.commit(account, [Write(Change(rule, None, {}, sides=w.sides)), *w.writes], clock)
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        credit_evaluation.evaluate(account, customer.id, at)
        return rule
    raise AssertionError("unreachable")


def retrieve(account: str, rule_id: str, clock: Clock) -> tuple[TopUpRule, RuleState | None]:
    """The rule and its state on the customer's watch (its top-up in flight, how many started)."""
    rule = objects.get(account, rule_id, TopUpRule, clock, label=LABEL)
    watch = credit_watch.read(account, rule.customer)
    return rule, next((s for s in watch.rules if s.rule.id == rule.id), None)


def list_(account: str, window: Window, clock: Clock, *, customer: str | None = None) -> Page[TopUpRule]:
    """The account's rules (or one customer's), newest first."""
    if customer is not None:
        referenced(account, customer, Customer, "customer", clock)
    return lists.list_records(account, TopUpRule, window, clock, customer=customer, label=LABEL)


def _open(account: str, invoice_id: str, clock: Clock) -> bool:
    """Whether a top-up invoice may still be paid (void and uncollectible ones grant nothing)."""
    try:
        return objects.get(account, invoice_id, Invoice, clock).status not in ("void", "uncollectible")
    except NotFound:
        return True  # not created yet: the next evaluation creates it


def delete(account: str, rule_id: str, clock: Clock) -> dict[str, Any]:
    """Delete the rule and take it off its customer's watch, in one transaction."""
    for attempt in range(ATTEMPTS):
        stored: Stored[TopUpRule] = objects.load(account, rule_id, TopUpRule, clock, label=LABEL)
        rule = stored.record

        def off(cw: Watch, rule: TopUpRule = rule) -> Watch:
            for state in cw.rules:
                if (
                    state.rule.id == rule.id
                    and state.pending is not None
                    and _open(account, state.pending, clock)
                ):
                    raise InvalidRequest(
                        f"The top-up rule {rule.id} has a top-up in flight (invoice {state.pending}): "
                        "pay or void that invoice first.",
                        code="top_up_in_flight",
                        param="id",
                    )
            return cw.with_rule(None, removed=rule.id)

        w = credit_watches.writes(account, rule.customer, off, clock)
        change = Change(rule, None, {}, sides=w.sides)
        try:
            transactions.commit(account, [Write(change, stored, delete=True), *w.writes], clock)
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return {"id": rule.id, "object": rule.OBJECT, "deleted": True}
    raise AssertionError("unreachable")
