"""Apps pinned to an acacia API version, through the official SDK on the local server: what a
Stripe Billing workshop app reads of an invoice (`subscription`, `subscription_details`, `paid`,
each line's `price`, `type`, `proration`) and what stripe-samples' usage-based-subscriptions reads
of a subscription (`current_period_end`), with `StripeClient(stripe_version=...)` and with the
module-level `stripe.api_version`."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import stripe
import support

pytestmark = pytest.mark.e2e

ACACIA = "2025-02-24.acacia"


def _pinned(local_server: Any, key: str, version: str | None = ACACIA) -> stripe.StripeClient:
    options: dict[str, Any] = {"stripe_version": version} if version else {}
    return stripe.StripeClient(
        key, base_addresses={"api": local_server.url}, max_network_retries=2, **options
    )


def _billing_lines(invoice: Any) -> list[tuple[str, str, int, bool]]:
    """The workshop app's reading of an invoice: nothing unless it belongs to a subscription."""
    if not invoice.subscription or invoice.paid:
        return []
    return [(line.price.id, line.type, line.amount, line.proration) for line in invoice.lines.data]


def test_an_acacia_client_reads_its_fields_of_invoices_and_subscriptions(local_server, e2e_key):
    client = _pinned(local_server, e2e_key)
    # GIVEN a customer subscribed to 2 seats at 1,500 a month, through the pinned client
    price = client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Seat"},
        }
    )
    customer = client.v1.customers.create({"name": "Workshop"})
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id, "quantity": 2}], "metadata": {"app": "ws"}}
    )
    # THEN the subscription reads its period at the top level
    assert sub.current_period_end > sub.current_period_start
    # WHEN the app lists the customer's invoices
    invoices = client.v1.invoices.list({"customer": customer.id}).data
    # THEN it finds the subscription's invoice and bills its line: price, type, amount, proration
    (invoice,) = invoices
    assert invoice.subscription == sub.id and invoice.subscription_details.metadata["app"] == "ws"
    assert _billing_lines(invoice) == [(price.id, "subscription", 3000, False)]
    # AND once paid out of band, `paid` reads true and the app skips it
    paid = client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
    assert paid.paid is True and _billing_lines(paid) == []


def test_the_same_invoice_unpinned_has_the_current_shape(local_server, e2e_key):
    pinned, current = _pinned(local_server, e2e_key), _pinned(local_server, e2e_key, None)
    price = current.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": 700,
            "recurring": {"interval": "month"},
            "product_data": {"name": "P"},
        }
    )
    customer = current.v1.customers.create({"name": "Both"})
    sub = current.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    # WHEN the SDK's own version reads the invoice THEN parent and pricing, no top-level subscription_details
    latest = current.v1.invoices.retrieve(str(sub.latest_invoice))
    assert latest.parent.subscription_details.subscription == sub.id
    assert "subscription_details" not in latest and "price" not in latest.lines.data[0]
    # AND the acacia client reads the same invoice in its shape
    old = pinned.v1.invoices.retrieve(latest.id)
    assert old.subscription_details.metadata.to_dict() == {} and old.lines.data[0].price.id == price.id


def test_the_module_level_api_version_pins_too(local_server, e2e_key, monkeypatch):
    # GIVEN the global style of older apps: stripe.api_key, api_base and api_version
    monkeypatch.setattr(stripe, "api_key", e2e_key)
    monkeypatch.setattr(stripe, "api_base", local_server.url)
    monkeypatch.setattr(stripe, "api_version", ACACIA)
    price = stripe.Price.create(
        currency="usd", unit_amount=900, recurring={"interval": "month"}, product_data={"name": "G"}
    )
    customer = stripe.Customer.create(name="Global")
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}])
    # WHEN the invoice is retrieved THEN the acacia fields are there
    invoice = stripe.Invoice.retrieve(str(sub.latest_invoice))
    assert invoice.subscription == sub.id and invoice.paid is False
    assert invoice.lines.data[0].price.id == price.id and invoice.lines.data[0].type == "subscription"


def test_an_acacia_webhook_endpoint_receives_acacia_invoices(local_server, e2e_key):
    receiver = support.WebhookReceiver().start()
    try:
        client = _pinned(local_server, e2e_key)
        # GIVEN an endpoint pinned to acacia for invoice.created (the workshop app's webhook)
        hook = client.v1.webhook_endpoints.create(
            {"url": receiver.url, "enabled_events": ["invoice.created"], "api_version": ACACIA}
        )
        assert hook.api_version == ACACIA
        # WHEN a subscription creates its first invoice (the stream → dispatch → webhooks, as deployed)
        price = client.v1.prices.create(
            {
                "currency": "usd",
                "unit_amount": 400,
                "recurring": {"interval": "month"},
                "product_data": {"name": "W"},
            }
        )
        customer = client.v1.customers.create({"name": "Hooked"})
        sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
        deadline = time.monotonic() + 30
        while not receiver.got and time.monotonic() < deadline:
            time.sleep(0.2)
        # THEN the signed event verifies, and its invoice reads as acacia's
        assert receiver.got, local_server.output()[-3000:]
        headers, payload = receiver.got[0]
        event = stripe.Webhook.construct_event(payload, headers["stripe-signature"], hook.secret)
        assert event.type == "invoice.created" and json.loads(payload)["api_version"] == ACACIA
        invoice = event.data.object
        assert invoice.subscription == sub.id and invoice.paid is False
        line = invoice.lines.data[0]
        assert (line.price.id, line.type, line.proration, line.amount) == (
            price.id,
            "subscription",
            False,
            400,
        )
    finally:
        receiver.stop()
