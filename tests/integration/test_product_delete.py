"""DELETE /v1/products/{id}: only a product without prices (Stripe's rule), race-free."""

from __future__ import annotations

from typing import Any

import support

HAS_PRICES = "This product cannot be deleted because it has one or more user-created prices."


def ok(response: support.Response, status: int = 200) -> dict[str, Any]:
    assert response.status == status, response.text
    return response.json


def _price(api: support.Api, product: str) -> support.Response:
    return api.post("/v1/prices", {"product": product, "currency": "usd", "unit_amount": 1})


def test_a_product_without_prices_is_deleted(api):
    # GIVEN a product without prices
    product = ok(api.post("/v1/products", {"name": "Unused"}))["id"]
    # WHEN it is deleted THEN Stripe's deleted stub, a product.deleted event, and it is gone
    assert ok(api.delete(f"/v1/products/{product}")) == {"id": product, "object": "product", "deleted": True}
    events = [e for e in support.stored_events(api.account.id) if e["type"] == "product.deleted"]
    assert [e["data"]["object"]["id"] for e in events] == [product]
    support.assert_stripe_error(
        *_status_json(api.get(f"/v1/products/{product}")), 404, code="resource_missing"
    )
    assert ok(api.get("/v1/products"))["data"] == []
    # AND a second delete is a 404
    support.assert_stripe_error(*_status_json(api.delete(f"/v1/products/{product}")), 404)


def _status_json(response: support.Response) -> tuple[int, Any]:
    return response.status, response.json


def test_a_product_with_a_price_cannot_be_deleted_even_archived(api):
    # GIVEN a product with one archived price
    product = ok(api.post("/v1/products", {"name": "Sold"}))["id"]
    price = ok(_price(api, product))["id"]
    ok(api.post(f"/v1/prices/{price}", {"active": "false"}))
    # WHEN it is deleted THEN 400 with Stripe's message, and it is still there
    error = support.assert_stripe_error(*_status_json(api.delete(f"/v1/products/{product}")), 400)
    assert error["message"] == HAS_PRICES
    assert ok(api.get(f"/v1/products/{product}"))["id"] == product


def test_a_product_created_with_product_data_has_a_price(api):
    # GIVEN a product created by a price's product_data WHEN deleted THEN 400
    price = ok(
        api.post("/v1/prices", {"currency": "usd", "unit_amount": 1, "product_data": {"name": "Inline"}})
    )
    error = support.assert_stripe_error(*_status_json(api.delete(f"/v1/products/{price['product']}")), 400)
    assert error["message"] == HAS_PRICES


def test_a_price_created_while_the_delete_runs_blocks_it(api, monkeypatch):
    # GIVEN a product whose delete read "no prices", then a price was created before it wrote
    from tally.billing import products
    from tally.store import objects

    product = ok(api.post("/v1/products", {"name": "Racing"}))["id"]
    real = objects.count
    created: list[str] = []

    def counted_then_priced(account, owner, kind):
        found = real(account, owner, kind)
        if not created:
            created.append(ok(_price(api, product))["id"])
        return found

    monkeypatch.setattr(products.objects, "count", counted_then_priced)
    # WHEN the delete writes THEN 400 has prices, and the product and its price stand
    error = support.assert_stripe_error(*_status_json(api.delete(f"/v1/products/{product}")), 400)
    assert error["message"] == HAS_PRICES
    assert ok(api.get(f"/v1/prices/{created[0]}"))["product"] == product
    assert ok(api.get(f"/v1/products/{product}"))["id"] == product


def test_a_price_for_a_product_deleted_meanwhile_fails(api, monkeypatch):
    # GIVEN a price create that read its product, which was deleted before the price was written
    from tally.billing import prices, products
    from tally.clock import Clock

    product = ok(api.post("/v1/products", {"name": "Going"}))["id"]
    real = prices._check_scheme

    def then_deleted(new):
        real(new)
        products.delete(api.account.id, product, Clock.system())

    monkeypatch.setattr(prices, "_check_scheme", then_deleted)
    # WHEN the price is written THEN 400 resource_missing product, and no price exists
    response = _price(api, product)
    support.assert_stripe_error(response.status, response.json, 400, code="resource_missing", param="product")
    assert ok(api.get("/v1/prices"))["data"] == []
