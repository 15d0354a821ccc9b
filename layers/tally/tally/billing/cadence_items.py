"""Pending invoice items (`/v1/invoiceitems` without an invoice) swept onto a v2 cadence's invoice,
exactly once (`tally.billing.pending_items`).

The rule, for a customer with cadences and v1 subscriptions alike: a pending item goes on the
NEXT invoice written for its customer in its currency — a cadence tick's, a v1 period close's, or
a one-off invoice created with `pending_invoice_items_behavior=include` — whichever commits first
(Stripe pulls pending items into the customer's next invoice). Each item's Put, naming the
invoice and conditional on the version read, rides in that invoice's transaction (the tick's:
invoice, claim, cadence advanced, events), so an item is on exactly one invoice. A tick with no
plan line still makes an invoice when the customer has pending items (they are billed at the
cadence's cycle, as a v1 subscription's renewal would bill them). Crash points are the tick's
(`cadence_invoices`): before or inside its transaction nothing is written and the items stay
pending; after it the redelivery finds the tick billed; an item changed, deleted or swept by
another invoice between the read and the commit cancels the transaction (409), and the tick is
decided again. As many items as fit beside the tick's own actions, at most
`pending_items.SWEEP_LIMIT`; the rest wait for the next invoice.
"""

from __future__ import annotations

from tally.billing import pending_items
from tally.clock import Clock
from tally.domain.cadences import GRACE_SECONDS, Cadence
from tally.domain.records import Customer, Invoice
from tally.store import objects, transactions
from tally.store.changes import Change, Unique, Write


def draft(
    account: str, cadence: Cadence, p: int, t: int, invoice_id: str, currency: str, clock: Clock
) -> Invoice:
    """An empty draft of tick `t` closing `[p, t)` in `currency` (items join it)."""
    customer = objects.get(account, cadence.customer, Customer, clock)
    return Invoice(
        id=invoice_id,
        customer=customer.id,
        subscription=None,
        created=t,
        livemode=cadence.livemode,
        currency=currency,
        period_start=p,
        period_end=t,
        lines=(),
        subtotal=0,
        total=0,
        amount_due=0,
        amount_remaining=0,
        billing_reason="subscription_cycle",
        customer_email=customer.email,
        customer_name=customer.name,
        customer_phone=customer.phone,
        test_clock=cadence.test_clock,
        automatically_finalizes_at=t + GRACE_SECONDS,
        billing_cadence=cadence.id,
    )


def swept(
    account: str,
    cadence: Cadence,
    invoice: Invoice | None,
    window: tuple[int, int, str],
    claim: list[Unique],
    beside: list[Write],
    clock: Clock,
) -> tuple[Invoice | None, list[Write]]:
    """The tick's invoice (`invoice`, or a new draft when it had no line; `window` = (P, T, its
    id)) with the customer's pending items in its currency, and the items' Writes for the tick's
    transaction (`beside`: its other writes); (None, []) when there is neither line nor item."""
    p, t, invoice_id = window
    if invoice is None:
        oldest = pending_items.pending(account, cadence.customer, None, clock, limit=1)
        if not oldest:
            return None, []
        invoice = draft(account, cadence, p, t, invoice_id, oldest[0].record.currency, clock)
    own = [Write(Change(invoice, "invoice.created", {}, claim=claim)), *beside]
    room = transactions.MAX_ACTIONS - sum(transactions.actions(w) for w in own)
    made, items = pending_items.sweep(account, invoice, clock, room=room)
    if not made.lines:
        return None, []
    return made, items


def previewed(
    account: str, cadence: Cadence, invoice: Invoice | None, window: tuple[int, int, str], clock: Clock
) -> Invoice | None:
    """A cadence invoice's preview with the pending items its tick would sweep (nothing written);
    None when there is neither line nor item."""
    p, t, invoice_id = window
    if invoice is None:
        oldest = pending_items.pending(account, cadence.customer, None, clock, limit=1)
        if not oldest:
            return None
        invoice = draft(account, cadence, p, t, invoice_id, oldest[0].record.currency, clock)
    found = pending_items.pending(account, invoice.customer, invoice.currency, clock)
    lines = (*invoice.lines, *(pending_items.as_line(s.record) for s in found))
    return pending_items.with_lines(invoice, lines) if lines else None
