"""The event log (outbox) lists a request's writes in the order they were made."""

from __future__ import annotations


def test_inline_product_then_price_list_in_order(api):
    # GIVEN one request that creates a product (product_data) and then its price
    for _ in range(5):
        resp = api.post("/v1/prices", {"currency": "usd", "unit_amount": 100, "product_data": {"name": "P"}})
        assert resp.status == 200, resp.text
    # WHEN the events are listed (newest first)
    types = [e["type"] for e in api.get("/v1/events", {"limit": 10}).json["data"]]
    # THEN each price.created comes right before (i.e. after, in time) its product.created
    assert types == ["price.created", "product.created"] * 5
