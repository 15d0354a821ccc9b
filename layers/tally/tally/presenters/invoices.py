"""The Stripe `invoice` object and its line items, from an assembled draft."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tally.domain.invoices import Draft, Line
from tally.domain.records import Customer, Price, Subscription
from tally.presenters.prices import amount_fields


@dataclass(frozen=True)
class InvoiceView:
    id: str
    line_ids: Sequence[str]
    draft: Draft
    subscription: Subscription
    customer: Customer
    prices: Mapping[str, Price]
    created: int
    billing_reason: str = "upcoming"
    status: str = "draft"


def line(view: InvoiceView, line_id: str, ln: Line) -> dict[str, Any]:
    s = view.subscription
    price = view.prices[ln.price]
    return {
        "id": line_id,
        "object": "line_item",
        "amount": ln.amount,
        "currency": price.currency,
        "description": ln.description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": view.id,
        "livemode": s.livemode,
        "metadata": dict(s.metadata),
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": s.id,
                "subscription_item": ln.subscription_item,
            },
        },
        "period": {"end": ln.period.end, "start": ln.period.start},
        "pretax_credit_amounts": [],
        "pricing": {
            "type": "price_details",
            "price_details": {"price": ln.price, "product": ln.product},
            "unit_amount_decimal": amount_fields("unit_amount", price.unit_amount)["unit_amount_decimal"],
        },
        "quantity": ln.quantity,
        "quantity_decimal": str(ln.quantity),
        "subscription": s.id,
        "subtotal": ln.amount,
        "taxes": [],
    }


def invoice(view: InvoiceView) -> dict[str, Any]:
    draft, s, c = view.draft, view.subscription, view.customer
    lines = [line(view, line_id, ln) for line_id, ln in zip(view.line_ids, draft.lines, strict=True)]
    t = draft.totals
    return {
        "id": view.id,
        "object": "invoice",
        "account_country": None,
        "account_name": None,
        "account_tax_ids": None,
        "amount_due": t.amount_due,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": t.amount_remaining,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": False,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": view.billing_reason,
        "collection_method": "charge_automatically",
        "created": view.created,
        "currency": draft.currency,
        "custom_fields": None,
        "customer": c.id,
        "customer_account": None,
        "customer_address": None,
        "customer_email": c.email,
        "customer_name": c.name,
        "customer_phone": c.phone,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/invoices/{view.id}/lines",
        },
        "livemode": s.livemode,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": dict(s.metadata), "subscription": s.id},
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": draft.period.end,
        "period_start": draft.period.start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": t.starting_balance,
        "statement_descriptor": None,
        "status": view.status,
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": s.id,
        "subtotal": t.subtotal,
        "subtotal_excluding_tax": t.subtotal,
        "test_clock": None,
        "total": t.total,
        "total_discount_amounts": [],
        "total_excluding_tax": t.total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }
