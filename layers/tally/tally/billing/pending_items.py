"""Invoice items on invoices: an item as an invoice line, and the sweep of a customer's pending
items onto an invoice (Stripe's: into a one-off invoice created with
`pending_invoice_items_behavior=include`, and into the customer's next subscription invoice when
its period closes, `tally.billing.cycles`).

Exactly once. `sweep` returns the invoice with one line per swept item and, for each item, its
Put (`invoice` set) conditional on the version read; the caller commits them in the SAME
transaction as the invoice (its create, or the period close's invoice + subscription). So an item
is on an invoice exactly when its record names that invoice, and:

- crash before or inside that transaction: nothing written, the items are still pending;
- an item changed, deleted or swept by someone else between our read and the commit: its version
  check cancels the whole transaction (409 `Conflict`), the caller re-reads and re-decides;
- crash after it: the items are no longer pending (and the close's duplicate finds its period
  billed), so a retry never sweeps them again.

The transaction limit (100 actions): each swept item takes 3 (its Put, its `pending_for` filter
entry removed, its `invoice` entry added; no event: Stripe sends none when an item joins an
invoice, the invoice's own event shows the line). A sweep takes the oldest pending items first, at
most `SWEEP_LIMIT` and only as many as fit beside the caller's own actions (`room`); the rest stay
pending for the next invoice. Items in another currency than the invoice's stay pending too.
"""

from __future__ import annotations

from dataclasses import replace

from tally.clock import Clock
from tally.domain import invoices as domain
from tally.domain.records import INVOICE_ITEM, Invoice, InvoiceItem, InvoiceLine
from tally.errors import NotFound
from tally.ids import new_id
from tally.presenters.invoice_items import unit_amount
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Stored, Write

SWEEP_LIMIT = 20  # items one invoice takes in one sweep (3 transaction actions each)
_READ_AHEAD = 10  # index entries read beyond the limit: some may be stale (already swept)


def as_line(item: InvoiceItem, line_id: str | None = None) -> InvoiceLine:
    """The invoice line of `item` as it is now (a new line id unless `line_id` is kept)."""
    return InvoiceLine(
        id=line_id or new_id("il"),
        subscription_item="",
        price=item.price or "",
        product=item.product or "",
        usage_type=INVOICE_ITEM,
        quantity=item.quantity,
        amount=item.amount,
        period_start=item.period_start,
        period_end=item.period_end,
        description=item.description or "",
        currency=item.currency,
        unit_amount=unit_amount(item),
        invoice_item=item.id,
        metadata=dict(item.metadata),
        discountable=item.discountable,
    )


def with_lines(inv: Invoice, lines: tuple[InvoiceLine, ...]) -> Invoice:
    """A draft with `lines`, its totals recomputed over them (the customer balance as it showed)."""
    t = domain.totals(lines, inv.starting_balance)  # type: ignore[arg-type]  # reads `.amount` only
    return replace(
        inv,
        lines=lines,
        subtotal=t.subtotal,
        total=t.total,
        amount_due=t.amount_due,
        amount_remaining=t.amount_remaining,
    )


def put_line(inv: Invoice, item: InvoiceItem) -> Invoice:
    """The draft with `item`'s line added, or replaced (keeping its id) when already there."""
    lines = list(inv.lines)
    for i, ln in enumerate(lines):
        if ln.invoice_item == item.id:
            lines[i] = as_line(item, ln.id)
            return with_lines(inv, tuple(lines))
    return with_lines(inv, (*lines, as_line(item)))


def drop_line(inv: Invoice, item_id: str) -> Invoice:
    """The draft without `item_id`'s line."""
    return with_lines(inv, tuple(ln for ln in inv.lines if ln.invoice_item != item_id))


def pending(
    account: str, customer: str, currency: str | None, clock: Clock, limit: int = SWEEP_LIMIT
) -> list[Stored[InvoiceItem]]:
    """Up to `limit` of the customer's pending items (in `currency`, when given), oldest first,
    each read by key (consistent) with its version."""
    ids = lists.oldest_ids(account, InvoiceItem.OBJECT, ("pending_for", customer), limit + _READ_AHEAD)
    out: list[Stored[InvoiceItem]] = []
    for item_id in ids:
        try:
            stored = objects.load(account, item_id, InvoiceItem, clock)
        except NotFound:  # deleted since the index was read
            continue
        item = stored.record
        if item.pending and item.customer == customer and currency in (None, item.currency):
            out.append(stored)
            if len(out) == limit:
                break
    return out


def attached(stored: Stored[InvoiceItem], invoice_id: str) -> Write:
    """The version-checked Put of an item joining `invoice_id` (no event of its own)."""
    return Write(Change(replace(stored.record, invoice=invoice_id), None, {}), stored)


def sweep(
    account: str, inv: Invoice, clock: Clock, *, room: int, limit: int = SWEEP_LIMIT
) -> tuple[Invoice, list[Write]]:
    """`inv` (a draft not yet written, or being written) with the lines of its customer's pending
    items in its currency, and the items' Writes for the caller's transaction: as many as fit in
    `room` transaction actions, at most `limit`."""
    found = pending(account, inv.customer, inv.currency, clock, limit)
    writes: list[Write] = []
    for stored in found:
        w = attached(stored, inv.id)
        cost = transactions.actions(w)
        if cost > room:
            break
        room -= cost
        writes.append(w)
        inv = put_line(inv, w.change.record)
    return inv, writes
