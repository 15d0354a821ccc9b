"""A v2 cadence's invoice through the official SDK: the catalog and intent via `raw_request` (the
GA `stripe` package has no typed classes for these preview objects), usage, the preview of the
next tick (`invoices.create_preview(billing_cadence=…)`), a test clock advanced past the tick, and
the v1 invoice it made (parent `billing_cadence_details`, lines priced by a rate card rate and a
license fee)."""

from __future__ import annotations

import datetime as dt
import json
import time

import stripe

PREVIEW = "2026-08-12.preview"
T0 = int(dt.datetime(2031, 1, 1, tzinfo=dt.UTC).timestamp())
FEB_1 = int(dt.datetime(2031, 2, 1, tzinfo=dt.UTC).timestamp())


def _call(client: stripe.StripeClient, method: str, path: str, **params) -> dict:
    return json.loads(client.raw_request(method, path, stripe_version=PREVIEW, **params).body)


def _ready(client: stripe.StripeClient, clock_id: str) -> None:
    deadline = time.monotonic() + 60
    while client.v1.test_helpers.test_clocks.retrieve(clock_id).status == "advancing":
        assert time.monotonic() < deadline, "the test clock is still advancing"
        time.sleep(0.2)


def test_a_cadence_tick_bills_a_v1_invoice(client: stripe.StripeClient):
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    customer = client.v1.customers.create({"name": "Ada", "test_clock": clock.id})
    meter = client.v1.billing.meters.create(
        {
            "display_name": "Tokens",
            "event_name": "cadence_sdk_tokens",
            "default_aggregation": {"formula": "sum"},
        }
    )
    item = _call(client, "post", "/v2/billing/metered_items", display_name="Model A", meter=meter.id)
    card = _call(
        client,
        "post",
        "/v2/billing/rate_cards",
        currency="usd",
        display_name="Models",
        service_interval="month",
        service_interval_count=1,
        tax_behavior="exclusive",
    )
    _call(
        client, "post", f"/v2/billing/rate_cards/{card['id']}/rates", metered_item=item["id"], unit_amount="3"
    )
    licensed = _call(client, "post", "/v2/billing/licensed_items", display_name="Platform")
    fee = _call(
        client,
        "post",
        "/v2/billing/license_fees",
        currency="usd",
        display_name="Platform fee",
        licensed_item=licensed["id"],
        service_interval="month",
        service_interval_count=1,
        tax_behavior="exclusive",
        unit_amount="2000",
    )
    plan = _call(
        client,
        "post",
        "/v2/billing/pricing_plans",
        currency="usd",
        display_name="AI",
        tax_behavior="exclusive",
    )
    for kind, target in (("rate_card", card["id"]), ("license_fee", fee["id"])):
        _call(
            client,
            "post",
            f"/v2/billing/pricing_plans/{plan['id']}/components",
            type=kind,
            **{kind: {"id": target}},
        )
    _call(client, "post", f"/v2/billing/pricing_plans/{plan['id']}", live_version="latest")
    profile = _call(client, "post", "/v2/billing/profiles", customer=customer.id)
    cadence = _call(
        client,
        "post",
        "/v2/billing/cadences",
        billing_cycle={"type": "month", "month": {"day_of_month": 1}},
        payer={"billing_profile": profile["id"]},
    )
    intent = _call(
        client,
        "post",
        "/v2/billing/intents",
        currency="usd",
        cadence=cadence["id"],
        actions=[
            {
                "type": "subscribe",
                "subscribe": {
                    "type": "pricing_plan_subscription_details",
                    "pricing_plan_subscription_details": {"pricing_plan": plan["id"]},
                    "collect_at": "next_billing_date",
                },
            }
        ],
    )
    _call(client, "post", f"/v2/billing/intents/{intent['id']}/reserve")
    _call(client, "post", f"/v2/billing/intents/{intent['id']}/commit")
    client.v1.billing.meter_events.create(
        {"event_name": "cadence_sdk_tokens", "payload": {"stripe_customer_id": customer.id, "value": "1000"}}
    )
    # the preview of the next tick: January's fee in advance + 1,000 tokens × 3¢ = 5,000
    preview = client.v1.invoices.create_preview({"billing_cadence": cadence["id"]})  # type: ignore[typeddict-unknown-key]
    assert preview.total == 5000 and preview.parent is not None
    assert preview.parent.type == "billing_cadence_details"
    # the clock passes the tick and its hour: the invoice is made and finalized
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": FEB_1 + 2 * 3600})
    _ready(client, clock.id)
    (invoice,) = client.v1.invoices.list({"customer": customer.id}).data
    assert invoice.total == 5000 and invoice.status == "open"
    assert invoice.parent is not None and invoice.parent.type == "billing_cadence_details"
    types = sorted(line.pricing.type for line in invoice.lines.data if line.pricing is not None)
    assert types == ["license_fee_details", "rate_card_rate_details"]
    assert {line.parent.type for line in invoice.lines.data if line.parent} == {
        "pricing_plan_subscription_details"
    }
