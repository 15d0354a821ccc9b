"""Tally's automatic top-ups as JSON: the rule (`tally.credit_top_up_rule`, `/v1/tally/credit_top_up_rules`)
and the `data.object` of `tally.credit_top_up.started` (`tally.credit_top_up`)."""

from __future__ import annotations

from typing import Any

from tally.domain.credit_watch import RuleState, TopUp, TopUpRule


def rule(r: TopUpRule, state: RuleState | None = None) -> dict[str, Any]:
    """The rule; with its `state` (as the customer's watch holds it) when read back."""
    out: dict[str, Any] = {
        "id": r.id,
        "object": r.OBJECT,
        "amount": r.amount,
        "collection_method": r.collection_method,
        "created": r.created,
        "currency": r.currency,
        "customer": r.customer,
        "days_until_due": r.days_until_due,
        "livemode": r.livemode,
        "max_per_period": r.max_per_period,
        "metadata": dict(r.metadata),
        "period": r.period,
        "target_balance": r.target_balance,
        "threshold": r.threshold,
    }
    if state is not None:
        out["pending_invoice"] = state.pending
        out["top_ups_started"] = state.started
    return out


def started(t: TopUp, created: int) -> dict[str, Any]:
    """A top-up decided: its rule, customer, invoice (named before it exists) and amount."""
    return {
        "object": "tally.credit_top_up",
        "amount": t.amount,
        "created": created,
        "currency": t.rule.currency,
        "customer": t.rule.customer,
        "invoice": t.invoice,
        "rule": t.rule.id,
    }
