"""Point 8's second scenario through the official SDK (`raw_request` for the v2 preview objects):
a rate change makes a rate card version, a license fee version and a plan version; the existing
subscriber (subscribed by an intent with `cadence_data`) keeps the old prices until a `modify`
intent moves it mid-interval; the invoices before and after, on a test clock, are exact."""

from __future__ import annotations

import datetime as dt
import json
import time

import stripe

PREVIEW = "2026-08-12.preview"


def ts(m: int, d: int, h: int = 0) -> int:
    return int(dt.datetime(2031, m, d, h, tzinfo=dt.UTC).timestamp())


def _call(client: stripe.StripeClient, method: str, path: str, **params) -> dict:
    return json.loads(client.raw_request(method, path, stripe_version=PREVIEW, **params).body)


def _advance(client: stripe.StripeClient, clock_id: str, to: int) -> None:
    client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": to})
    deadline = time.monotonic() + 60
    while client.v1.test_helpers.test_clocks.retrieve(clock_id).status == "advancing":
        assert time.monotonic() < deadline, "the test clock is still advancing"
        time.sleep(0.2)


def _intent(client: stripe.StripeClient, **body) -> dict:
    intent = _call(client, "post", "/v2/billing/intents", currency="usd", **body)
    _call(client, "post", f"/v2/billing/intents/{intent['id']}/reserve")
    return _call(client, "post", f"/v2/billing/intents/{intent['id']}/commit")


def test_a_subscriber_keeps_its_price_until_a_mid_interval_modify(client: stripe.StripeClient):
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": ts(1, 1)})
    customer = client.v1.customers.create({"name": "Ada", "test_clock": clock.id})
    meter = client.v1.billing.meters.create(
        {
            "display_name": "Calls",
            "event_name": "migration_sdk_calls",
            "default_aggregation": {"formula": "sum"},
        }
    )
    item = _call(client, "post", "/v2/billing/metered_items", display_name="Calls", meter=meter.id)
    card = _call(
        client,
        "post",
        "/v2/billing/rate_cards",
        currency="usd",
        display_name="Calls",
        service_interval="month",
        service_interval_count=1,
        tax_behavior="exclusive",
    )
    _call(
        client,
        "post",
        f"/v2/billing/rate_cards/{card['id']}/rates",
        metered_item=item["id"],
        unit_amount="100",
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
    plans = "/v2/billing/pricing_plans"
    plan = _call(client, "post", plans, currency="usd", display_name="AI", tax_behavior="exclusive")
    components = [
        _call(client, "post", f"{plans}/{plan['id']}/components", type=kind, **{kind: {"id": target}})
        for kind, target in (("rate_card", card["id"]), ("license_fee", fee["id"]))
    ]
    v1 = _call(client, "post", f"{plans}/{plan['id']}", live_version="latest")["live_version"]
    profile = _call(client, "post", "/v2/billing/profiles", customer=customer.id)
    # the subscribe intent creates its cadence at commit (cadence_data) and collects January's fee
    subscribed = _intent(
        client,
        cadence_data={
            "billing_cycle": {"type": "month", "month": {"day_of_month": 1}},
            "payer": {"billing_profile": profile["id"]},
        },
        actions=[
            {
                "type": "subscribe",
                "subscribe": {
                    "type": "pricing_plan_subscription_details",
                    "pricing_plan_subscription_details": {"pricing_plan": plan["id"]},
                },
            }
        ],
    )
    cadence = subscribed["cadence"]
    assert cadence.startswith("bc_")
    actions = _call(client, "get", f"/v2/billing/intents/{subscribed['id']}/actions")["data"]
    sub = actions[0]["subscribe"]["pricing_plan_subscription_details"]["pricing_plan_subscription"]
    _advance(client, clock.id, ts(1, 12))
    client.v1.billing.meter_events.create(
        {
            "event_name": "migration_sdk_calls",
            "payload": {"stripe_customer_id": customer.id, "value": "10"},
            "timestamp": ts(1, 10),
        }
    )
    # the rate change: calls at 1.50, the fee at 50.00, pinned by a new plan version
    changed = _call(
        client,
        "post",
        f"/v2/billing/rate_cards/{card['id']}/modify_rates",
        rates_to_create=[{"metered_item": item["id"], "unit_amount": "150"}],
    )
    _call(client, "post", f"/v2/billing/license_fees/{fee['id']}", unit_amount="5000")
    fee_version = _call(client, "get", f"/v2/billing/license_fees/{fee['id']}/versions")["data"][0]["id"]
    for component in components:
        _call(client, "delete", f"{plans}/{plan['id']}/components/{component['id']}")
    _call(
        client,
        "post",
        f"{plans}/{plan['id']}/components",
        type="rate_card",
        rate_card={"id": card["id"], "version": changed["id"]},
    )
    _call(
        client,
        "post",
        f"{plans}/{plan['id']}/components",
        type="license_fee",
        license_fee={"id": fee["id"], "version": fee_version},
    )
    v2 = _call(client, "post", f"{plans}/{plan['id']}", live_version="latest")["live_version"]
    assert v2 != v1
    # before the modify: the subscriber keeps version 1, its next invoice prices calls at 1.00
    assert _call(client, "get", f"/v2/billing/pricing_plan_subscriptions/{sub}")["pricing_plan_version"] == v1
    preview = client.v1.invoices.create_preview({"billing_cadence": cadence})  # type: ignore[typeddict-unknown-key]
    assert preview.total == 1000
    # the modify, effective January 16 (prorations left to their default: prorated)
    _intent(
        client,
        cadence=cadence,
        actions=[
            {
                "type": "modify",
                "modify": {
                    "type": "pricing_plan_subscription_details",
                    "pricing_plan_subscription_details": {
                        "pricing_plan_subscription": sub,
                        "new_pricing_plan_version": v2,
                    },
                    "effective_at": {"type": "timestamp", "timestamp": "2031-01-16T00:00:00.000Z"},
                },
            }
        ],
    )
    _advance(client, clock.id, ts(1, 25))
    client.v1.billing.meter_events.create(
        {
            "event_name": "migration_sdk_calls",
            "payload": {"stripe_customer_id": customer.id, "value": "10"},
            "timestamp": ts(1, 20),
        }
    )
    _advance(client, clock.id, ts(2, 1, 2))
    # after: 10 calls × 1.00 + 10 × 1.50, −2,000 × 16/31 = −1,032, +5,000 × 16/31 = +2,581
    commit, feb = client.v1.invoices.list({"customer": customer.id}).data[::-1]
    assert commit.total == 2000
    assert sorted(line.amount for line in feb.lines.data) == [-1032, 1000, 1500, 2581]
    assert feb.total == 4049 and feb.status == "open"
    versions = {
        line.amount: line.parent.pricing_plan_subscription_details.pricing_plan_version  # type: ignore[union-attr]
        for line in feb.lines.data
    }
    assert versions == {1000: v1, -1032: v1, 1500: v2, 2581: v2}
