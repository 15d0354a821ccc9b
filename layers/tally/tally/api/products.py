"""/v1/products: create, retrieve, update, list, delete (only a product without prices).

`default_price` may be set on update to one of the product's own prices ('' clears it).
"""

from __future__ import annotations

from typing import Any

from tally.api.forms import product_fields
from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.routing import Routes
from tally.billing import products
from tally.presenters.products import deleted
from tally.presenters.products import product as present

routes = Routes()


@routes.route("POST /v1/products")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    fields = product_fields(params, creating=True)
    metadata = params.metadata()
    params.expand()
    params.done()
    return present(products.create(request.account, fields, metadata, request.clock))


@routes.route("GET /v1/products/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(products.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v1/products/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    fields = product_fields(params, creating=False)
    metadata = params.metadata()
    if params.has("default_price"):
        fields["default_price"] = params.str("default_price", max_length=255, empty_ok=True) or None
    params.expand()
    params.done()
    return present(
        products.update(request.account, request.path_params["id"], fields, metadata, request.clock)
    )


@routes.route("DELETE /v1/products/{id}")
def delete(request: Request) -> dict[str, Any]:
    request.params().done()
    return deleted(products.delete(request.account, request.path_params["id"], request.clock).id)


@routes.route("GET /v1/products")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params, created=True)
    active = params.bool("active")
    params.done()
    return envelope(
        "/v1/products", products.list_(request.account, window, request.clock, active=active), present
    )
