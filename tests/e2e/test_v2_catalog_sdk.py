"""The v2 pricing-plans catalog through the official SDK's `raw_request` (the GA `stripe` package
has no typed classes for these preview objects): JSON in and out, a preview `Stripe-Version`."""

from __future__ import annotations

import json

import stripe

PREVIEW = "2026-08-12.preview"


def _call(client: stripe.StripeClient, method: str, path: str, **params) -> dict:
    response = client.raw_request(method, path, stripe_version=PREVIEW, **params)
    return json.loads(response.body)


def test_a_rate_card_and_a_plan_through_the_sdk(client: stripe.StripeClient):
    meter = client.v1.billing.meters.create(
        {
            "display_name": "Tokens",
            "event_name": "v2_catalog_tokens",
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
    version = _call(
        client,
        "post",
        f"/v2/billing/rate_cards/{card['id']}/modify_rates",
        rates_to_create=[
            {
                "metered_item": item["id"],
                "tiers": [
                    {"unit_amount": "0", "up_to_decimal": "1000"},
                    {"unit_amount": "5", "up_to_inf": "inf"},
                ],
                "tiering_mode": "graduated",
            }
        ],
    )
    assert version["object"] == "v2.billing.rate_card_version" and version["id"] == card["live_version"]
    rates = _call(client, "get", f"/v2/billing/rate_cards/{card['id']}/rates")
    assert [r["metered_item"]["id"] for r in rates["data"]] == [item["id"]]
    plan = _call(
        client,
        "post",
        "/v2/billing/pricing_plans",
        currency="usd",
        display_name="Pro",
        tax_behavior="exclusive",
    )
    component = _call(
        client,
        "post",
        f"/v2/billing/pricing_plans/{plan['id']}/components",
        type="rate_card",
        rate_card={"id": card["id"]},
    )
    assert component["rate_card"] == {"id": card["id"], "version": card["live_version"]}
    live = _call(client, "post", f"/v2/billing/pricing_plans/{plan['id']}", live_version="latest")
    assert live["live_version"] == component["pricing_plan_version"]
    try:
        _call(client, "post", "/v2/billing/rate_cards", currency="usd")
    except stripe.InvalidRequestError as exc:
        assert exc.http_status == 400
    else:  # pragma: no cover - the call must fail
        raise AssertionError("a rate card without its required fields was accepted")
