"""The calls stripe-samples' usage-based-subscriptions servers make to record usage, through the
official SDK against the local server: `client.v2.billing.meter_events.create` (their usage
route), `client.v2.billing.meter_event_adjustments.create`, and the v2 stream's expired session;
and the issue's `curl -X DELETE … -d invoice_now=true` over real HTTP.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests
import stripe

pytestmark = pytest.mark.e2e


def _total(client: stripe.StripeClient, meter: str, customer: str) -> int:
    now = int(time.time())
    summaries = client.v1.billing.meters.event_summaries.list(
        meter,
        {"customer": customer, "start_time": (now - 86400) // 60 * 60, "end_time": (now // 60 + 10) * 60},
    )
    return sum(s.aggregated_value for s in summaries.data)


def test_usage_recorded_with_v2_meter_events_is_billed_and_can_be_cancelled(
    client: stripe.StripeClient,
) -> None:
    # GIVEN what the sample app sets up: a meter, a customer, a metered price, a subscription
    meter = client.v1.billing.meters.create(
        {"display_name": "API calls", "event_name": "sdk_v2_calls", "default_aggregation": {"formula": "sum"}}
    )
    customer = client.v1.customers.create({"name": "Jenny Rosen", "email": "jenny@example.com"})
    price = client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": 5,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
            "product_data": {"name": "API calls"},
        }
    )
    client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    # WHEN usage is recorded as the sample app does (v2 meter event, no identifier or timestamp)
    first = client.v2.billing.meter_events.create(
        {"event_name": "sdk_v2_calls", "payload": {"stripe_customer_id": customer.id, "value": "25"}}
    )
    stamped = datetime.fromtimestamp(int(time.time()) - 60, UTC).isoformat().replace("+00:00", "Z")
    second = client.v2.billing.meter_events.create(
        {
            "event_name": "sdk_v2_calls",
            "payload": {"stripe_customer_id": customer.id, "value": "10"},
            "identifier": "sdk-v2-2",
            "timestamp": stamped,
        }
    )
    # THEN the SDK reads its typed v2 meter events, and the usage counts 35
    assert isinstance(first, stripe.v2.billing.MeterEvent) and first.identifier
    assert first.payload["value"] == "25" and isinstance(first.created, str)
    assert second.identifier == "sdk-v2-2" and second.timestamp.startswith(stamped[:19])
    assert _total(client, meter.id, customer.id) == 35
    # AND the same identifier again is counted once (the SDK's answer is the event that stands)
    again = client.v2.billing.meter_events.create(
        {
            "event_name": "sdk_v2_calls",
            "payload": {"stripe_customer_id": customer.id, "value": "99"},
            "identifier": "sdk-v2-2",
        }
    )
    assert again.payload["value"] == "10" and _total(client, meter.id, customer.id) == 35
    # AND a v2 adjustment cancels the second event: 25 left
    adjustment = client.v2.billing.meter_event_adjustments.create(
        {"event_name": "sdk_v2_calls", "type": "cancel", "cancel": {"identifier": "sdk-v2-2"}}
    )
    assert isinstance(adjustment, stripe.v2.billing.MeterEventAdjustment)
    assert adjustment.status == "complete" and adjustment.cancel.identifier == "sdk-v2-2" and adjustment.id
    assert _total(client, meter.id, customer.id) == 25
    # AND the preview invoice bills 25 calls at 5 cents
    preview = client.v1.invoices.create_preview({"customer": customer.id})
    assert preview.amount_due == 125


def test_v2_meter_event_errors_reach_the_sdk_as_stripe_errors(client: stripe.StripeClient) -> None:
    # GIVEN a meter and a customer
    client.v1.billing.meters.create(
        {
            "display_name": "API calls",
            "event_name": "sdk_v2_errors",
            "default_aggregation": {"formula": "sum"},
        }
    )
    customer = client.v1.customers.create({"name": "Jenny"})
    # WHEN an event breaks a rule THEN the SDK raises InvalidRequestError naming the param and code
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v2.billing.meter_events.create(
            {"event_name": "sdk_v2_errors", "payload": {"stripe_customer_id": customer.id, "value": "1.5"}}
        )
    assert raised.value.http_status == 400 and raised.value.param == "payload[value]"
    assert raised.value.code == "meter_event_invalid_value"


def test_an_expired_stream_session_raises_temporary_session_expired(local_server) -> None:
    # GIVEN a stream client whose session token is no longer valid
    streamer = stripe.StripeClient("mes_tok_" + "x" * 50, base_addresses={"meter_events": local_server.url})
    # WHEN it sends events THEN the SDK raises TemporarySessionExpiredError (the cue to open a new one)
    with pytest.raises(stripe.TemporarySessionExpiredError):
        streamer.v2.billing.meter_event_stream.create(
            {"events": [{"event_name": "x", "payload": {"stripe_customer_id": "cus_x", "value": "1"}}]}
        )


def test_curl_delete_with_a_body_cancels_with_the_final_invoice(
    client: stripe.StripeClient, local_server, e2e_key
) -> None:
    # GIVEN a subscription to 10.00 a month
    price = client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Seats"},
        }
    )
    customer = client.v1.customers.create({"name": "Jenny"})
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    # WHEN `curl -X DELETE …/subscriptions/sub_… -u sk_…: -d invoice_now=true -d prorate=true`
    response = requests.delete(
        f"{local_server.url}/v1/subscriptions/{sub.id}",
        auth=(e2e_key, ""),
        data={"invoice_now": "true", "prorate": "true"},
        timeout=30,
    )
    # THEN it is canceled with a final invoice crediting the unused month
    assert response.status_code == 200, response.text
    canceled = response.json()
    assert canceled["status"] == "canceled" and canceled["latest_invoice"] != sub.latest_invoice
    assert client.v1.invoices.retrieve(canceled["latest_invoice"]).subtotal < 0
    # AND an unknown body parameter on a DELETE is refused
    other = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    refused = requests.delete(
        f"{local_server.url}/v1/subscriptions/{other.id}",
        auth=(e2e_key, ""),
        data={"invoice_nwo": "true"},
        timeout=30,
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "invoice_nwo"
    assert client.v1.subscriptions.retrieve(other.id).status == "active"
