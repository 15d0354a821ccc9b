"""The Stripe `invoiceitem` object (basil's shape: `pricing`, `parent`; `presenters.versions` turns it
into acacia's `price`/`unit_amount`) and its deleted form."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tally.domain.records import InvoiceItem
from tally.presenters.prices import amount_fields


def unit_amount(item: InvoiceItem) -> Decimal:
    """The unit amount an item shows: its price's, else its amount over its quantity."""
    if item.unit_amount is not None:
        return item.unit_amount
    return Decimal(item.amount) / Decimal(item.quantity or 1)


def pricing(price: str | None, product: str | None, unit: Decimal | None) -> dict[str, Any]:
    """Stripe's `pricing` of an item or its line: `price_details` only when it has a price."""
    shown: dict[str, Any] = {"type": "price_details"}
    if price:
        shown["price_details"] = {"price": price, "product": product or ""}
    shown["unit_amount_decimal"] = amount_fields("unit_amount", unit)["unit_amount_decimal"]
    return shown


def invoice_item(item: InvoiceItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "object": "invoiceitem",
        "amount": item.amount,
        "currency": item.currency,
        "customer": item.customer,
        "customer_account": None,
        "date": item.created,
        "description": item.description,
        "discountable": item.discountable,
        "discounts": [],
        "invoice": item.invoice,
        "livemode": item.livemode,
        "metadata": dict(item.metadata),
        "net_amount": item.amount,
        "parent": None,  # no subscription's item (`subscription` on create is not taken)
        "period": {"end": item.period_end, "start": item.period_start},
        "pricing": pricing(item.price, item.product, unit_amount(item)),
        "proration": False,
        "quantity": item.quantity,
        "quantity_decimal": str(item.quantity),
        "tax_rates": [],
        "test_clock": item.test_clock,
    }


def deleted(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "object": "invoiceitem", "deleted": True}
