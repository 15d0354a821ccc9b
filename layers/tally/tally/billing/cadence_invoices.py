"""A cadence's invoices (v2): what one tick bills, and billing each tick exactly once.

`build` is the invoice of the billing interval `[P, T)` that tick `T` closes: for every pricing
plan subscription on the cadence, its lines (`tally.billing.plan_lines`: completed service
intervals of its rate cards, license fee intervals starting in `[P, T)`), and the late usage of
service intervals earlier ticks billed (those ending in the 36 days before `P`: meter events are
accepted 35 days back), as the difference between what their usage amounts to now and what the
cadence's invoices billed for them (`tally.domain.cadence_billing.true_ups`).

`bill_tick` (the billing queue's worker, from the due index like `cycles.bill_period`) writes, in
ONE transaction: the draft invoice (Put, id new; `automatically_finalizes_at` = T + 1 h, so the
lifecycle finalizes it from the due index), a claim `cadence_tick` = `<cadence>@<T>` (at most one
invoice per tick, whatever else happens), the cadence with `billed_through = T` (checked against
the version read: the optimistic lock that moves its due entry to the next tick), the
`invoice.created` event and the thin `v2.billing.cadence.billed` (`data.invoices`: the tick's
invoice, none when it had no line), and the customer's pending invoice items it sweeps
(`tally.billing.cadence_items`). A tick with neither line nor item writes only the cadence and
its event. Crash points:

1. before or inside the transaction: nothing written; SQS (or the advance) delivers again;
2. after it, before the message is deleted: the redelivery finds the cadence past the tick
   (`already_billed`), writes nothing.

Concurrent deliveries: one transaction wins; the other fails its version check (or claim), reads
again and finds the tick billed. The cadence's due entry is an hour after the tick (backdated
usage within that hour is counted), so the draft is finalized by the next close run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from tally.billing import cadence_items, plan_lines
from tally.billing.clocks import clock_for
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain import cadence_billing as rules
from tally.domain import limits
from tally.domain import v2_events as events
from tally.domain.cadences import GRACE_SECONDS, Cadence
from tally.domain.intents import PlanSubscription
from tally.domain.listing import Window
from tally.domain.records import Customer, Invoice, InvoiceLine
from tally.errors import Conflict, InvalidRequest, invalid
from tally.ids import new_id
from tally.presenters.invoices import invoice as present_invoice
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Unique, Write

ATTEMPTS = 3


@dataclass(frozen=True)
class Ticked:
    """What `bill_tick` did: `billed` (with the invoice, None when the tick had no line),
    `already_billed` (a duplicate), `not_due` (the tick + its hour has not come)."""

    outcome: str
    invoice: Invoice | None = None


def subscriptions(account: str, cadence: Cadence, clock: Clock) -> Iterator[PlanSubscription]:
    """The pricing plan subscriptions billed on `cadence` (its customer's, filtered)."""
    after: str | None = None
    while True:
        page = lists.list_records(
            account,
            PlanSubscription,
            Window(100, after, None),
            clock,
            customer=cadence.customer,
            where=lambda s: s.billing_cadence == cadence.id,
        )
        yield from page.data
        if not page.has_more or not page.data:
            return
        after = page.data[-1].id


def billed(account: str, cadence: Cadence, since: int, p: int, clock: Clock) -> list[Invoice]:
    """The cadence's invoices of ticks in `(since, p]` (and commits then): what billed the service
    intervals that ended in that span."""
    out: list[Invoice] = []
    after: str | None = None
    while True:
        page = lists.list_records(
            account,
            Invoice,
            Window(100, after, None, created_gte=since + 1),  # written at or after their tick
            clock,
            customer=cadence.customer,
            where=lambda i: i.billing_cadence == cadence.id and since < i.created <= p,
        )
        out += page.data
        if not page.has_more or not page.data:
            return out
        after = page.data[-1].id


def build(account: str, cadence: Cadence, p: int, t: int, clock: Clock, invoice_id: str) -> Invoice | None:
    """The draft invoice of tick `t` closing `[p, t)`; None when it bills nothing."""
    reader = plan_lines.Reader(account, clock)
    lines: list[InvoiceLine] = []
    since = p - rules.LATE_SECONDS  # intervals ending in (since, p] may have had late usage
    late: list[InvoiceLine] = []
    for sub in subscriptions(account, cadence, clock):
        lines += plan_lines.lines_of(account, sub, p, t, clock, reader)
        late += plan_lines.lines_of(account, sub, since, p, clock, reader, fees=False)
    lines += rules.true_ups(late, billed(account, cadence, since, p, clock), new_id("il"))
    if not lines:
        return None
    customer = objects.get(account, cadence.customer, Customer, clock)
    total = limits.check_amount("The invoice total", sum(ln.amount for ln in lines))
    return Invoice(
        id=invoice_id,
        customer=customer.id,
        subscription=None,
        created=t,
        livemode=cadence.livemode,
        currency=lines[0].currency,
        period_start=p,
        period_end=t,
        lines=tuple(lines),
        subtotal=total,
        total=total,
        amount_due=total,
        amount_remaining=total,
        billing_reason="subscription_cycle",
        customer_email=customer.email,
        customer_name=customer.name,
        customer_phone=customer.phone,
        test_clock=cadence.test_clock,
        automatically_finalizes_at=t + GRACE_SECONDS,
        billing_cadence=cadence.id,
    )


# -- the worker -----------------------------------------------------------------------------------
def bill_tick(account: str, cadence_id: str, due: int | None, clock: Clock) -> Ticked:
    """Bill the cadence's next tick if it is due at `clock` (module doc), exactly once. `due` is
    the due-index time of the message (None: whatever is due now). Raises Conflict when the
    cadence kept changing under us (the message is retried)."""
    for attempt in range(ATTEMPTS):
        try:
            return _tick_once(account, cadence_id, due, clock)
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _tick_once(account: str, cadence_id: str, due: int | None, clock: Clock) -> Ticked:
    stored = objects.load(account, cadence_id, Cadence, clock)
    cadence = stored.record
    p, t = cadence.unbilled
    when = t + GRACE_SECONDS
    if due is not None and when > due:
        return Ticked("already_billed")
    if when > clock.now or (cadence.status != "active" and (cadence.canceled_at or 0) <= p):
        return Ticked("not_due")
    invoice_id = new_id("in")
    invoice = build(account, cadence, p, t, clock, invoice_id)
    after = replace(cadence, billed_through=t)
    thin = [(events.CADENCE_BILLED, events.cadence(cadence.id))]
    data = {events.CADENCE_BILLED: {"invoices": [invoice_id]}}
    writes = [Write(Change(after, None, {}, thin=thin, thin_data=data), stored)]
    taken = Conflict(f"The tick {t} of {cadence.id} is already invoiced.")
    claim = [Unique(rules.TICK_CLAIM, f"{cadence.id}@{t}", taken)]
    # the customer's pending invoice items join it in this transaction (`billing.cadence_items`)
    invoice, items = cadence_items.swept(account, cadence, invoice, (p, t, invoice_id), claim, writes, clock)
    if invoice is None:
        writes[0].change.thin_data[events.CADENCE_BILLED]["invoices"] = []
    else:
        writes.insert(0, Write(Change(invoice, "invoice.created", present_invoice(invoice), claim=claim)))
    transactions.commit(account, [*writes, *items], clock)
    return Ticked("billed", invoice)


def preview(account: str, cadence_id: str, customer_id: str | None, request_clock: Clock) -> Invoice:
    """The invoice the cadence's next tick would create, usage as of the cadence's clock (its
    customer's test clock, if any); never stored. With no line, an empty invoice (total 0)."""
    cadence = referenced(account, cadence_id, Cadence, "billing_cadence", request_clock)
    if customer_id is not None and cadence.customer != customer_id:
        raise invalid("customer", f"The billing cadence {cadence_id} belongs to another customer.")
    if cadence.bills_at is None:
        raise InvalidRequest(
            f"The billing cadence {cadence_id} is canceled and has nothing left to bill.",
            code="invoice_upcoming_none",
            param="billing_cadence",
        )
    clock = clock_for(account, cadence.customer, request_clock)
    p, t = cadence.unbilled
    invoice_id = f"upcoming_{new_id('in')}"
    shown = cadence_items.previewed(
        account, cadence, build(account, cadence, p, t, clock, invoice_id), (p, t, invoice_id), clock
    )
    return replace(shown or _empty(account, cadence, p, t, clock, invoice_id), auto_advance=False)


def _empty(account: str, cadence: Cadence, p: int, t: int, clock: Clock, invoice_id: str) -> Invoice:
    customer = objects.get(account, cadence.customer, Customer, clock)
    return Invoice(
        id=invoice_id,
        customer=customer.id,
        subscription=None,
        created=t,
        livemode=cadence.livemode,
        currency="usd",
        period_start=p,
        period_end=t,
        lines=(),
        subtotal=0,
        total=0,
        amount_due=0,
        amount_remaining=0,
        customer_email=customer.email,
        customer_name=customer.name,
        customer_phone=customer.phone,
        test_clock=cadence.test_clock,
        billing_cadence=cadence.id,
    )
