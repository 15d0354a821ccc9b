"""Evaluating a customer's credit watch wherever the available credit balance may have changed:
after ingest burns credits down (`tally.billing.meter_events`, only for customers whose record says
they are watched), and after the events that move it — a grant created, updated (expired, voided),
an invoice finalized, paid, voided or marked uncollectible — which the outbox hands to the billing
queue (`tally.billing.delivery` → `functions/bill_period` → `react`).

One call (`evaluate`), in rounds until nothing changes (at most `ROUNDS`):

1. read the watch (one GetItem); drive each top-up in flight (`_drive`): its invoice created if a
   crash left it missing; once paid, its `paid` grant created (id derived from the invoice) and
   the top-up settled; once void or uncollectible, settled with nothing granted;
2. read the available balance of each watched currency (`Ports.balance`: the one place it is read,
   so the running figure ingest keeps can replace it without touching the rest);
3. `domain.credit_watch.decide`; if the watch changes, write it with the alert events in ONE
   version-checked transaction (`store.credit_watch.transition`); of concurrent evaluators that
   saw the same crossing exactly one commits, the others get `Conflict` and start a new round;
4. create the invoice of each top-up just started; then a new round re-reads the balance, so a
   balance that moved between our read and our commit is caught at once (a top-up paid meanwhile
   gives its `recovered`).

Crash points, each tested (tests/integration/test_credit_top_ups.py): (a) before the transition:
nothing written, the next evaluation decides again; (b) after it, before the invoice: the watch
names the invoice (`pending`) and the next evaluation creates it — the same id, so at most one;
(c) after the invoice is paid, before the grant: the next evaluation (the `invoice.paid`
delivery, or any later one) creates it; (d) after the grant, before the settle: the grant exists
(its id is taken), the next evaluation only settles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tally.billing import clocks, top_ups
from tally.billing.references import found
from tally.clock import Clock
from tally.domain import credit_watch as rules
from tally.domain.credit_watch import RuleState, TopUp, Watch
from tally.domain.credits import CreditGrant
from tally.domain.records import Customer, Invoice
from tally.errors import Conflict
from tally.presenters.alerts import recovered, triggered
from tally.presenters.top_ups import started
from tally.store import credit_watch

ROUNDS = 6


@dataclass
class Ports:
    """What evaluation reads and does beyond the watch; tests may replace any of them."""

    balance: Callable[[str, str, str, Clock], int] = top_ups.available
    invoice: Callable[[str, str, Clock], Invoice | None] = top_ups.invoice
    start: Callable[[str, TopUp, Clock], Invoice] = top_ups.start
    grant: Callable[[str, RuleState, Invoice, Clock], str] = top_ups.grant


@dataclass
class Outcome:
    """What one evaluation did: alert events recorded, top-up invoices created, grants created."""

    events: list[str] = field(default_factory=list)
    invoices: list[str] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)


def evaluate(
    account: str, customer: str, clock: Clock, ports: Ports | None = None, *, drive: bool = True
) -> Outcome:
    """Bring the customer's credit watch up to date with its balance at `clock` (the customer's
    clock). Idempotent: run it any number of times, concurrently, after a crash. With `drive`
    False (ingest), only crossings are recorded: a top-up started is left to the reaction to its
    `tally.credit_top_up.started` event, so the hot path writes nothing but the watch and events."""
    ports = ports or Ports()
    out = Outcome()
    for _ in range(ROUNDS):
        watch = credit_watch.read(account, customer)
        if watch.empty:
            return out
        if drive and _drive(account, customer, watch, clock, ports, out):
            continue  # a top-up settled: its grant moved the balance
        balances = {c: ports.balance(account, customer, c, clock) for c in watch.currencies}
        decision = rules.decide(watch, balances, clock.now)
        if decision.watch == watch:
            return out
        events = [_event(c, customer, clock) for c in decision.crossings]
        events += [(rules.STARTED, started(t, clock.now)) for t in decision.top_ups]
        try:
            credit_watch.transition(account, customer, watch, decision.watch, events, clock)
        except Conflict:
            continue  # another evaluation wrote first: decide again from what it wrote
        out.events += [kind for kind, _ in events]
        for top_up in decision.top_ups if drive else ():
            ports.start(account, top_up, clock)
            out.invoices.append(top_up.invoice)
    return out


def react(account: str, customer: str | None, clock: Clock, *, credit_grant: str | None = None) -> Outcome:
    """The billing queue's `credits` message: evaluate the watch of the customer (or of the
    grant's customer: an expiry's ledger entry names only the grant) at its clock, if it has one
    (one GetItem of the customer otherwise: a customer never watched costs nothing more)."""
    if customer is None and credit_grant is not None:
        grant = found(account, credit_grant, CreditGrant, clock)
        customer = grant.customer if grant is not None else None
    if customer is None:
        return Outcome()
    record = found(account, customer, Customer, clock)
    if record is None or not record.credit_watched:
        return Outcome()
    return evaluate(account, customer, clocks.clock_for(account, customer, clock))


def _event(c: rules.Crossing, customer: str, clock: Clock) -> tuple[str, dict]:
    present = triggered if c.event_type == rules.TRIGGERED else recovered
    return c.event_type, present(c.alert, customer, c.value, clock.now)


def _drive(account: str, customer: str, watch: Watch, clock: Clock, ports: Ports, out: Outcome) -> bool:
    """Move each top-up in flight on; True when the watch was written (a new round reads it)."""
    for state in watch.rules:
        if state.pending is None:
            continue
        invoice = ports.invoice(account, state.pending, clock)
        if invoice is None or invoice.status == "draft":
            # crash point (b): the watch names an invoice never created, or not given its line
            # or not finalized yet: finish it (each step is skipped when done)
            top_up = TopUp(state.rule, state.pending, state.pending_amount)
            ports.start(account, top_up, clock)
            out.invoices.append(state.pending)
            continue
        if invoice.status == "paid":
            if invoice.total > 0:  # a 0 invoice (its draft emptied, then paid) grants nothing
                out.grants.append(ports.grant(account, state, invoice, clock))
        elif invoice.status not in ("void", "uncollectible"):
            continue  # open: still in flight
        try:
            credit_watch.transition(account, customer, watch, rules.settled(watch, state.pending), [], clock)
        except Conflict:
            pass  # someone else moved the watch: the next round reads it
        return True
    return False
