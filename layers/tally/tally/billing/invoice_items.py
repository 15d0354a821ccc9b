"""Invoice items (`/v1/invoiceitems`, `ii_…`): create, retrieve, update, delete, list.

An item bills `amount` (with `currency`; negative credits the invoice) or a one-time price ×
`quantity` (`price` or basil's `pricing[price]`: the amount is computed once, exact `Decimal`,
rounded half-up, and kept — the item never changes when the price does). It is pending until an
invoice takes it (`tally.billing.pending_items`), or created straight onto a draft (`invoice`).

Changes follow Stripe's rules: update only while pending or while its invoice is a draft, delete
likewise (never once its invoice is finalized). A change of an item on a draft rewrites the draft's
line and totals in the SAME transaction as the item (both version-checked; `invoice.updated`
records the line change), so a line and its item never disagree. A concurrent change of either
cancels the transaction; we re-read and re-decide (`ATTEMPTS`).

One currency per customer (Stripe's): an item in another currency than the customer's is refused
(`balances.check_currency`). A customer without a currency yet takes one at its first finalized
invoice (`balances.settle`); items of another currency stay pending until an invoice in their
currency takes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from tally.billing import balances, changes, clocks, pending_items
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain import limits
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.pricing import billable_quantity, line_amount
from tally.domain.records import Customer, Invoice, InvoiceItem, Price
from tally.errors import Conflict, InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.presenters.invoice_items import deleted as present_deleted
from tally.presenters.invoice_items import invoice_item as present
from tally.presenters.invoices import invoice as present_invoice
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Stored, Write

ATTEMPTS = 3
MAX_QUANTITY = 999_999_999_999  # Stripe's bound on a quantity
T = TypeVar("T")


def clock_for_customer(account: str, customer_id: str, request_clock: Clock) -> Clock:
    """An item of a test-clock customer is created at the clock's frozen time (refused while it
    advances, as every change of its objects is)."""
    return clocks.clock_for(account, customer_id, request_clock, changing=True)


def clock_for_item(account: str, item_id: str, request_clock: Clock) -> Clock:
    """The clock a change of `item_id` runs at: its customer's (the request's if it is unknown)."""
    try:
        item = objects.get(account, item_id, InvoiceItem, request_clock)
    except NotFound:
        return request_clock
    return clock_for_customer(account, item.customer, request_clock)


def retrying(step: Callable[[], T]) -> T:
    """Run `step` (read, decide, write); on a version conflict read again, up to ATTEMPTS times."""
    for attempt in range(ATTEMPTS):
        try:
            return step()
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Charge:
    """What an item bills, from the request: `amount` (+ currency) or `price` × `quantity`.
    `price_param` names the param the price came in (`price` or `pricing[price]`)."""

    amount: int | None = None
    currency: str | None = None
    price: str | None = None
    quantity: int | None = None
    price_param: str = "price"


def priced(account: str, charge: Charge, clock: Clock) -> tuple[int, str, int, Price | None]:
    """(amount, currency, quantity, price) of a charge; 400 naming the param at fault."""
    if charge.amount is not None and charge.price is not None:
        raise invalid(charge.price_param, f"You may only specify one of amount and {charge.price_param}.")
    if charge.price is None:
        if charge.amount is None:
            raise InvalidRequest(
                "You must specify either amount (with currency) or price (or pricing[price]).",
                code="parameter_missing",
                param="amount",
            )
        if charge.quantity not in (None, 1):
            raise invalid("quantity", "quantity can only be given with a price; amount is the whole charge.")
        if charge.currency is None:
            raise InvalidRequest(
                "Missing required param: currency.", code="parameter_missing", param="currency"
            )
        amount = limits.check_amount("The amount", charge.amount, "amount")
        return amount, charge.currency, 1, None
    price = referenced(account, charge.price, Price, charge.price_param, clock)
    if price.recurring is not None:
        raise invalid(
            charge.price_param,
            f"The price specified ({price.id}) is a recurring price; an invoice item takes only "
            "prices with type=one_time.",
        )
    if not price.active:
        raise invalid(charge.price_param, f"The price specified ({price.id}) is inactive.")
    if charge.currency is not None and charge.currency != price.currency:
        raise invalid(
            charge.price_param,
            f"The price {price.id} is in {price.currency}; this invoice item is in {charge.currency}.",
        )
    quantity = 1 if charge.quantity is None else charge.quantity
    billed = billable_quantity(price.model, quantity)
    amount = limits.check_amount("The amount", line_amount(price.model, billed), "quantity")
    return amount, price.currency, quantity, price


def period_of(period: tuple[int, int] | None, now: int) -> tuple[int, int]:
    """An item's (start, end): as given (400 when it ends before it starts), else `now`, `now`."""
    if period is None:
        return now, now
    start, end = period
    if end < start:
        raise invalid("period[end]", "The period's end must not be before its start.")
    return start, end


