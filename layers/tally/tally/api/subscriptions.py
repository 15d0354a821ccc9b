"""/v1/subscriptions: create, retrieve, list, cancel (DELETE). Rules: `tally.billing.subscriptions`."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.routing import Routes
from tally.billing import subscriptions, test_clocks
from tally.billing.subscriptions import MAX_ITEMS, MAX_QUANTITY, STATUSES, ItemSpec
from tally.presenters.subscriptions import subscription as present

routes = Routes()


@routes.route("POST /v1/subscriptions")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    customer_id = params.str("customer", required=True, max_length=255)
    item_params = params.sublist("items", required=True, max_items=MAX_ITEMS) or []
    anchor = params.int("billing_cycle_anchor", min=0)
    description = params.str("description", max_length=500)
    metadata = params.metadata()
    params.expand()
    specs = []
    for item in item_params:
        price_id = item.str("price", required=True, max_length=255)
        quantity_given = item.has("quantity")
        quantity = item.int("quantity", min=0, max=MAX_QUANTITY)
        item_metadata = item.metadata()
        item.done()
        specs.append(
            ItemSpec(
                str(price_id),
                item.path("price"),
                quantity,
                quantity_given,
                item.path("quantity"),
                item_metadata,
            )
        )
    params.done()
    assert customer_id is not None
    shown = subscriptions.create(
        request.account,
        customer_id,
        specs,
        test_clocks.clock_for(request.account, customer_id, request.clock),  # the customer's time
        anchor=anchor,
        description=description,
        metadata=metadata,
    )
    return present(shown)


@routes.route("GET /v1/subscriptions/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(subscriptions.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("DELETE /v1/subscriptions/{id}")
def cancel(request: Request) -> dict[str, Any]:
    params = request.params()
    params.expand()
    params.done()
    return present(subscriptions.cancel(request.account, request.path_params["id"], request.clock))


@routes.route("GET /v1/subscriptions")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params, created=True)
    customer = params.str("customer", max_length=255)
    price = params.str("price", max_length=255)
    status = params.str("status", choices=STATUSES)
    params.done()
    page = subscriptions.list_(
        request.account, window, request.clock, customer=customer, price=price, status=status
    )
    return envelope("/v1/subscriptions", page, present)
