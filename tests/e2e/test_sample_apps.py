"""The calls of two real Stripe apps, in their order and shapes, against the local server, through the
official `stripe` SDK (written here from what those apps send, not copied from them):

- stripe-samples `subscription-use-cases` usage-based-subscriptions: a `StripeClient` pinned to
  `2024-09-30.acacia` creates a customer, a meter, a metered price with `product_data`, a subscription
  with `expand[]=pending_setup_intent`, and records usage with `POST /v2/billing/meter_events`;
- a Stripe Billing workshop app: a webhook endpoint pinned to an acacia version receives the
  invoice's events and reads `invoice.subscription`, `invoice.subscription_details`, `invoice.paid`
  and each line's `price`, `type` and `proration`.

Only the base addresses and the key differ from what those apps send to Stripe.
"""

from __future__ import annotations

import json
import time

import pytest
import stripe
import support

# The apps call `client.customers` (not `client.v1.customers`), which this SDK deprecates.
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
ACACIA = "2024-09-30.acacia"


def _events(
    receiver: support.WebhookReceiver, secret: str, wanted: set[tuple[str, str]], timeout: float = 30.0
):
    """The verified events the receiver got, by (type, object id), once every wanted pair arrived."""
    deadline = time.monotonic() + timeout
    while True:
        got: dict[tuple[str, str], dict] = {}
        for headers, payload in list(receiver.got):
            event = stripe.Webhook.construct_event(payload, headers["stripe-signature"], secret)
            got[(event.type, event.data.object.id)] = json.loads(payload)
        if wanted <= got.keys():
            return got
        assert time.monotonic() < deadline, f"still waiting for {wanted - got.keys()}; got {sorted(got)}"
        time.sleep(0.2)


def test_the_usage_based_subscriptions_sample_and_an_acacia_webhook_reader(local_server, e2e_key):
    client = stripe.StripeClient(
        e2e_key,
        stripe_version=ACACIA,
        base_addresses={"api": local_server.url, "meter_events": local_server.url},
        max_network_retries=2,
    )
    receiver = support.WebhookReceiver().start()
    try:
        # GIVEN the workshop app's webhook endpoint, pinned to acacia
        hook = client.webhook_endpoints.create(
            {
                "url": receiver.url,
                "api_version": ACACIA,
                "enabled_events": [
                    "invoice.finalized",
                    "invoice.paid",
                    "invoice.payment_failed",
                    "customer.subscription.deleted",
                    "customer.subscription.trial_will_end",
                ],
            }
        )
        # AND the sample's setup calls, in its order
        customer = client.customers.create({"email": "jenny.rosen@example.com", "name": "Jenny Rosen"})
        meter = client.billing.meters.create(
            {
                "display_name": "Sample app tokens",
                "event_name": "sample_app_tokens",
                "default_aggregation": {"formula": "sum"},
            }
        )
        price = client.prices.create(
            {
                "currency": "usd",
                "unit_amount": 4,
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
                "product_data": {"name": "Sample app tokens"},
            }
        )
        sub = client.subscriptions.create(
            {"customer": customer.id, "items": [{"price": price.id}], "expand": ["pending_setup_intent"]}
        )
        # THEN the subscription reads as acacia apps read it: its period at the top level
        assert sub.status == "active"
        assert sub.current_period_start <= int(time.time()) < sub.current_period_end
        assert sub.pending_setup_intent is None

        # WHEN the sample records usage with the v2 endpoint (no identifier: Tally makes one)
        recorded = client.v2.billing.meter_events.create(
            {"event_name": "sample_app_tokens", "payload": {"value": "25", "stripe_customer_id": customer.id}}
        )
        assert recorded.event_name == "sample_app_tokens" and recorded.identifier
        # AND the subscription is canceled at once with its final invoice, which is finalized and
        # marked paid out of band (Tally collects no payments)
        canceled = client.subscriptions.cancel(sub.id, {"invoice_now": True})
        assert canceled.status == "canceled"
        final_id = canceled.latest_invoice
        assert isinstance(final_id, str)
        final = client.invoices.retrieve(final_id)
        assert (final.billing_reason, final.status, final.total) == ("subscription_update", "draft", 100), (
            final,
            client.billing.meters.list_event_summaries(  # minute-aligned, as Stripe requires
                meter.id,
                {
                    "customer": customer.id,
                    "start_time": sub.start_date // 60 * 60,
                    "end_time": (sub.start_date // 60 + 60) * 60,
                },
            ),
            recorded,
            canceled.canceled_at,
        )
        client.invoices.finalize_invoice(final_id)
        paid = client.invoices.pay(final_id, {"paid_out_of_band": True})

        # THEN the final invoice bills the 25 tokens sent just before the cancel: 25 × 4 = 100 cents,
        # in the acacia shape the workshop app reads
        assert paid.amount_due == 100 and paid.status == "paid" and paid.paid is True
        assert paid.subscription == sub.id
        assert paid.subscription_details is not None
        (line,) = paid.lines.data
        assert (line.amount, line.quantity) == (100, 25)
        assert line.price.id == price.id and line.type == "subscription" and line.proration is False

        # AND the acacia endpoint received the final invoice's events, signed, in that shape
        got = _events(
            receiver,
            hook.secret,
            {
                ("invoice.finalized", final_id),
                ("invoice.paid", final_id),
                ("customer.subscription.deleted", sub.id),
            },
        )
        paid_event = got[("invoice.paid", final_id)]
        assert paid_event["api_version"] == ACACIA
        invoice = paid_event["data"]["object"]
        assert invoice["subscription"] == sub.id and invoice["paid"] is True
        assert "subscription_details" in invoice and "parent" not in invoice
        (event_line,) = invoice["lines"]["data"]
        assert event_line["price"]["id"] == price.id
        assert event_line["type"] == "subscription" and event_line["proration"] is False
        deleted = got[("customer.subscription.deleted", sub.id)]["data"]["object"]
        assert deleted["id"] == sub.id and "current_period_end" in deleted
    finally:
        receiver.stop()
