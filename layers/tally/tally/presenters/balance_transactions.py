"""The Stripe `customer_balance_transaction` object."""

from __future__ import annotations

from typing import Any

from tally.domain.records import CustomerBalanceTransaction


def transaction(t: CustomerBalanceTransaction) -> dict[str, Any]:
    return {
        "id": t.id,
        "object": "customer_balance_transaction",
        "amount": t.amount,
        "checkout_session": None,
        "created": t.created,
        "credit_note": None,
        "currency": t.currency,
        "customer": t.customer,
        "customer_account": None,
        "description": t.description,
        "ending_balance": t.ending_balance,
        "invoice": t.invoice,
        "livemode": t.livemode,
        "metadata": dict(t.metadata),
        "type": t.type,
    }
