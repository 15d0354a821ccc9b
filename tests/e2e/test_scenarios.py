"""Tiered and hybrid billing end to end, through the official `stripe` SDK and the local server.

Amounts are hand-computed in the comments.
"""

from __future__ import annotations

import pytest
import stripe

pytestmark = pytest.mark.e2e


def _meter(client: stripe.StripeClient, event_name: str) -> stripe.billing.Meter:
    return client.v1.billing.meters.create(
        {"display_name": event_name, "event_name": event_name, "default_aggregation": {"formula": "sum"}}
    )


def test_graduated_tiers_with_usage_sent_through_a_v2_session(client, local_server):
    # GIVEN API calls priced in graduated tiers: first 1,000 free with a 10.00 USD platform fee,
    # then 0.5 cent each up to 10,000, then 0.25 cent each
    meter = _meter(client, "api_calls")
    price = client.v1.prices.create(
        {
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [
                {"up_to": 1000, "unit_amount": 0, "flat_amount": 1000},
                {"up_to": 10000, "unit_amount_decimal": "0.5"},
                {"up_to": "inf", "unit_amount_decimal": "0.25"},
            ],
            "recurring": {"usage_type": "metered", "interval": "month", "meter": meter.id},
            "product_data": {"name": "API calls"},
        }
    )
    customer = client.v1.customers.create({"name": "Tiered Co"})
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    # WHEN 12,000 calls arrive through a meter event session (the SDK's high-volume path), and the
    # same batch is sent again (a retry after a lost response)
    session = client.v2.billing.meter_event_session.create()
    streamer = stripe.StripeClient(
        session.authentication_token, base_addresses={"meter_events": local_server.url}, max_network_retries=2
    )
    events = [
        {
            "event_name": "api_calls",
            "identifier": f"calls-{i}",
            "payload": {"stripe_customer_id": customer.id, "value": value},
        }
        for i, value in enumerate(["5000", "5000", "2000"])
    ]
    streamer.v2.billing.meter_event_stream.create({"events": events})
    streamer.v2.billing.meter_event_stream.create({"events": events})
    # THEN 1000 (flat) + 1000 × 0 + 9000 × 0.5 + 2000 × 0.25 = 1000 + 4500 + 500 = 6000 cents
    preview = client.v1.invoices.create_preview({"subscription": sub.id})
    (line,) = preview.lines.data
    assert (line.quantity, line.amount) == (12000, 6000)
    assert preview.subtotal == preview.total == preview.amount_due == 6000


def test_hybrid_seats_in_advance_and_usage_in_arrears(client):
    # GIVEN 2 seats at 49.00 USD a month and tokens at 0.05 cent each (a 12-decimal price)
    meter = _meter(client, "hybrid_tokens")
    seats = client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": 4900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Seats"},
        }
    )
    tokens = client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount_decimal": "0.05",
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
            "product_data": {"name": "Tokens"},
        }
    )
    customer = client.v1.customers.create({"name": "Hybrid Co"})
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": seats.id, "quantity": 2}, {"price": tokens.id}]}
    )
    # WHEN 30 tokens are used in two events
    for value in ("10", "20"):
        client.v1.billing.meter_events.create(
            {"event_name": "hybrid_tokens", "payload": {"stripe_customer_id": customer.id, "value": value}}
        )
    # THEN seats: 2 × 4900 = 9800 for the next period; tokens: 30 × 0.05 = 1.5 → 2 (half-up, once)
    preview = client.v1.invoices.create_preview({"customer": customer.id})
    by_price = {line.pricing.price_details.price: line for line in preview.lines.data}
    seat_line, token_line = by_price[seats.id], by_price[tokens.id]
    assert (seat_line.quantity, seat_line.amount) == (2, 9800)
    assert (token_line.quantity, token_line.amount) == (30, 2)
    assert preview.total == 9802
    item = sub["items"].data[0]
    # seats are billed in advance (the period after the current one), usage in arrears (this one)
    assert seat_line.period.start == item.current_period_end
    assert token_line.period.start == item.current_period_start
    assert token_line.period.end == item.current_period_end
