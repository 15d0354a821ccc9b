"""/v1/subscription_items: list (of one subscription), retrieve, create, update, delete. Items are
presented as in the subscription's `items.data`; a change is a subscription update of one item
(`tally.billing.subscription_items`)."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import subscription_changes, subscription_items, subscriptions
from tally.billing.subscription_items import Proration, Shown
from tally.billing.subscriptions import MAX_QUANTITY
from tally.presenters.subscriptions import item as present

routes = Routes()


@routes.route("GET /v1/subscription_items")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params)
    subscription_id = params.str("subscription", required=True, max_length=255)
    params.done()
    assert subscription_id is not None
    page, shown = subscriptions.items(request.account, subscription_id, window, request.clock)
    s = shown.subscription
    return envelope(
        f"/v1/subscription_items?subscription={s.id}",
        page,
        lambda i: present(i, shown.prices[i.price], s.id, shown.period),
    )


@routes.route("GET /v1/subscription_items/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    found, shown = subscriptions.item(request.account, request.path_params["id"], request.clock)
    return present(found, shown.prices[found.price], shown.subscription.id, shown.period)


def _proration(params: Params) -> Proration:
    behavior = params.str("proration_behavior", choices=subscription_changes.BEHAVIORS)
    date = params.int("proration_date", min=0)
    return Proration(behavior or "create_prorations", date)


def _shown(shown: Shown) -> dict[str, Any]:
    view = shown.view
    return present(shown.item, view.prices[shown.item.price], view.subscription.id, view.period)


@routes.route("POST /v1/subscription_items")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    subscription_id = params.str("subscription", required=True, max_length=255)
    price = params.str("price", required=True, max_length=255)
    quantity = params.int("quantity", min=0, max=MAX_QUANTITY)
    metadata = params.metadata()
    proration = _proration(params)
    params.expand()
    params.done()
    assert subscription_id is not None and price is not None
    shown = subscription_items.create(
        request.account, subscription_id, price, quantity, metadata, proration, request.clock
    )
    return _shown(shown)


@routes.route("POST /v1/subscription_items/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    price = params.str("price", max_length=255)
    quantity = params.int("quantity", min=0, max=MAX_QUANTITY)
    metadata = params.metadata()
    proration = _proration(params)
    params.expand()
    params.done()
    shown = subscription_items.update(
        request.account, request.path_params["id"], price, quantity, metadata, proration, request.clock
    )
    return _shown(shown)


@routes.route("DELETE /v1/subscription_items/{id}")
def delete(request: Request) -> dict[str, Any]:
    params = request.params()
    clear_usage = params.bool("clear_usage") or False
    proration = _proration(params)
    params.done()
    item_id = subscription_items.delete(
        request.account, request.path_params["id"], clear_usage, proration, request.clock
    )
    return {"id": item_id, "object": "subscription_item", "deleted": True}
