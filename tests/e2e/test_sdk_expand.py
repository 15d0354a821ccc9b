"""`expand` through the official SDK: expanded fields come back as the SDK's typed objects."""

from __future__ import annotations

import pytest
import stripe

pytestmark = pytest.mark.e2e


def test_a_subscription_retrieved_with_expand_gives_typed_objects(client: stripe.StripeClient) -> None:
    # GIVEN a customer subscribed to a metered price of a product
    meter = client.v1.billing.meters.create(
        {"display_name": "Tokens", "event_name": "sdk_expand", "default_aggregation": {"formula": "sum"}}
    )
    customer = client.v1.customers.create({"name": "Jenny"})
    price = client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": 4,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
            "product_data": {"name": "Tokens"},
        }
    )
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    # WHEN retrieved with expand=["customer", "items.data.price.product"]
    got = client.v1.subscriptions.retrieve(sub.id, {"expand": ["customer", "items.data.price.product"]})
    # THEN the customer and the product are the SDK's typed objects, and the metered item has no quantity
    assert isinstance(got.customer, stripe.Customer) and got.customer.id == customer.id
    item = got["items"].data[0]
    assert isinstance(item.price.product, stripe.Product) and item.price.product.name == "Tokens"
    assert "quantity" not in item
    # AND a list expands with the data. prefix
    listed = client.v1.subscriptions.list({"expand": ["data.customer"]})
    assert all(isinstance(s.customer, stripe.Customer) for s in listed.data)
    # AND a path that cannot be expanded raises InvalidRequestError naming the param
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.subscriptions.retrieve(sub.id, {"expand": ["plan"]})
    assert raised.value.http_status == 400 and raised.value.param == "expand[0]"
