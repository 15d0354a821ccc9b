"""Parameter groups that more than one route reads (not a resource: routes share it)."""

from __future__ import annotations

from typing import Any

from tally.api.params import Params
from tally.billing import products
from tally.domain.cadences import CYCLE_TYPES, MAX_CYCLE_COUNT, MONTH_OF_YEAR_COUNTS, BillingCycle
from tally.domain.catalog import (
    DISPLAY_NAME_MAX,
    LOOKUP_KEY_MAX,
    MAX_TIERS,
    ROUNDINGS,
    TIERING_MODES,
    UNIT_LABEL_MAX,
    RateTier,
    SegmentCondition,
    check_tiers,
)
from tally.domain.currencies import SUPPORTED_CURRENCIES
from tally.errors import invalid


def product_fields(params: Params, *, creating: bool) -> dict[str, Any]:
    """A product's fields: name (required when creating), active, description, unit_label
    ('' clears) — for `POST /v1/products[/{id}]` and prices' `product_data`."""
    out: dict[str, Any] = {}
    if creating or params.has("name"):
        out["name"] = params.str("name", required=True, max_length=products.NAME_MAX)
    if params.has("active"):
        active = params.bool("active")
        if active is not None:
            out["active"] = active
    if params.has("description"):
        out["description"] = (
            params.str("description", max_length=products.DESCRIPTION_MAX, empty_ok=True) or None
        )
    if params.has("unit_label"):
        out["unit_label"] = (
            params.str("unit_label", max_length=products.UNIT_LABEL_MAX, empty_ok=True) or None
        )
    return out


# -- v2 billable items (metered items, also a rate's `metered_item_data`; licensed items) ------


def item_fields(params: Params, *, creating: bool) -> dict[str, Any]:
    """The fields both kinds share; on update a null `lookup_key` / `unit_label` clears it."""
    fields: dict[str, Any] = {}
    name = params.str("display_name", required=creating, max_length=DISPLAY_NAME_MAX)
    if name is not None:
        fields["display_name"] = name
    for key, limit in (("lookup_key", LOOKUP_KEY_MAX), ("unit_label", UNIT_LABEL_MAX)):
        if not creating and params.has(key) and params.raw(key) is None:
            params.ignore(key)
            fields[key] = None
        elif (value := params.str(key, max_length=limit)) is not None:
            fields[key] = value
    if (tax := params.sub("tax_details")) is not None:
        fields["tax_code"] = tax.str("tax_code", required=True, max_length=100)
        tax.done()
    return fields


def metered_fields(params: Params) -> tuple[dict[str, Any], list[SegmentCondition]]:
    """A metered item's create fields (also `metered_item_data` of a rate)."""
    fields = item_fields(params, creating=True)
    fields["meter"] = params.str("meter", required=True, max_length=255)
    dims = params.strings("invoice_presentation_dimensions", max_items=10, max_length=100)
    if dims is not None:
        fields["invoice_presentation_dimensions"] = tuple(dims)
    conditions: list[SegmentCondition] = []
    for condition in params.sublist("meter_segment_conditions", max_items=10) or []:
        dimension = condition.str("dimension", required=True, max_length=100)
        value = condition.str("value", required=True, max_length=100)
        condition.done()
        assert dimension is not None and value is not None
        conditions.append(SegmentCondition(dimension, value))
    return fields, conditions


