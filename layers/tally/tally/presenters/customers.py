"""The Stripe `customer` object."""

from __future__ import annotations

from typing import Any

from tally.domain.records import Customer


def customer(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "object": "customer",
        "address": None,
        "balance": c.balance,
        "created": c.created,
        "currency": c.currency,
        "default_source": None,
        "delinquent": False,
        "description": c.description,
        "discount": None,
        "email": c.email,
        "invoice_prefix": c.invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": c.livemode,
        "metadata": dict(c.metadata),
        "name": c.name,
        "next_invoice_sequence": c.next_invoice_sequence,
        "phone": c.phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": c.test_clock,
    }


def deleted(customer_id: str) -> dict[str, Any]:
    return {"id": customer_id, "object": "customer", "deleted": True}
