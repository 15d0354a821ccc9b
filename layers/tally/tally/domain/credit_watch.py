"""What watches a customer's available credit balance, and the pure rules of a crossing.

Two things watch it, both kept in ONE item per customer (the watch, `tally.store.credit_watch`):

- **credit-balance alerts** (Stripe's preview `alert_type=credit_balance_threshold`): each remembers
  whether the balance was last seen at or below its `lte` (`below`). Seeing it at or below while
  it was above is a crossing down → `billing.alert.triggered`; seeing it above while it was below
  is a crossing up → `billing.alert.recovered`. A new alert starts above, so one created while the
  balance is already at or below its threshold triggers at its first evaluation.
- **top-up rules** (Tally's extension, `TopUpRule`): the same crossing down starts ONE top-up — a
  one-off invoice whose id is derived from the rule and the rule's top-up count (`invoice_id`), so
  every evaluator that decides the same top-up names the same invoice — unless one is still in
  flight (`pending`: its invoice is neither paid, void nor uncollectible) or the rule has started
  `max_per_period` in the current period (`window`): then the shortfall is `limited`, and the
  first evaluation in a later period that still finds the balance low starts its top-up. The
  top-up is settled when its invoice is paid (a `paid` credit grant whose id is derived from the
  invoice, `grant_id`) or voided / marked uncollectible (nothing granted); only then can a later
  crossing start another.

So "exactly once per crossing" is a property of the watch's state, and every change of that state
is ONE version-checked write (with its events): of concurrent evaluators that saw the same
crossing, exactly one commits it; the others re-read and find it recorded.

`decide` is the whole rule: the watch as read + the balances read → the watch after, the alert
events and the top-ups to start. No I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from tally.domain.records import Alert, Metadata

TRIGGERED = "billing.alert.triggered"
RECOVERED = "billing.alert.recovered"  # Stripe preview type: not in the GA list (`event_types`)
STARTED = "tally.credit_top_up.started"  # Tally's: a top-up decided, its invoice named

# Top-up rules
FIXED = "fixed"  # `amount`: top up that much
TARGET = "target"  # `target_balance`: top up to that balance
DAY = "day"
MONTH = "month"
PERIODS = (DAY, MONTH)
CHARGE_AUTOMATICALLY = "charge_automatically"
SEND_INVOICE = "send_invoice"
COLLECTION_METHODS = (CHARGE_AUTOMATICALLY, SEND_INVOICE)
MAX_PER_PERIOD = 100
MAX_RULES_PER_CUSTOMER = 1  # per currency: two rules would top up the same shortfall twice
MAX_ALERTS_PER_CUSTOMER = 25  # Stripe's alert limit, per (customer) here
RULE_METADATA = "tally_credit_top_up_rule"  # metadata key naming the rule on its invoice and grant

# Events after which a customer's available balance may have moved: the outbox hands each to the
# billing queue as `{"kind": "credits", ...}` (`reaction`), whose worker evaluates the customer
REACTS_TO = frozenset(
    {
        "billing.credit_grant.created",
        "billing.credit_grant.updated",
        "invoice.finalized",
        "invoice.paid",
        "invoice.voided",
        "invoice.marked_uncollectible",
        STARTED,  # its invoice is created by the reaction when ingest decided it
    }
)
CREDITS = "credits"
LEDGER_ENTRY = "billing.credit_balance_transaction.created"  # reacted to for `credits_expired` only
EXPIRED = "credits_expired"

_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase


@dataclass(frozen=True)
class TopUpRule:
    """An automatic top-up rule (`/v1/tally/credit_top_up_rules`): when the customer's available
    balance in `currency` falls to `threshold` or below, invoice a top-up — `amount`, or what lifts
    the balance to `target_balance` — at most `max_per_period` times per calendar `period` (UTC, at
    the customer's clock), and grant it as `paid` credits once that invoice is paid."""

    OBJECT: ClassVar[str] = "tally.credit_top_up_rule"

    id: str
    created: int
    livemode: bool
    customer: str
    currency: str
    threshold: int
    amount: int | None = None
    target_balance: int | None = None
    max_per_period: int = 1
    period: str = MONTH
    collection_method: str = CHARGE_AUTOMATICALLY
    days_until_due: int | None = None
    metadata: Metadata = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return FIXED if self.amount is not None else TARGET

    def top_up(self, balance: int) -> int:
        """The amount to invoice when the balance is `balance` (> 0 by the rule's validation:
        `target_balance` > `threshold` ≥ `balance`)."""
        if self.amount is not None:
            return self.amount
        assert self.target_balance is not None
        return self.target_balance - balance


@dataclass(frozen=True)
class AlertState:
    alert: Alert
    below: bool = False


@dataclass(frozen=True)
class RuleState:
    """A rule and where it stands: `below` as for alerts; `started` top-ups ever started (the next
    one's number); `in_window` of them started in the period `window`; `pending`, the invoice of
    the top-up in flight, and `pending_amount` its amount (so a retry after a crash creates the
    same invoice)."""

    rule: TopUpRule
    below: bool = False
    started: int = 0
    window: str = ""
    in_window: int = 0
    pending: str | None = None
    pending_amount: int = 0
    limited: bool = False  # a shortfall refused by the period's limit, served in a later period


@dataclass(frozen=True)
class Watch:
    """A customer's credit watch. `version` is the stored item's (0: none), not part of its body."""

    alerts: tuple[AlertState, ...] = ()
    rules: tuple[RuleState, ...] = ()
    version: int = 0

    @property
    def empty(self) -> bool:
        return not self.alerts and not self.rules

    @property
    def currencies(self) -> tuple[str, ...]:
        seen = [
            a.alert.credit_balance_threshold.currency for a in self.alerts if a.alert.credit_balance_threshold
        ]
        return tuple(dict.fromkeys([*seen, *(r.rule.currency for r in self.rules)]))

    def with_alert(self, alert: Alert) -> Watch:
        """The watch with `alert` listed if active (its state kept), unlisted otherwise."""
        kept = {a.alert.id: a for a in self.alerts}
        others = tuple(a for a in self.alerts if a.alert.id != alert.id)
        if not alert.active:
            return replace(self, alerts=others)
        old = kept.get(alert.id)
        return replace(self, alerts=(*others, AlertState(alert, old.below if old else False)))

    def with_rule(self, rule: TopUpRule | None, *, removed: str | None = None) -> Watch:
        """The watch with `rule` listed (its state kept), or rule `removed` unlisted."""
        gone = removed or (rule.id if rule else None)
        old = next((r for r in self.rules if r.rule.id == gone), None)
        others = tuple(r for r in self.rules if r.rule.id != gone)
        if rule is None:
            return replace(self, rules=others)
        state = replace(old, rule=rule) if old else RuleState(rule)
        return replace(self, rules=(*others, state))


@dataclass(frozen=True)
class Crossing:
    """An alert event to record: `event_type` (triggered / recovered) at balance `value`."""

    alert: Alert
    event_type: str
    value: int


@dataclass(frozen=True)
class TopUp:
    """A top-up to start: the invoice `invoice` of `amount` for `rule`."""

    rule: TopUpRule
    invoice: str
    amount: int


@dataclass(frozen=True)
class Decision:
    watch: Watch
    crossings: tuple[Crossing, ...] = ()
    top_ups: tuple[TopUp, ...] = ()


def window_of(period: str, now: int) -> str:
    """The calendar period (UTC) holding `now`: `2031-05` for a month, `2031-05-14` for a day."""
    day = dt.datetime.fromtimestamp(now, dt.UTC)
    return day.strftime("%Y-%m" if period == MONTH else "%Y-%m-%d")


def _digest(*parts: str) -> str:
    number = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest(), "big")
    out = []
    for _ in range(24):
        number, digit = divmod(number, 62)
        out.append(_ALPHABET[digit])
    return "".join(out)


def invoice_id(rule_id: str, number: int) -> str:
    """The id of the invoice of the rule's `number`-th top-up (the same for every evaluator)."""
    return f"in_{_digest('top_up_invoice', rule_id, str(number))}"


def grant_id(invoice: str) -> str:
    """The id of the credit grant a paid top-up invoice gives (the same on every retry)."""
    return f"credgr_{_digest('top_up_grant', invoice)}"


def decide(watch: Watch, balances: Mapping[str, int], now: int) -> Decision:
    """Compare each alert and rule of `watch` with the balance of its currency (`balances`; a
    currency missing is not evaluated). `now` is the customer's clock (the period of a rule's
    limit). Pure: the same inputs always decide the same top-up ids."""
    crossings: list[Crossing] = []
    alerts: list[AlertState] = []
    for state in watch.alerts:
        rule = state.alert.credit_balance_threshold
        if rule is None or rule.currency not in balances:
            alerts.append(state)
            continue
        balance = balances[rule.currency]
        below = balance <= rule.lte
        if below != state.below:
            crossings.append(Crossing(state.alert, TRIGGERED if below else RECOVERED, balance))
        alerts.append(replace(state, below=below))
    top_ups: list[TopUp] = []
    rules: list[RuleState] = []
    for rs in watch.rules:
        if rs.rule.currency not in balances:
            rules.append(rs)
            continue
        balance = balances[rs.rule.currency]
        below = balance <= rs.rule.threshold
        # a new shortfall, or one the period's limit refused and a new period may now serve
        wanted = below and (not rs.below or rs.limited) and rs.pending is None
        rs = replace(rs, below=below, limited=rs.limited and below)
        window = window_of(rs.rule.period, now)
        in_window = rs.in_window if rs.window == window else 0
        if wanted and in_window >= rs.rule.max_per_period:
            rs = replace(rs, limited=True)
        elif wanted:
            number = rs.started + 1
            top_up = TopUp(rs.rule, invoice_id(rs.rule.id, number), rs.rule.top_up(balance))
            top_ups.append(top_up)
            rs = replace(
                rs,
                started=number,
                window=window,
                in_window=in_window + 1,
                pending=top_up.invoice,
                pending_amount=top_up.amount,
                limited=False,
            )
        rules.append(rs)
    after = replace(watch, alerts=tuple(alerts), rules=tuple(rules))
    return Decision(after, tuple(crossings), tuple(top_ups))


def settled(watch: Watch, invoice: str) -> Watch:
    """The watch with the top-up of `invoice` no longer in flight (paid and granted, voided or
    uncollectible). Unchanged when no rule waits on it."""
    rules = tuple(
        replace(r, pending=None, pending_amount=0) if r.pending == invoice else r for r in watch.rules
    )
    return replace(watch, rules=rules)


def reaction(account: str, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The billing-queue message asking to evaluate the credit watch of the customer an event is
    about (`at`: the event's instant), or None when the event cannot move a credit balance."""
    shown = event.get("data", {}).get("object", {})
    if not isinstance(shown, dict):
        return None
    at = int(event.get("created", 0))
    if event.get("type") == LEDGER_ENTRY:
        # an expiry recorded at its instant: Stripe's entry names the grant, not the customer
        debit = shown.get("debit") or {}
        grant = shown.get("credit_grant")
        if debit.get("type") != EXPIRED or not isinstance(grant, str):
            return None
        return {"kind": CREDITS, "account": account, "credit_grant": grant, "at": at}
    if event.get("type") not in REACTS_TO:
        return None
    customer = shown.get("customer")
    if not isinstance(customer, str):
        return None
    return {"kind": CREDITS, "account": account, "customer": customer, "at": at}
