"""Parameter groups that more than one route reads (not a resource: routes share it)."""

from __future__ import annotations

from typing import Any

from tally.api.params import Params
from tally.billing import products


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
