"""/v1/products: create, retrieve, update, list (products are never deleted here).

`default_price` may be set on update to one of the product's own prices ('' clears it).
"""

from __future__ import annotations

from typing import Any

from tally.api import lists
from tally.api.http import Request
from tally.api.lists import envelope, list_args
from tally.api.params import Params, apply_metadata
from tally.api.routing import Routes
from tally.errors import InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.settings import settings
from tally.store import objects
from tally.store.objects import Change

routes = Routes()
KIND = "product"
NAME_MAX = 250
UNIT_LABEL_MAX = 12


def referenced(account: str, object_id: str, kind: str, param: str, label: str | None = None) -> dict:
    """An object named by a request parameter; a missing one is Stripe's 400 `resource_missing`.

    (A missing object in the URL path is a 404; one referenced from the body is a 400 whose
    `param` names the field, as Stripe answers.)
    """
    try:
        return objects.get(account, object_id, kind, label=label, param=param)
    except NotFound as exc:
        raise InvalidRequest(exc.message, code="resource_missing", param=param) from None


def fields(params: Params, *, creating: bool) -> dict[str, Any]:
    """The product fields a create (or update) sets; used by prices' `product_data` too."""
    out: dict[str, Any] = {}
    if creating or params.has("name"):
        out["name"] = params.str("name", required=True, max_length=NAME_MAX)
    if params.has("active"):
        active = params.bool("active")
        if active is not None:
            out["active"] = active
    if params.has("description"):
        out["description"] = params.str("description", max_length=40000, empty_ok=True) or None
    if params.has("unit_label"):
        out["unit_label"] = params.str("unit_label", max_length=UNIT_LABEL_MAX, empty_ok=True) or None
    return out


def new_product(fields: dict[str, Any], metadata: dict[str, str], now: float) -> dict[str, Any]:
    created = int(now)
    return {
        "id": new_id("prod", 14),
        "object": KIND,
        "active": True,
        "created": created,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": settings().livemode,
        "marketing_features": [],
        "metadata": metadata,
        "name": None,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": created,
        "url": None,
        **fields,
    }


def create_product(account: str, product: dict[str, Any], now: float) -> dict[str, Any]:
    return objects.create(account, Change(product, "product.created"), now)


@routes.route("POST /v1/products")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    values = fields(params, creating=True)
    metadata = apply_metadata({}, params.metadata())
    params.expand()
    params.done()
    return create_product(request.account, new_product(values, metadata, request.now), request.now)


@routes.route("GET /v1/products/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    return lists.retrieve(request, KIND)


@routes.route("POST /v1/products/{id}")
def update(request: Request) -> dict[str, Any]:
    stored = objects.load(request.account, request.path_params["id"], KIND)
    params = request.params()
    values = fields(params, creating=False)
    metadata = params.metadata()
    if params.has("default_price"):
        default_price = params.str("default_price", max_length=255, empty_ok=True) or None
        if default_price is not None:
            price = referenced(request.account, default_price, "price", "default_price")
            if price["product"] != stored.obj["id"]:
                raise invalid("default_price", f"The price {default_price} belongs to another product.")
        values["default_price"] = default_price
    params.expand()
    params.done()
    before = stored.obj
    after = {**before, **values, "metadata": apply_metadata(before["metadata"], metadata)}
    previous = objects.previous_attributes(before, after)
    if not previous:
        return before
    after["updated"] = int(request.now)
    return objects.update(request.account, stored, Change(after, "product.updated", previous), request.now)


@routes.route("GET /v1/products")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    args = list_args(params, created=True)
    active = params.bool("active")
    params.done()
    page = objects.list_objects(
        request.account,
        KIND,
        args,
        where=(lambda p: p["active"] == active) if active is not None else None,
    )
    return envelope("/v1/products", page)
