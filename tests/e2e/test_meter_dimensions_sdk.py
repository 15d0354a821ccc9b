"""Issue 14, point 1 (branch `dimensions`): with the official SDK, a meter with dimensions, events
for two models, and summaries grouped by model and filtered by region (hand-computed totals)."""

from __future__ import annotations

import time

import stripe

HOUR = 3600


def test_summaries_grouped_by_model(client: stripe.StripeClient):
    meter = client.v1.billing.meters.create(
        {
            "display_name": "Tokens",
            "event_name": "sdk_dim_tokens",
            "default_aggregation": {"formula": "sum"},
            "dimension_payload_keys": ["model", "region"],  # type: ignore[typeddict-unknown-key]
        }
    )
    assert meter["dimension_payload_keys"] == ["model", "region"]
    customer = client.v1.customers.create({"name": "AI Co"})
    base = int(time.time()) // HOUR * HOUR - 2 * HOUR
    sent = [
        ("fast", "eu", 1200, base + 5),
        ("fast", "us", 800, base + 65),
        ("deep", "eu", 300, base + HOUR + 1),
        ("deep", "eu", 45, base + HOUR + 2),
    ]
    for model, region, value, ts in sent:
        client.v1.billing.meter_events.create(
            {
                "event_name": "sdk_dim_tokens",
                "timestamp": ts,
                "payload": {
                    "stripe_customer_id": customer.id,
                    "value": str(value),
                    "model": model,
                    "region": region,
                },
            }
        )
    params = {"customer": customer.id, "start_time": base, "end_time": base + 2 * HOUR}
    grouped = client.v1.billing.meters.event_summaries.list(
        meter.id,
        {**params, "dimension_group_by_keys": ["model"]},  # type: ignore[typeddict-unknown-key]
    )
    # deep: 300 + 45 = 345; fast: 1200 + 800 = 2000
    assert [(s["dimensions"]["model"], s.aggregated_value) for s in grouped.data] == [
        ("deep", 345),
        ("fast", 2000),
    ]
    eu = client.v1.billing.meters.event_summaries.list(
        meter.id,
        {**params, "dimension_filters": {"region": "eu"}},  # type: ignore[typeddict-unknown-key]
    )
    assert [s.aggregated_value for s in eu.data] == [1545]  # 1200 + 300 + 45
    whole = client.v1.billing.meters.event_summaries.list(meter.id, params)
    assert [s.aggregated_value for s in whole.data] == [2345]