def _draft_of(account: str, invoice_id: str, param: str, clock: Clock) -> Stored[Invoice]:
    """The draft invoice an item joins or changes on; 400 (naming `param`) when not a draft."""
    try:
        stored = objects.load(account, invoice_id, Invoice, clock, param=param)
    except NotFound as exc:  # named by a parameter: Stripe's 400 (in the path, its 404 stands)
        if param == "id":
            raise
        raise InvalidRequest(exc.message, code="resource_missing", param=param) from None
    if stored.record.status != "draft":
        raise InvalidRequest(
            f"The invoice {invoice_id} is {stored.record.status}: invoice items can be added to, "
            "changed on or removed from draft invoices only.",
            code="invoice_not_editable",
            param=param,
        )
    return stored


def draft_write(before: Stored[Invoice], after: Invoice) -> list[Write]:
    """The version-checked Put of a draft whose lines moved, with `invoice.updated` (none if not)."""
    change = changes.updated(after, "invoice.updated", present_invoice(before.record), present_invoice(after))
    return [] if change is None else [Write(change, before)]


def create(
    account: str,
    customer_id: str,
    charge: Charge,
    clock: Clock,
    *,
    description: str | None = None,
    period: tuple[int, int] | None = None,
    invoice: str | None = None,
    metadata: MetadataUpdate = None,
    discountable: bool | None = None,
    item_id: str | None = None,  # Tally-internal: a derived id (an automatic top-up's item, `topups`)
) -> InvoiceItem:
    """`POST /v1/invoiceitems`: a pending item, or one on the draft `invoice` (same customer and
    currency), with `invoiceitem.created` (and the draft's `invoice.updated`)."""

    def step() -> InvoiceItem:
        customer = referenced(account, customer_id, Customer, "customer", clock)
        amount, currency, quantity, price = priced(account, charge, clock)
        balances.check_currency(customer, currency, "currency" if price is None else charge.price_param)
        start, end = period_of(period, clock.now)
        item = InvoiceItem(
            id=item_id or new_id("ii"),
            customer=customer.id,
            created=clock.now,
            livemode=customer.livemode,
            amount=amount,
            currency=currency,
            period_start=start,
            period_end=end,
            quantity=quantity,
            description=description,
            price=price.id if price else None,
            product=price.product if price else None,
            unit_amount=price.unit_amount if price else None,
            discountable=True if discountable is None else discountable,
            metadata=apply_metadata({}, metadata),
            test_clock=customer.test_clock,
        )
        writes: list[Write] = []
        if invoice is not None:
            draft = _draft_of(account, invoice, "invoice", clock)
            if draft.record.customer != customer.id:
                raise invalid("invoice", f"The invoice {invoice} belongs to another customer.")
            if draft.record.currency != currency:
                raise invalid(
                    "currency", f"The invoice {invoice} is in {draft.record.currency}, not {currency}."
                )
            item = replace(item, invoice=invoice)
            writes = draft_write(draft, pending_items.put_line(draft.record, item))
        transactions.commit(
            account, [Write(Change(item, "invoiceitem.created", present(item))), *writes], clock
        )
        return item

    return retrying(step)


