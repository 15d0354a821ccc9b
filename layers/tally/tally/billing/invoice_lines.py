"""`POST /v1/invoices/{id}/add_lines`: invoice items added to a draft, all in ONE transaction.

Each line is a new item (`amount`, or `price`/`pricing[price]` × `quantity`, in the invoice's
currency; `invoiceitem.created`) or a pending item of the invoice's customer and currency named by
`invoice_item` (attached, version-checked: an item another invoice took meanwhile cancels the
transaction, and the retry refuses it). The draft gets the lines, its totals and
`invoice_metadata`, with `invoice.updated`. At most `MAX_ADD_LINES` lines (the 100-action
transaction limit: a new item takes about 5 actions).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tally.billing import pending_items
from tally.billing.invoice_items import UNSET, Charge, draft_write, period_of, priced, retrying
from tally.clock import Clock
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.records import Invoice, InvoiceItem
from tally.errors import InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.presenters.invoice_items import invoice_item as present
from tally.store import objects, transactions
from tally.store.changes import Change, Stored, Write

MAX_ADD_LINES = 15  # lines one add_lines call takes: one transaction (each new item ≈ 5 actions)


@dataclass(frozen=True)
class NewLine:
    """One line of `add_lines`: an existing pending item (`invoice_item`) or a new item (`charge`)."""

    invoice_item: str | None = None
    charge: Charge | None = None
    description: object = UNSET
    period: tuple[int, int] | None = None
    discountable: bool | None = None
    metadata: MetadataUpdate = None


def add_lines(
    account: str, invoice_id: str, asked: list[NewLine], invoice_metadata: MetadataUpdate, clock: Clock
) -> Invoice:
    """`POST /v1/invoices/{id}/add_lines`: on a draft, each line a new item (`invoiceitem.created`)
    or a pending item of the same customer and currency attached; the draft's lines, totals and
    `invoice_metadata` with `invoice.updated` — all in ONE transaction (all lines or none)."""

    def step() -> Invoice:
        stored = objects.load(account, invoice_id, Invoice, clock)
        if stored.record.status != "draft":
            raise InvalidRequest(
                f"Lines can only be added to a draft invoice; this invoice is {stored.record.status}.",
                code="invoice_not_editable",
            )
        inv = stored.record
        writes: list[Write] = []
        taken: set[str] = set()
        for i, line in enumerate(asked):
            param = f"lines[{i}]"
            if line.invoice_item is not None:
                held = _item_named(account, line.invoice_item, f"{param}[invoice_item]", clock)
                item = held.record
                if not item.pending or item.customer != inv.customer or item.currency != inv.currency:
                    raise invalid(
                        f"{param}[invoice_item]",
                        f"The invoice item {item.id} is not a pending item of this invoice's customer in "
                        f"{inv.currency}.",
                    )
                if item.id in taken:
                    raise invalid(f"{param}[invoice_item]", f"The invoice item {item.id} is named twice.")
                taken.add(item.id)
                item = _overridden(item, line, clock)
                writes.append(Write(Change(replace(item, invoice=inv.id), None, {}), held))
            else:
                assert line.charge is not None
                try:
                    amount, currency, quantity, price = priced(
                        account, replace(line.charge, currency=inv.currency), clock
                    )
                except InvalidRequest as exc:  # name the line's own param (`lines[0][amount]`)
                    exc.param = _within(param, exc.param)
                    raise
                item = InvoiceItem(
                    id=new_id("ii"),
                    customer=inv.customer,
                    created=clock.now,
                    livemode=inv.livemode,
                    amount=amount,
                    currency=currency,
                    period_start=clock.now,
                    period_end=clock.now,
                    quantity=quantity,
                    price=price.id if price else None,
                    product=price.product if price else None,
                    unit_amount=price.unit_amount if price else None,
                    test_clock=inv.test_clock,
                )
                item = replace(_overridden(item, line, clock), invoice=inv.id)
                writes.append(Write(Change(item, "invoiceitem.created", present(item))))
            inv = pending_items.put_line(inv, replace(item, invoice=inv.id))
        inv = replace(inv, metadata=apply_metadata(inv.metadata, invoice_metadata))
        writes = [*draft_write(stored, inv), *writes]
        if not transactions.fits(writes):
            raise invalid("lines", "Too many lines for one call: add them in smaller calls.")
        transactions.commit(account, writes, clock)
        return inv

    return retrying(step)


def _overridden(item: InvoiceItem, line: NewLine, clock: Clock) -> InvoiceItem:
    """`item` with a line's description, period, discountable and metadata, where given."""
    if line.description is not UNSET:
        item = replace(item, description=line.description)  # type: ignore[arg-type]
    if line.period is not None:
        start, end = period_of(line.period, clock.now)
        item = replace(item, period_start=start, period_end=end)
    if line.discountable is not None:
        item = replace(item, discountable=line.discountable)
    return replace(item, metadata=apply_metadata(item.metadata, line.metadata))


def _item_named(account: str, item_id: str, param: str, clock: Clock) -> Stored[InvoiceItem]:
    try:
        return objects.load(account, item_id, InvoiceItem, clock, param=param)
    except NotFound as exc:
        raise InvalidRequest(exc.message, code="resource_missing", param=param) from None


def _within(prefix: str, param: str | None) -> str:
    """`param` as a param of `prefix`: `amount` → `lines[0][amount]`, `pricing[price]` →
    `lines[0][pricing][price]`."""
    if not param:
        return prefix
    first, _, rest = param.partition("[")
    return f"{prefix}[{first}]" + (f"[{rest}" if rest else "")
