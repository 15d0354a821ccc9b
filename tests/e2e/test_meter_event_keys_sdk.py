"""Issue 15 (branch `ingest`): with the official SDK, a v1 meter event's Idempotency-Key kept on
the event itself: the same key replays the event, the same key with other parameters is Stripe's
idempotency error."""

from __future__ import annotations

import pytest
import stripe


def test_a_v1_meter_event_key_replays_and_refuses_other_parameters(client: stripe.StripeClient):
    client.v1.billing.meters.create(
        {"display_name": "Keyed", "event_name": "sdk_keyed_units", "default_aggregation": {"formula": "sum"}}
    )
    customer = client.v1.customers.create({"name": "Keyed Co"})
    params = {"event_name": "sdk_keyed_units", "payload": {"stripe_customer_id": customer.id, "value": "3"}}
    first = client.v1.billing.meter_events.create(params, {"idempotency_key": "sdk-keyed-1"})
    again = client.v1.billing.meter_events.create(params, {"idempotency_key": "sdk-keyed-1"})
    assert again.identifier == first.identifier and again.created == first.created
    other = {"event_name": "sdk_keyed_units", "payload": {"stripe_customer_id": customer.id, "value": "4"}}
    with pytest.raises(stripe.IdempotencyError):
        client.v1.billing.meter_events.create(other, {"idempotency_key": "sdk-keyed-1"})
