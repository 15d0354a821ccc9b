"""/v1/customers: create, retrieve, update, list, delete."""

from __future__ import annotations

from typing import Any

from tally.api import lists
from tally.api.http import Request
from tally.api.lists import envelope, list_args
from tally.api.params import Params, apply_metadata
from tally.api.routing import Routes
from tally.ids import new_id
from tally.settings import settings
from tally.store import objects
from tally.store.objects import Change

routes = Routes()
KIND = "customer"
_EMAIL_MAX = 512


def _fields(params: Params) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, limit in (("name", 256), ("email", _EMAIL_MAX), ("description", 350), ("phone", 20)):
        if params.has(name):
            out[name] = params.str(name, max_length=limit, empty_ok=True) or None
    return out


@routes.route("POST /v1/customers")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    fields = _fields(params)
    metadata = apply_metadata({}, params.metadata())
    params.expand()
    params.done()
    customer = {
        "id": new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": int(request.now),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": new_id("x", 8)[2:].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": settings().livemode,
        "metadata": metadata,
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
        **fields,
    }
    return objects.create(request.account, Change(customer, "customer.created"), request.now)


@routes.route("GET /v1/customers/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    return lists.retrieve(request, KIND)


@routes.route("POST /v1/customers/{id}")
def update(request: Request) -> dict[str, Any]:
    stored = objects.load(request.account, request.path_params["id"], KIND)
    params = request.params()
    fields = _fields(params)
    metadata = params.metadata()
    params.expand()
    params.done()
    before = stored.obj
    after = {**before, **fields, "metadata": apply_metadata(before["metadata"], metadata)}
    previous = objects.previous_attributes(before, after)
    if not previous:
        return before
    return objects.update(request.account, stored, Change(after, "customer.updated", previous), request.now)


@routes.route("DELETE /v1/customers/{id}")
def delete(request: Request) -> dict[str, Any]:
    request.params().done()
    stored = objects.load(request.account, request.path_params["id"], KIND)
    objects.delete(request.account, stored, Change(stored.obj, "customer.deleted"), request.now)
    return {"id": stored.obj["id"], "object": "customer", "deleted": True}


@routes.route("GET /v1/customers")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    args = list_args(params, created=True)
    email = params.str("email", max_length=_EMAIL_MAX)
    params.done()
    page = objects.list_objects(
        request.account,
        KIND,
        args,
        where=(lambda c: c.get("email") == email) if email else None,
    )
    return envelope("/v1/customers", page)
