"""Issue 14 point 8's first scenario through the official SDK (branch `actions`): an AI product
with two models priced per 1,000 tokens by dimension (graduated tiers on one), a 20.00 monthly
license fee and a 5.00 monthly service action credit, on a test clock for three months. The v2
catalog and intent go through `raw_request` (the GA `stripe` 16.1 has no v2 pricing classes),
exactly as the README's "Pricing plans" walkthrough runs them; totals by hand."""

from __future__ import annotations

import datetime as dt
import json
import time

import stripe

PREVIEW = "2026-08-12.preview"


def test_an_ai_product_with_a_monthly_service_action_credit(client: stripe.StripeClient):
    def v2(method, path, **params):
        return json.loads(client.raw_request(method, path, stripe_version=PREVIEW, **params).body)

    def at(month, day, hour=0):
        return int(dt.datetime(2031, month, day, hour, tzinfo=dt.UTC).timestamp())

    def advance(to):
        client.v1.test_helpers.test_clocks.advance(ai_clock.id, {"frozen_time": to})
        while client.v1.test_helpers.test_clocks.retrieve(ai_clock.id).status == "advancing":
            time.sleep(0.2)

    # --- the README's block, verbatim ---
    ai_clock = client.v1.test_helpers.test_clocks.create({"frozen_time": at(1, 1)})
    ai = client.v1.customers.create({"name": "Ai Lab", "test_clock": ai_clock.id})
    tokens = client.v1.billing.meters.create(
        {
            "display_name": "LLM tokens",
            "event_name": "llm_tokens",
            "default_aggregation": {"formula": "sum"},
            "dimension_payload_keys": ["model"],  # type: ignore[typeddict-unknown-key]
        }
    )
    models = {
        model: v2(
            "post",
            "/v2/billing/metered_items",
            display_name=f"Model {model}",
            meter=tokens.id,
            meter_segment_conditions=[{"dimension": "model", "value": model}],
        )["id"]
        for model in ("a", "b")
    }
    card = v2(
        "post",
        "/v2/billing/rate_cards",
        currency="usd",
        display_name="Models",
        service_interval="month",
        service_interval_count=1,
        tax_behavior="exclusive",
    )
    v2(  # model a: 2.00 per 1,000 tokens, rounded up
        "post",
        f"/v2/billing/rate_cards/{card['id']}/rates",
        metered_item=models["a"],
        unit_amount="200",
        transform_quantity={"divide_by": 1000, "round": "up"},
    )
    v2(  # model b: 1.00 per 1,000 tokens up to 100,000, then 0.50 per 1,000 (graduated)
        "post",
        f"/v2/billing/rate_cards/{card['id']}/rates",
        metered_item=models["b"],
        tiering_mode="graduated",
        tiers=[
            {"up_to_decimal": "100000", "unit_amount": "0.1"},
            {"up_to_inf": "inf", "unit_amount": "0.05"},
        ],
    )
    platform = v2("post", "/v2/billing/licensed_items", display_name="Platform")
    fee = v2(
        "post",
        "/v2/billing/license_fees",
        currency="usd",
        display_name="Platform fee",
        licensed_item=platform["id"],
        service_interval="month",
        service_interval_count=1,
        tax_behavior="exclusive",
        unit_amount="2000",
    )
    credit = v2(
        "post",
        "/v2/billing/service_actions",
        service_interval="month",
        service_interval_count=1,
        type="credit_grant",
        credit_grant={
            "name": "Monthly credit",
            "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 500}},
            "applicability_config": {"scope": {"price_type": "metered"}},
            "expiry_config": {"type": "end_of_service_period"},
        },
    )
    plan = v2(
        "post", "/v2/billing/pricing_plans", currency="usd", display_name="AI", tax_behavior="exclusive"
    )
    for kind, target in (("rate_card", card), ("license_fee", fee), ("service_action", credit)):
        v2(
            "post",
            f"/v2/billing/pricing_plans/{plan['id']}/components",
            type=kind,
            **{kind: {"id": target["id"]}},
        )
    v2("post", f"/v2/billing/pricing_plans/{plan['id']}", live_version="latest")
    profile = v2("post", "/v2/billing/profiles", customer=ai.id)
    cadence = v2(
        "post",
        "/v2/billing/cadences",
        billing_cycle={"type": "month", "month": {"day_of_month": 1}},
        payer={"billing_profile": profile["id"]},
    )
    subscribe = {
        "type": "subscribe",
        "subscribe": {
            "type": "pricing_plan_subscription_details",
            "pricing_plan_subscription_details": {"pricing_plan": plan["id"]},
        },
    }
    intent = v2("post", "/v2/billing/intents", currency="usd", cadence=cadence["id"], actions=[subscribe])
    v2("post", f"/v2/billing/intents/{intent['id']}/reserve")
    v2("post", f"/v2/billing/intents/{intent['id']}/commit")
    for month, usage in ((1, {"a": 12_345, "b": 150_000}), (2, {"a": 1_000, "b": 80_000}), (3, {"b": 3_000})):
        advance(at(month, 10))
        for model, value in usage.items():
            client.v1.billing.meter_events.create(
                {
                    "event_name": "llm_tokens",
                    "payload": {"stripe_customer_id": ai.id, "model": model, "value": str(value)},
                }
            )
    advance(at(4, 1, 2))
    printed = []
    for inv in reversed(client.v1.invoices.list({"customer": ai.id}).data):
        credits = sum(c.amount for c in inv.total_pretax_credit_amounts)
        printed.append(f"{inv.billing_reason} {inv.subtotal} {credits} {inv.total}")
    # --- end of the README's block ---

    # THEN the commit's invoice (January's fee), then each tick: the month's usage less its credit
    assert printed == [
        "subscription_create 2000 0 2000",  # January's fee, collected at commit (no credit on fees)
        "subscription_cycle 15100 500 14600",  # a: ⌈12.345⌉ × 2.00 = 26.00; b: 100.00 + 25.00
        "subscription_cycle 10200 500 9700",  # February's fee 20.00; a: 2.00; b: 80.00
        "subscription_cycle 2300 300 2000",  # March's fee 20.00; b: 3.00, covered by 3.00 of credit
    ]
    grants = client.v1.billing.credit_grants.list({"customer": ai.id}).data[::-1]
    assert [(g.effective_at, g.expires_at) for g in grants] == [
        (at(1, 1), at(2, 1)),
        (at(2, 1), at(3, 1)),
        (at(3, 1), at(4, 1)),
        (at(4, 1), at(5, 1)),
    ]
    assert all(g.amount.monetary is not None and g.amount.monetary.value == 500 for g in grants)
    # what March's grant did not cover expired after its interval's invoice
    march = client.v1.billing.credit_balance_transactions.list(
        {"customer": ai.id, "credit_grant": grants[2].id}
    ).data
    assert sorted((t.type, (t.credit or t.debit).type) for t in march) == [  # type: ignore[union-attr]
        ("credit", "credits_granted"),
        ("debit", "credits_applied"),
        ("debit", "credits_expired"),
    ]
