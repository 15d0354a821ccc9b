"""The Stripe `billing.alert` object and `billing.alert_triggered` (the `data.object` of the
`billing.alert.triggered` event), and `billing.alert_recovered` (`billing.alert.recovered`).

A credit-balance alert shows Stripe's preview `credit_balance_threshold` (`filters`, `lte`
{`balance_type: monetary`, `monetary` {currency, value}, `custom_pricing_unit: null`}); a usage
alert shows the GA object unchanged (no `credit_balance_threshold` field: the GA SDK has none)."""

from __future__ import annotations

from typing import Any

from tally.domain.records import Alert


def alert(a: Alert) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "object": "billing.alert",
        "alert_type": a.alert_type,
        "livemode": a.livemode,
        "status": a.status,
        "title": a.title,
        "usage_threshold": None,
    }
    u = a.usage_threshold
    if u is not None:
        out["usage_threshold"] = {
            "filters": [{"customer": u.customer, "type": "customer"}] if u.customer else None,
            "gte": u.gte,
            "meter": u.meter,
            "recurrence": u.recurrence,
        }
    c = a.credit_balance_threshold
    if c is not None:
        out["credit_balance_threshold"] = {
            "filters": [{"customer": c.customer, "type": "customer"}],
            "lte": {
                "balance_type": "monetary",
                "custom_pricing_unit": None,
                "monetary": {"currency": c.currency, "value": c.lte},
            },
        }
    return out


def triggered(a: Alert, customer: str, value: int, created: int) -> dict[str, Any]:
    return {
        "object": "billing.alert_triggered",
        "alert": alert(a),
        "created": created,
        "customer": customer,
        "livemode": a.livemode,
        "value": value,
    }


def recovered(a: Alert, customer: str, value: int, created: int) -> dict[str, Any]:
    """Stripe's preview `billing.alert_recovered`: the balance (`value`) rose above the threshold."""
    return {
        "object": "billing.alert_recovered",
        "alert": alert(a),
        "created": created,
        "customer": customer,
        "livemode": a.livemode,
        "value": value,
    }
