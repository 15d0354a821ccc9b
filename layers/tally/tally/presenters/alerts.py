"""The Stripe `billing.alert` object and `billing.alert_triggered` (the `data.object` of the
`billing.alert.triggered` event)."""

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
