"""/v1/subscription_items: list (of one subscription) and retrieve. Items are created with their
subscription; they are presented as in the subscription's `items.data`."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.routing import Routes
from tally.billing import subscriptions
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
