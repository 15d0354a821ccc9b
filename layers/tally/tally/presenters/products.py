"""The Stripe `product` object."""

from __future__ import annotations

from typing import Any

from tally.domain.records import Product


def product(p: Product) -> dict[str, Any]:
    return {
        "id": p.id,
        "object": "product",
        "active": p.active,
        "created": p.created,
        "default_price": p.default_price,
        "description": p.description,
        "images": [],
        "livemode": p.livemode,
        "marketing_features": [],
        "metadata": dict(p.metadata),
        "name": p.name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "tax_details": None,
        "type": "service",
        "unit_label": p.unit_label,
        "updated": p.updated,
        "url": None,
    }


def deleted(product_id: str) -> dict[str, Any]:
    return {"id": product_id, "object": "product", "deleted": True}
