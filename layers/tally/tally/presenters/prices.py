"""The Stripe `price` object and its legacy `plan` view.

Amounts are minor units: the integer field holds the amount when it is whole (else null), the
`*_decimal` field always holds it as Stripe writes decimals ("2000", "0.05").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tally.domain.pricing import Tier
from tally.domain.records import Price


def format_decimal(value: Decimal) -> str:
    """A decimal amount as Stripe writes it: no exponent, no trailing zeros ("2000", "0.05")."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def amount_fields(name: str, value: Decimal | None) -> dict[str, Any]:
    if value is None:
        return {name: None, f"{name}_decimal": None}
    whole = value == value.to_integral_value()
    return {name: int(value) if whole else None, f"{name}_decimal": format_decimal(value)}


def tier(t: Tier) -> dict[str, Any]:
    return {
        **amount_fields("flat_amount", t.flat_amount),
        **amount_fields("unit_amount", t.unit_amount),
        "up_to": t.up_to,
    }


def _recurring(p: Price) -> dict[str, Any] | None:
    r = p.recurring
    if r is None:
        return None
    return {
        "interval": r.interval,
        "interval_count": r.interval_count,
        "meter": r.meter,
        "trial_period_days": None,
        "usage_type": r.usage_type,
    }


def _transform(p: Price) -> dict[str, Any] | None:
    return None if p.transform is None else {"divide_by": p.transform.divide_by, "round": p.transform.round}


def price(p: Price) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.id,
        "object": "price",
        "active": p.active,
        "billing_scheme": p.billing_scheme,
        "created": p.created,
        "currency": p.currency,
        "custom_unit_amount": None,
        "livemode": p.livemode,
        "lookup_key": p.lookup_key,
        "metadata": dict(p.metadata),
        "nickname": p.nickname,
        "product": p.product,
        "recurring": _recurring(p),
        "tax_behavior": p.tax_behavior,
        "tiers_mode": p.tiers_mode,
        "transform_quantity": _transform(p),
        "type": p.type,
        **amount_fields("unit_amount", p.unit_amount),
    }
    if p.billing_scheme == "tiered":
        out["tiers"] = [tier(t) for t in p.tiers]
    return out


def plan(p: Price) -> dict[str, Any]:
    """The legacy `plan` view of a recurring price (older integrations still read it)."""
    assert p.recurring is not None
    amounts = amount_fields("amount", p.unit_amount)
    return {
        "id": p.id,
        "object": "plan",
        "active": p.active,
        "amount": amounts["amount"],
        "amount_decimal": amounts["amount_decimal"],
        "billing_scheme": p.billing_scheme,
        "created": p.created,
        "currency": p.currency,
        "interval": p.recurring.interval,
        "interval_count": p.recurring.interval_count,
        "livemode": p.livemode,
        "metadata": dict(p.metadata),
        "meter": p.recurring.meter,
        "nickname": p.nickname,
        "product": p.product,
        "tiers_mode": p.tiers_mode,
        "transform_usage": _transform(p),
        "trial_period_days": None,
        "usage_type": p.recurring.usage_type,
    }
