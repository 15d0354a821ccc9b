"""Stripe's v2 catalog objects: metered and licensed items, rate cards, their versions and rates.

v2 conventions: timestamps are RFC 3339 strings, money is a decimal string in minor units, an
optional field Tally has no value for is null, a list field is always present.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tally.domain.catalog import LicensedItem, MeteredItem, RateCard, RateCardRate, RateCardVersion, RateTier
from tally.presenters.meter_events import rfc3339


def decimal_string(value: Decimal) -> str:
    """A decimal as Stripe's v2 writes it: no exponent, no trailing zeros ("5", "0.125")."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _tax_details(tax_code: str | None) -> dict[str, Any] | None:
    return None if tax_code is None else {"tax_code": tax_code}


def metered_item(item: MeteredItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "object": item.OBJECT,
        "created": rfc3339(item.created),
        "display_name": item.display_name,
        "invoice_presentation_dimensions": list(item.invoice_presentation_dimensions),
        "livemode": item.livemode,
        "lookup_key": item.lookup_key,
        "metadata": dict(item.metadata),
        "meter": item.meter,
        "meter_segment_conditions": [
            {"dimension": c.dimension, "value": c.value} for c in item.meter_segment_conditions
        ],
        "tax_details": _tax_details(item.tax_code),
        "unit_label": item.unit_label,
    }


def licensed_item(item: LicensedItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "object": item.OBJECT,
        "created": rfc3339(item.created),
        "display_name": item.display_name,
        "livemode": item.livemode,
        "lookup_key": item.lookup_key,
        "metadata": dict(item.metadata),
        "tax_details": _tax_details(item.tax_code),
        "unit_label": item.unit_label,
    }


def rate_card(card: RateCard) -> dict[str, Any]:
    return {
        "id": card.id,
        "object": card.OBJECT,
        "active": card.active,
        "created": rfc3339(card.created),
        "currency": card.currency,
        "display_name": card.display_name,
        "live_version": card.live_version,
        "livemode": card.livemode,
        "lookup_key": card.lookup_key,
        "metadata": dict(card.metadata),
        "service_cycle": {"interval": card.interval, "interval_count": card.interval_count},
        "tax_behavior": card.tax_behavior,
    }


def rate_card_version(version: RateCardVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "object": version.OBJECT,
        "created": rfc3339(version.created),
        "livemode": version.livemode,
        "rate_card_id": version.rate_card,
    }


def tier(t: RateTier) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "flat_amount": None if t.flat_amount is None else decimal_string(t.flat_amount),
        "unit_amount": None if t.unit_amount is None else decimal_string(t.unit_amount),
    }
    if t.up_to is None:
        shown["up_to_inf"] = "inf"
    else:
        shown["up_to_decimal"] = decimal_string(t.up_to)
    return shown


def rate_card_rate(rate: RateCardRate, item: MeteredItem) -> dict[str, Any]:
    """A rate with its metered item embedded, as Stripe serves it."""
    return {
        "id": rate.id,
        "object": rate.OBJECT,
        "created": rfc3339(rate.created),
        "custom_pricing_unit_amount": None,
        "livemode": rate.livemode,
        "metadata": dict(rate.metadata),
        "metered_item": metered_item(item),
        "rate_card": rate.rate_card,
        "rate_card_version": rate.rate_card_version,
        "tiering_mode": rate.tiering_mode,
        "tiers": [tier(t) for t in rate.tiers],
        "transform_quantity": (
            None if rate.divide_by is None else {"divide_by": str(rate.divide_by), "round": rate.round}
        ),
        "unit_amount": None if rate.unit_amount is None else decimal_string(rate.unit_amount),
    }


def deleted(object_id: str, kind: str) -> dict[str, Any]:
    """v2's DeletedObject."""
    return {"id": object_id, "object": kind, "deleted": True}
