"""Parameter groups that more than one route reads (not a resource: routes share it)."""

from __future__ import annotations

from typing import Any

from tally.api.params import Params
from tally.billing import products
from tally.domain.catalog import DISPLAY_NAME_MAX, LOOKUP_KEY_MAX, UNIT_LABEL_MAX, SegmentCondition


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
