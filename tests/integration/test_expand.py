"""`expand[]`: ids at Stripe's expandable paths become the objects they name (in-process API)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe_shapes
import support


def ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


class World:
    def __init__(self, api: support.Api) -> None:
        self.api = api
        self.customer = ok(api.post("/v1/customers", {"name": "Jenny"}))
        self.product = ok(api.post("/v1/products", {"name": "Seats"}))
        self.price = ok(
            api.post(
                "/v1/prices",
                {
                    "currency": "usd",
                    "unit_amount": 1000,
                    "product": self.product["id"],
                    "recurring": {"interval": "month"},
                },
            )
        )
        self.product = ok(api.post(f"/v1/products/{self.product['id']}", {"default_price": self.price["id"]}))
        self.subscription = self.subscribe()

    def current_customer(self) -> dict[str, Any]:
        """The customer as it is now (each subscription's creation invoice bumps its sequence)."""
        return ok(self.api.get(f"/v1/customers/{self.customer['id']}"))

    def subscribe(self) -> dict[str, Any]:
        return ok(
            self.api.post(
                "/v1/subscriptions",
                {"customer": self.customer["id"], "items": [{"price": self.price["id"], "quantity": 2}]},
            )
        )


@pytest.fixture
def world(api: support.Api) -> World:
    return World(api)


def test_a_subscription_expands_its_customer_and_items_products(world: World) -> None:
    # GIVEN a subscription of a customer to a price of a product
    sub_id = world.subscription["id"]
    # WHEN it is retrieved with expand[]=customer, items.data.price.product and latest_invoice
    sub = ok(
        world.api.get(
            f"/v1/subscriptions/{sub_id}",
            {"expand": ["customer", "items.data.price.product", "latest_invoice"]},
        )
    )
    # THEN the customer, the product and the creation invoice are the objects, the price stays embedded
    assert sub["customer"] == world.current_customer()
    item = sub["items"]["data"][0]
    assert item["price"]["product"] == world.product
    assert item["plan"]["product"] == world.product["id"]  # not asked for: stays an id
    latest = sub["latest_invoice"]
    assert latest["object"] == "invoice" and latest["billing_reason"] == "subscription_create"
    assert latest["subscription"] == sub_id
    # AND the expanded answer still reads as Stripe's types
    assert stripe_shapes.problems(sub) == []
    # AND without expand the ids stay ids
    unexpanded = ok(world.api.get(f"/v1/subscriptions/{sub_id}"))
    assert unexpanded["customer"] == world.customer["id"] and unexpanded["latest_invoice"] == latest["id"]


def test_prices_products_and_invoices_expand(world: World) -> None:
    # GIVEN the world's price, product and subscription
    # WHEN each is read with its expandable fields
    price = ok(world.api.get(f"/v1/prices/{world.price['id']}", {"expand": ["product"]}))
    product = ok(world.api.get(f"/v1/products/{world.product['id']}", {"expand": ["default_price"]}))
    invoice = ok(
        world.api.post(
            "/v1/invoices/create_preview",
            {
                "subscription": world.subscription["id"],
                "expand": ["customer", "subscription", "parent.subscription_details.subscription"],
            },
        )
    )
    # THEN the ids became the objects
    assert price["product"] == world.product
    assert product["default_price"] == world.price
    assert invoice["customer"] == world.current_customer()
    assert invoice["subscription"]["id"] == world.subscription["id"]
    assert invoice["parent"]["subscription_details"]["subscription"]["id"] == world.subscription["id"]
    assert [stripe_shapes.problems(o) for o in (price, product, invoice)] == [[], [], []]


def test_a_list_expands_with_the_data_prefix_fetching_each_object_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN three subscriptions of one customer
    world.subscribe()
    world.subscribe()
    now = world.current_customer()
    from tally.billing import customers

    calls: list[str] = []
    real = customers.retrieve
    monkeypatch.setattr(customers, "retrieve", lambda a, i, c: calls.append(i) or real(a, i, c))
    # WHEN listed with expand[]=data.customer
    page = ok(world.api.get("/v1/subscriptions", {"expand": ["data.customer"]}))
    # THEN each subscription carries the customer, read once for the whole list
    assert [s["customer"] for s in page["data"]] == [now] * 3
    assert calls == [world.customer["id"]]


@pytest.mark.parametrize(
    ("path", "params", "param", "message"),
    [
        (
            "/v1/subscriptions/{sub}",
            {"expand": ["colour"]},
            "expand[0]",
            "This property cannot be expanded (colour).",
        ),
        (
            "/v1/subscriptions",
            {"expand": ["customer"]},
            "expand[0]",
            "This property cannot be expanded (customer). "
            "You may want to try expanding 'data.customer' instead.",
        ),
        (
            "/v1/subscriptions/{sub}",
            {"expand": ["customer", "metadata"]},
            "expand[1]",
            "This property cannot be expanded (metadata).",
        ),
        (
            "/v1/subscriptions",
            {"expand": ["data.items.data.price.product"]},
            "expand[0]",
            "You cannot expand more than 4 levels of a property (data.items.data.price.product).",
        ),
        ("/v1/events", {"expand": ["data.data.object"]}, "expand[0]", None),
        (
            "/v1/subscriptions/{sub}",
            {"expand": ["latest_invoice.customer.x.y.z"]},
            "expand[0]",
            "You cannot expand more than 4 levels of a property (latest_invoice.customer.x.y.z).",
        ),
        ("/v1/billing/meters", {"expand": ["data.customer_mapping"]}, "expand[0]", None),
    ],
)
def test_a_path_stripe_cannot_expand_is_a_400(
    world: World, path: str, params: dict[str, Any], param: str, message: str | None
) -> None:
    # GIVEN a path that is not expandable WHEN requested THEN Stripe's 400 naming the expand param
    response = world.api.get(path.format(sub=world.subscription["id"]), params)
    error = support.assert_stripe_error(response.status, response.json, 400, param=param)
    assert error["message"] == (message or f"This property cannot be expanded ({params['expand'][0]}).")


def test_a_bad_path_on_create_creates_nothing(world: World) -> None:
    # GIVEN a subscription create with an unexpandable path
    response = world.api.post(
        "/v1/subscriptions",
        {"customer": world.customer["id"], "items": [{"price": world.price["id"]}], "expand": ["plan"]},
    )
    # THEN 400, and no subscription was made
    support.assert_stripe_error(response.status, response.json, 400, param="expand[0]")
    assert len(ok(world.api.get("/v1/subscriptions"))["data"]) == 1


def test_expanding_on_create_returns_the_created_object_expanded(world: World) -> None:
    # GIVEN a new customer's subscription created with expand[]=customer
    created = ok(
        world.api.post(
            "/v1/subscriptions",
            {
                "customer": world.customer["id"],
                "items": [{"price": world.price["id"]}],
                "expand": ["customer"],
            },
        )
    )
    # THEN the answer carries the customer object, while the event keeps the id as Stripe's does
    assert created["customer"] == world.current_customer()
    event = ok(world.api.get("/v1/events", {"type": "customer.subscription.created"}))["data"][0]
    assert event["data"]["object"]["customer"] == world.customer["id"]
