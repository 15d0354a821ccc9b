"""/v2/billing/metered_items and /v2/billing/licensed_items: create, retrieve, update, list (JSON)."""

from __future__ import annotations

from typing import Any

from tally.api.forms import item_fields, metered_fields
from tally.api.http import Request
from tally.api.lists import lookup_keys, v2_envelope, v2_list_args
from tally.api.routing import Routes
from tally.billing import billable_items
from tally.domain.catalog import LicensedItem, MeteredItem
from tally.presenters.catalog import licensed_item, metered_item

routes = Routes()


@routes.route("POST /v2/billing/metered_items")
def create_metered(request: Request) -> dict[str, Any]:
    params = request.params()
    fields, conditions = metered_fields(params)
    metadata = params.metadata()
    params.done()
    item = billable_items.create_metered(request.account, fields, conditions, metadata, request.clock)
    return metered_item(item)


@routes.route("GET /v2/billing/metered_items/{id}")
def retrieve_metered(request: Request) -> dict[str, Any]:
    request.params().done()
    return metered_item(
        billable_items.retrieve(request.account, request.path_params["id"], MeteredItem, request.clock)
    )


@routes.route("POST /v2/billing/metered_items/{id}")
def update_metered(request: Request) -> dict[str, Any]:
    params = request.params()
    fields = item_fields(params, creating=False)
    metadata = params.metadata()
    params.done()
    item = billable_items.update(
        request.account, request.path_params["id"], MeteredItem, fields, metadata, request.clock
    )
    return metered_item(item)


@routes.route("GET /v2/billing/metered_items")
def list_metered(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    keys = lookup_keys(params)
    params.done()
    page = billable_items.list_(request.account, MeteredItem, window, request.clock, keys)
    return v2_envelope("/v2/billing/metered_items", page, metered_item, window, {"lookup_keys": keys})


@routes.route("POST /v2/billing/licensed_items")
def create_licensed(request: Request) -> dict[str, Any]:
    params = request.params()
    fields = item_fields(params, creating=True)
    metadata = params.metadata()
    params.done()
    return licensed_item(billable_items.create_licensed(request.account, fields, metadata, request.clock))


@routes.route("GET /v2/billing/licensed_items/{id}")
def retrieve_licensed(request: Request) -> dict[str, Any]:
    request.params().done()
    return licensed_item(
        billable_items.retrieve(request.account, request.path_params["id"], LicensedItem, request.clock)
    )


@routes.route("POST /v2/billing/licensed_items/{id}")
def update_licensed(request: Request) -> dict[str, Any]:
    params = request.params()
    fields = item_fields(params, creating=False)
    metadata = params.metadata()
    params.done()
    item = billable_items.update(
        request.account, request.path_params["id"], LicensedItem, fields, metadata, request.clock
    )
    return licensed_item(item)


@routes.route("GET /v2/billing/licensed_items")
def list_licensed(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    keys = lookup_keys(params)
    params.done()
    page = billable_items.list_(request.account, LicensedItem, window, request.clock, keys)
    return v2_envelope("/v2/billing/licensed_items", page, licensed_item, window, {"lookup_keys": keys})
