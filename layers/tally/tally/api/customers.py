"""/v1/customers: create, retrieve, update, list, delete."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import customers, test_clocks
from tally.presenters.customers import customer as present
from tally.presenters.customers import deleted

routes = Routes()
_LIMITS = {"name": 256, "email": 512, "description": 350, "phone": 20}


def _fields(params: Params) -> dict[str, Any]:
    return {
        name: params.str(name, max_length=limit, empty_ok=True) or None
        for name, limit in _LIMITS.items()
        if params.has(name)
    }


@routes.route("POST /v1/customers")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    fields = _fields(params)
    metadata = params.metadata()
    test_clock = params.str("test_clock", max_length=255)
    params.expand()
    params.done()
    if test_clock:
        return present(
            test_clocks.create_customer(request.account, test_clock, fields, metadata, request.clock)
        )
    return present(customers.create(request.account, fields, metadata, request.clock))


@routes.route("GET /v1/customers/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    customer_id = request.path_params["id"]
    found = customers.find(request.account, customer_id, request.clock)
    return deleted(customer_id) if found is None else present(found)


@routes.route("POST /v1/customers/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    fields = _fields(params)
    metadata = params.metadata()
    params.expand()
    params.done()
    return present(
        customers.update(request.account, request.path_params["id"], fields, metadata, request.clock)
    )


@routes.route("DELETE /v1/customers/{id}")
def delete(request: Request) -> dict[str, Any]:
    request.params().done()
    return deleted(customers.delete(request.account, request.path_params["id"], request.clock).id)


@routes.route("GET /v1/customers")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params, created=True)
    email = params.str("email", max_length=_LIMITS["email"])
    params.done()
    page = customers.list_(request.account, window, request.clock, email=email)
    return envelope("/v1/customers", page, present)
