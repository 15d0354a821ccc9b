"""The customer portal through the official `stripe` SDK on the local server (issue 16, point 1):
a workshop app's account page calls `billing_portal.sessions.create` and redirects to `url`.
That url is a Tally page; the page's data comes from the link's token alone."""

from __future__ import annotations

import time

import pytest
import requests
import stripe
import support

pytestmark = pytest.mark.e2e


def test_portal_session_through_the_sdk(
    client: stripe.StripeClient, local_server: support.LocalServer
) -> None:
    # GIVEN a customer metered at 3 cents per call, who made 7 calls
    customer = client.v1.customers.create({"name": "Lora", "email": "lora@example.com"})
    meter = client.v1.billing.meters.create(
        {"display_name": "Images", "event_name": "images", "default_aggregation": {"formula": "sum"}}
    )
    price = client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": 3,
            "product_data": {"name": "Images"},
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    client.v1.billing.meter_events.create(
        {
            "event_name": "images",
            "payload": {"stripe_customer_id": customer.id, "value": "7"},
            "timestamp": int(time.time()),
        }
    )
    # WHEN the app creates a portal session as it would on Stripe
    session = client.v1.billing_portal.sessions.create(
        {"customer": customer.id, "return_url": "https://lora.example/account"}
    )
    # THEN the SDK reads Stripe's object, and its url is this server's portal page
    assert isinstance(session, stripe.billing_portal.Session)
    assert (session.customer, session.return_url, session.flow) == (
        customer.id,
        "https://lora.example/account",
        None,
    )
    assert session.url.startswith(f"{local_server.url}/portal#session=")
    page = requests.get(session.url.split("#")[0], timeout=30)
    assert page.status_code == 200 and "Your billing" in page.text
    # AND the link's token alone reads Lora's 7 calls and the 21 cents due next
    token = session.url.partition("#session=")[2]
    overview = requests.get(
        f"{local_server.url}/portal/api/overview", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    assert overview["customer"]["id"] == customer.id
    assert [u["total"] for u in overview["usage"]] == [7]
    assert overview["upcoming_invoice"]["amount_due"] == 21
    # AND a portal option Tally does not have is refused as Stripe refuses a bad parameter
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.billing_portal.sessions.create(
            {"customer": customer.id, "flow_data": {"type": "payment_method_update"}}
        )
    assert raised.value.param == "flow_data"
