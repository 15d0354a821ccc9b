"""Stripe's billing credit objects: `billing.credit_grant`, `billing.credit_balance_transaction`,
`billing.credit_balance_summary`, and the `related_object` of their thin events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tally.domain.credits import APPLIED, CREDIT, INVOICE_VOIDED, CreditBalanceTransaction, CreditGrant

GRANTS_URL = "/v1/billing/credit_grants"
TRANSACTIONS_URL = "/v1/billing/credit_balance_transactions"


def monetary(value: int, currency: str) -> dict[str, Any]:
    """Stripe's credit amount: `{type: monetary, monetary: {currency, value}}`."""
    return {"monetary": {"currency": currency, "value": value}, "type": "monetary"}


def grant(g: CreditGrant) -> dict[str, Any]:
    scope: dict[str, Any] = (
        {"prices": [{"id": p} for p in g.scope.prices]}
        if g.scope.prices
        else {"billable_items": [{"id": i} for i in g.scope.billable_items]}  # a service action's (preview)
        if g.scope.billable_items
        else {"price_type": g.scope.price_type}
    )
    return {
        "id": g.id,
        "object": CreditGrant.OBJECT,
        "amount": monetary(g.amount, g.currency),
        "applicability_config": {"scope": scope},
        "category": g.category,
        "created": g.created,
        "customer": g.customer,
        "customer_account": None,
        "effective_at": g.effective_at,
        "expires_at": g.expires_at,
        "livemode": g.livemode,
        "metadata": dict(g.metadata),
        "name": g.name,
        "priority": g.priority,
        "test_clock": g.test_clock,
        "updated": g.updated,
        "voided_at": g.voided_at,
    }


def transaction(t: CreditBalanceTransaction) -> dict[str, Any]:
    side: dict[str, Any] = {"amount": monetary(t.amount, t.currency), "type": t.kind}
    about = {"invoice": t.invoice, "invoice_line_item": t.invoice_line_item}
    if t.type == CREDIT:
        side["credits_application_invoice_voided"] = about if t.kind == INVOICE_VOIDED else None
    else:
        side["credits_applied"] = about if t.kind == APPLIED else None
    return {
        "id": t.id,
        "object": CreditBalanceTransaction.OBJECT,
        "created": t.created,
        "credit": side if t.type == CREDIT else None,
        "credit_grant": t.credit_grant,
        "debit": side if t.type != CREDIT else None,
        "effective_at": t.effective_at,
        "livemode": t.livemode,
        "test_clock": t.test_clock,
        "type": t.type,
    }


def summary(
    customer: str,
    livemode: bool,
    ledger: Mapping[str, int],
    available: Mapping[str, int],
) -> dict[str, Any]:
    """The summary: one balance per currency (sorted), each `available_balance` and `ledger_balance`."""
    balances = [
        {
            "available_balance": monetary(available.get(currency, 0), currency),
            "ledger_balance": monetary(ledger[currency], currency),
        }
        for currency in sorted(ledger)
    ]
    return {
        "object": "billing.credit_balance_summary",
        "balances": balances,
        "customer": customer,
        "customer_account": None,
        "livemode": livemode,
    }


def related_grant(grant_id: str) -> dict[str, Any]:
    """A thin event's `related_object` for a grant."""
    return {"id": grant_id, "type": CreditGrant.OBJECT, "url": f"{GRANTS_URL}/{grant_id}"}


def related_transaction(txn_id: str) -> dict[str, Any]:
    return {"id": txn_id, "type": CreditBalanceTransaction.OBJECT, "url": f"{TRANSACTIONS_URL}/{txn_id}"}