def retrieve(account: str, item_id: str, clock: Clock) -> InvoiceItem:
    return objects.get(account, item_id, InvoiceItem, clock)


UNSET = object()


def update(
    account: str,
    item_id: str,
    clock: Clock,
    *,
    charge: Charge | None = None,
    description: object = UNSET,
    period: tuple[int, int] | None = None,
    metadata: MetadataUpdate = None,
    discountable: bool | None = None,
) -> InvoiceItem:
    """`POST /v1/invoiceitems/{id}`: while pending, or on a draft (whose line follows)."""

    def step() -> InvoiceItem:
        stored = objects.load(account, item_id, InvoiceItem, clock)
        item = stored.record
        draft = _draft_of(account, item.invoice, "id", clock) if item.invoice is not None else None
        after = item
        if charge is not None:
            wanted = charge
            if charge.amount is None and charge.price is None:  # quantity alone: the same price
                if item.price is None:
                    raise invalid("quantity", "quantity can only be changed on an item with a price.")
                wanted = replace(charge, price=item.price)
            amount, _, quantity, price = priced(account, replace(wanted, currency=item.currency), clock)
            after = replace(
                after,
                amount=amount,
                quantity=quantity,
                price=price.id if price else None,
                product=price.product if price else None,
                unit_amount=price.unit_amount if price else None,
            )
        if description is not UNSET:
            after = replace(after, description=description)  # type: ignore[arg-type]
        if period is not None:
            start, end = period_of(period, clock.now)
            after = replace(after, period_start=start, period_end=end)
        after = replace(
            after,
            metadata=apply_metadata(item.metadata, metadata),
            discountable=item.discountable if discountable is None else discountable,
        )
        if present(after) == present(item):
            return item
        # Stripe has no `invoiceitem.updated` webhook event: the item's change is recorded without
        # one; a draft's `invoice.updated` shows its line moving.
        writes = [Write(Change(after, None, {}), stored)]
        if draft is not None:
            writes += draft_write(draft, pending_items.put_line(draft.record, after))
        transactions.commit(account, writes, clock)
        return after

    return retrying(step)


def delete(account: str, item_id: str, clock: Clock) -> dict[str, object]:
    """`DELETE /v1/invoiceitems/{id}`: while pending, or on a draft (its line goes, in the same
    transaction); never once its invoice is finalized. Records `invoiceitem.deleted`."""

    def step() -> dict[str, object]:
        stored = objects.load(account, item_id, InvoiceItem, clock)
        item = stored.record
        writes: list[Write] = [Write(Change(item, "invoiceitem.deleted", present(item)), stored, delete=True)]
        if item.invoice is not None:
            draft = _draft_of(account, item.invoice, "id", clock)
            writes += draft_write(draft, pending_items.drop_line(draft.record, item.id))
        transactions.commit(account, writes, clock)
        return present_deleted(item.id)

    return retrying(step)


def list_(
    account: str,
    window: Window,
    clock: Clock,
    *,
    customer: str | None = None,
    invoice: str | None = None,
    pending: bool | None = None,
) -> Page[InvoiceItem]:
    """Newest first. One index answers: a pending customer's (`pending_for`), an invoice's, else
    the customer's (`by_customer`) or the account's; other filters are checked on what it reads."""

    def wanted(i: InvoiceItem) -> bool:
        return (
            (customer is None or i.customer == customer)
            and (invoice is None or i.invoice == invoice)
            and (pending is None or i.pending == pending)
        )

    if invoice is not None:
        any_of = [("invoice", invoice)]
    elif pending and customer is not None:
        any_of = [("pending_for", customer)]
    else:
        return lists.list_records(account, InvoiceItem, window, clock, customer=customer, where=wanted)
    return lists.list_records(account, InvoiceItem, window, clock, where=wanted, any_of=any_of)