def price_fields(p: Params, prefix: str, *, required: bool) -> dict[str, Any] | None:
    """A v2 rate's or license fee's price: exactly one of `unit_amount` (a decimal string, minor
    units) and `tiers` (+ `tiering_mode`), optionally `transform_quantity` (not with tiers, as
    on v1 prices). None when nothing was given and nothing is required."""
    unit_amount = p.decimal("unit_amount")
    tiers: list[RateTier] = []
    for index, t in enumerate(p.sublist("tiers", max_items=MAX_TIERS) or []):
        up_to = t.decimal("up_to_decimal")
        inf = t.str("up_to_inf", choices=("inf",))
        if (up_to is None) == (inf is None):
            raise invalid(f"{prefix}tiers[{index}]", "Give exactly one of up_to_decimal and up_to_inf.")
        tiers.append(
            RateTier(up_to=up_to, unit_amount=t.decimal("unit_amount"), flat_amount=t.decimal("flat_amount"))
        )
        t.done()
    mode = p.str("tiering_mode", choices=TIERING_MODES)
    divide_by = rounding = None
    if (transform := p.sub("transform_quantity")) is not None:
        divide_by = transform.int("divide_by", required=True, min=1)
        rounding = transform.str("round", required=True, choices=ROUNDINGS)
        transform.done()
    if unit_amount is None and not tiers and mode is None and divide_by is None and not required:
        return None
    if (unit_amount is None) == (not tiers):
        raise invalid(f"{prefix}unit_amount", "Give exactly one of unit_amount and tiers.")
    if tiers:
        check_tiers(tiers, f"{prefix}tiers")
        if mode is None:
            raise invalid(f"{prefix}tiering_mode", "tiering_mode is required with tiers.")
        if divide_by is not None:
            raise invalid(f"{prefix}transform_quantity", "transform_quantity cannot be combined with tiers.")
    elif mode is not None:
        raise invalid(f"{prefix}tiering_mode", "tiering_mode is only valid with tiers.")
    amounts = [
        ("unit_amount", unit_amount),
        *[("tiers", x) for t in tiers for x in (t.unit_amount, t.flat_amount)],
    ]
    for name, amount in amounts:
        if amount is not None and amount < 0:
            raise invalid(f"{prefix}{name}", f"Invalid {name}: must not be negative.")
    return {
        "unit_amount": unit_amount,
        "tiers": tuple(tiers),
        "tiering_mode": mode,
        "divide_by": divide_by,
        "round": rounding,
    }


def v2_currency(params: Params) -> str:
    """A v2 object's `currency`: one of Stripe's, lower case."""
    currency = (params.str("currency", required=True, max_length=3) or "").lower()
    if currency not in SUPPORTED_CURRENCIES:
        raise invalid(
            params.path("currency"), f"Invalid currency: {currency}. Tally accepts Stripe's currencies."
        )
    return currency


def billing_cycle(p: Params) -> BillingCycle:
    """`billing_cycle`: its type, interval_count, and the one sub-object of its type."""
    kind = p.str("type", required=True, choices=CYCLE_TYPES)
    assert kind is not None
    count = p.int("interval_count", min=1, max=MAX_CYCLE_COUNT[kind]) or 1
    fields: dict[str, Any] = {"type": kind, "interval_count": count}
    for other in CYCLE_TYPES:
        if other != kind and p.has(other):
            raise invalid(f"billing_cycle.{other}", f"billing_cycle.{other} is not valid with type {kind}.")
    detail = p.sub(kind)
    if detail is not None:
        if (time := detail.sub("time")) is not None:
            fields["hour"] = time.int("hour", min=0, max=23) or 0
            fields["minute"] = time.int("minute", min=0, max=59) or 0
            fields["second"] = time.int("second", min=0, max=59) or 0
            time.done()
        if kind == "week":
            fields["day_of_week"] = detail.int("day_of_week", min=1, max=7)
        if kind in ("month", "year"):
            fields["day_of_month"] = detail.int("day_of_month", min=1, max=31)
            fields["month_of_year"] = detail.int("month_of_year", min=1, max=12)
        detail.done()
    p.done()
    if kind == "month" and fields.get("month_of_year") is not None and count not in MONTH_OF_YEAR_COUNTS:
        raise invalid(
            "billing_cycle.month.month_of_year",
            "month_of_year anchors a monthly cycle only when interval_count is 2, 3, 4 or 6.",
        )
    return BillingCycle(**fields)
