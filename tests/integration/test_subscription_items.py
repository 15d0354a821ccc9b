"""GET /v1/subscription_items?subscription=… and GET /v1/subscription_items/{id}: the items of a
subscription, presented as in its `items.data` (whose `items.url` points here)."""

from __future__ import annotations

from typing import Any

import support


def ok(response: support.Response, status: int = 200) -> dict[str, Any]:
    assert response.status == status, response.text
    return response.json


def _subscription(api: support.Api, n: int = 3) -> dict[str, Any]:
    customer = ok(api.post("/v1/customers", {"name": "Items"}))["id"]
    product = ok(api.post("/v1/products", {"name": "Seats"}))["id"]
    prices = [
        ok(
            api.post(
                "/v1/prices",
                {
                    "product": product,
                    "currency": "usd",
                    "unit_amount": 100 + i,
                    "recurring": {"interval": "month"},
                },
            )
        )["id"]
        for i in range(n)
    ]
    items = [{"price": p, "quantity": i + 1, "metadata": {"n": str(i)}} for i, p in enumerate(prices)]
    return ok(api.post("/v1/subscriptions", {"customer": customer, "items": items}))


def _get_url(api: support.Api, url: str, **params: Any) -> support.Response:
    path, _, query = url.partition("?")
    extra = support.form_encode(params)
    return api.get(path, query="&".join(q for q in (query, extra) if q))


def test_items_url_lists_the_items_as_the_subscription_shows_them(api):
    # GIVEN a subscription with three items
    sub = _subscription(api)
    # WHEN its items.url is followed
    listed = ok(_get_url(api, sub["items"]["url"]))
    # THEN Stripe's list envelope with exactly the items of the subscription, in its order
    assert listed["object"] == "list" and listed["has_more"] is False
    assert listed["url"] == f"/v1/subscription_items?subscription={sub['id']}"
    assert listed["data"] == sub["items"]["data"]
    assert listed["data"][0]["object"] == "subscription_item"


def test_item_cursors_walk_the_items(api):
    # GIVEN a subscription with three items a, b, c
    sub = _subscription(api)
    a, b, c = (i["id"] for i in sub["items"]["data"])
    url = sub["items"]["url"]
    # WHEN paged one at a time THEN each page has one item and has_more until the end
    first = ok(_get_url(api, url, limit=1))
    assert [i["id"] for i in first["data"]] == [a] and first["has_more"] is True
    second = ok(_get_url(api, url, limit=1, starting_after=a))
    assert [i["id"] for i in second["data"]] == [b] and second["has_more"] is True
    last = ok(_get_url(api, url, limit=1, starting_after=b))
    assert [i["id"] for i in last["data"]] == [c] and last["has_more"] is False
    # AND ending_before walks back
    back = ok(_get_url(api, url, limit=1, ending_before=c))
    assert [i["id"] for i in back["data"]] == [b] and back["has_more"] is True
    assert ok(_get_url(api, url, ending_before=a))["data"] == []


def test_an_item_is_retrieved_by_id(api):
    # GIVEN a subscription WHEN each item is retrieved by id THEN it is the item the subscription shows
    sub = _subscription(api)
    for item in sub["items"]["data"]:
        assert ok(api.get(f"/v1/subscription_items/{item['id']}")) == item


def test_items_of_a_canceled_subscription_stay_readable(api):
    # GIVEN a canceled subscription WHEN its items are read THEN they are there
    sub = _subscription(api, 1)
    ok(api.delete(f"/v1/subscriptions/{sub['id']}"))
    item = sub["items"]["data"][0]["id"]
    assert ok(api.get(f"/v1/subscription_items/{item}"))["id"] == item
    assert [i["id"] for i in ok(_get_url(api, sub["items"]["url"]))["data"]] == [item]


def test_subscription_is_required_and_must_exist(api):
    # GIVEN no subscription param THEN 400 parameter_missing; an unknown one THEN 400 resource_missing
    missing = api.get("/v1/subscription_items")
    support.assert_stripe_error(
        missing.status, missing.json, 400, code="parameter_missing", param="subscription"
    )
    unknown = api.get("/v1/subscription_items", {"subscription": "sub_nope"})
    support.assert_stripe_error(
        unknown.status, unknown.json, 400, code="resource_missing", param="subscription"
    )


def test_an_unknown_item_is_404(api):
    response = api.get("/v1/subscription_items/si_nope")
    support.assert_stripe_error(response.status, response.json, 404, code="resource_missing", param="id")


def test_items_are_per_account(api, other_account):
    # GIVEN a subscription of one account WHEN another account reads its items THEN not found
    sub = _subscription(api, 1)
    other = api.as_(other_account)
    item = sub["items"]["data"][0]["id"]
    assert other.get(f"/v1/subscription_items/{item}").status == 404
    assert other.get("/v1/subscription_items", {"subscription": sub["id"]}).status == 400
