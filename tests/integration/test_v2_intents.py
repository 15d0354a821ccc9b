"""Billing intents (v2): draft → reserve (what is due now) → commit creates a pricing plan
subscription; a modify intent moves it to another version; a deactivate intent cancels it at the
billing period's end; statuses are read at the customer's test clock."""

from __future__ import annotations

import support

FROZEN = 1_767_225_600  # 2026-01-01T00:00:00Z
PLANS = "/v2/billing/pricing_plans"


def _ok(response: support.Response) -> dict:
    assert response.status == 200, response.text
    return response.json


def _world(api) -> dict:
    clock = _ok(api.post("/v1/test_helpers/test_clocks", {"frozen_time": FROZEN}))["id"]
    customer = _ok(api.post("/v1/customers", {"name": "Ada", "test_clock": clock}))["id"]
    profile = _ok(api.post("/v2/billing/profiles", json={"customer": customer}))["id"]
    cadence = _ok(
        api.post(
            "/v2/billing/cadences",
            json={
                "billing_cycle": {"type": "month", "month": {"day_of_month": 1}},
                "payer": {"billing_profile": profile},
            },
        )
    )["id"]
    item = _ok(api.post("/v2/billing/licensed_items", json={"display_name": "Platform"}))["id"]
    fee = _ok(
        api.post(
            "/v2/billing/license_fees",
            json={
                "currency": "usd",
                "display_name": "Platform fee",
                "licensed_item": item,
                "service_interval": "month",
                "service_interval_count": 1,
                "tax_behavior": "exclusive",
                "unit_amount": "2000",
            },
        )
    )
    plan = _ok(api.post(PLANS, json={"currency": "usd", "display_name": "Pro", "tax_behavior": "exclusive"}))[
        "id"
    ]
    component = _ok(
        api.post(f"{PLANS}/{plan}/components", json={"type": "license_fee", "license_fee": {"id": fee["id"]}})
    )
    _ok(api.post(f"{PLANS}/{plan}", json={"live_version": "latest"}))
    return {
        "clock": clock,
        "customer": customer,
        "cadence": cadence,
        "plan": plan,
        "fee": fee,
        "component": component,
    }


def _intent(api, w: dict, action: dict) -> dict:
    return _ok(
        api.post(
            "/v2/billing/intents", json={"currency": "usd", "cadence": w["cadence"], "actions": [action]}
        )
    )


def _subscribe(w: dict, quantity: int = 1) -> dict:
    return {
        "type": "subscribe",
        "subscribe": {
            "type": "pricing_plan_subscription_details",
            "pricing_plan_subscription_details": {
                "pricing_plan": w["plan"],
                "component_configurations": [
                    {"pricing_plan_component": w["component"]["id"], "quantity": quantity}
                ],
            },
        },
    }


def test_subscribe_reserve_commit(api):
    w = _world(api)
    draft = _intent(api, w, _subscribe(w, quantity=3))
    assert draft["object"] == "v2.billing.intent" and draft["status"] == "draft"
    assert draft["status_transitions"]["expires_at"] is not None
    reserved = _ok(api.post(f"/v2/billing/intents/{draft['id']}/reserve", json={}))
    # 3 seats × 20.00, collected on the effective date (subscribe's default)
    assert reserved["status"] == "reserved" and reserved["amount_details"]["amount_due"] == "6000"
    committed = _ok(api.post(f"/v2/billing/intents/{draft['id']}/commit", json={}))
    assert committed["status"] == "committed"
    again = api.post(f"/v2/billing/intents/{draft['id']}/commit", json={})
    support.assert_stripe_error(again.status, again.json, 400, code="invalid_status_for_commit")
    actions = _ok(api.get(f"/v2/billing/intents/{draft['id']}/actions"))["data"]
    sub_id = actions[0]["subscribe"]["pricing_plan_subscription_details"]["pricing_plan_subscription"]
    sub = _ok(api.get(f"/v2/billing/pricing_plan_subscriptions/{sub_id}"))
    assert sub["servicing_status"] == "active" and sub["billing_cadence"] == w["cadence"]
    assert sub["servicing_status_transitions"]["activated_at"] == "2026-01-01T00:00:00.000Z"
    assert sub["test_clock"] == w["clock"]
    listed = _ok(api.get("/v2/billing/pricing_plan_subscriptions", {"billing_cadence": w["cadence"]}))["data"]
    assert [s["id"] for s in listed] == [sub_id]


def test_modify_moves_a_subscriber_to_a_new_version_and_deactivate_cancels_at_period_end(api):
    w = _world(api)
    intent = _intent(api, w, _subscribe(w))
    _ok(api.post(f"/v2/billing/intents/{intent['id']}/reserve", json={}))
    _ok(api.post(f"/v2/billing/intents/{intent['id']}/commit", json={}))
    sub_id = _ok(api.get(f"/v2/billing/intents/{intent['id']}/actions"))["data"][0]["subscribe"][
        "pricing_plan_subscription_details"
    ]["pricing_plan_subscription"]
    old_version = _ok(api.get(f"/v2/billing/pricing_plan_subscriptions/{sub_id}"))["pricing_plan_version"]
    # a new plan version (a service action added) does not move the subscriber
    action = _ok(
        api.post(
            "/v2/billing/service_actions",
            json={
                "service_interval": "month",
                "service_interval_count": 1,
                "type": "credit_grant",
                "credit_grant": {
                    "name": "Monthly",
                    "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 500}},
                    "applicability_config": {"scope": {"price_type": "metered"}},
                    "expiry_config": {"type": "end_of_service_period"},
                },
            },
        )
    )
    _ok(
        api.post(
            f"{PLANS}/{w['plan']}/components",
            json={"type": "service_action", "service_action": {"id": action["id"]}},
        )
    )
    live = _ok(api.post(f"{PLANS}/{w['plan']}", json={"live_version": "latest"}))["live_version"]
    assert live != old_version
    assert (
        _ok(api.get(f"/v2/billing/pricing_plan_subscriptions/{sub_id}"))["pricing_plan_version"]
        == old_version
    )
    # a modify intent moves it
    modify = {
        "type": "modify",
        "modify": {
            "type": "pricing_plan_subscription_details",
            "pricing_plan_subscription_details": {
                "pricing_plan_subscription": sub_id,
                "new_pricing_plan_version": live,
            },
        },
    }
    m = _intent(api, w, modify)
    _ok(api.post(f"/v2/billing/intents/{m['id']}/reserve", json={}))
    _ok(api.post(f"/v2/billing/intents/{m['id']}/commit", json={}))
    assert _ok(api.get(f"/v2/billing/pricing_plan_subscriptions/{sub_id}"))["pricing_plan_version"] == live
    # deactivate at the billing period's end: will_cancel_at, still active
    deactivate = {
        "type": "deactivate",
        "deactivate": {
            "type": "pricing_plan_subscription_details",
            "effective_at": {"type": "current_billing_period_end"},
            "pricing_plan_subscription_details": {"pricing_plan_subscription": sub_id},
        },
    }
    d = _intent(api, w, deactivate)
    _ok(api.post(f"/v2/billing/intents/{d['id']}/reserve", json={}))
    _ok(api.post(f"/v2/billing/intents/{d['id']}/commit", json={}))
    sub = _ok(api.get(f"/v2/billing/pricing_plan_subscriptions/{sub_id}"))
    assert sub["servicing_status"] == "active"
    assert sub["servicing_status_transitions"]["will_cancel_at"] == "2026-02-01T00:00:00.000Z"
    support.advance_clock(api, api.functions, w["clock"], FROZEN + 32 * 86400)
    sub = _ok(api.get(f"/v2/billing/pricing_plan_subscriptions/{sub_id}"))
    assert sub["servicing_status"] == "canceled"
    assert sub["servicing_status_transitions"]["canceled_at"] == "2026-02-01T00:00:00.000Z"


def test_bad_intents_are_refused_and_change_nothing(api):
    w = _world(api)
    cases = [
        {"currency": "usd", "cadence": w["cadence"], "actions": []},
        {"currency": "eur", "cadence": w["cadence"], "actions": [_subscribe(w)]},
        {"currency": "usd", "cadence": "bc_nope", "actions": [_subscribe(w)]},
        {"currency": "usd", "actions": [_subscribe(w)]},
        {"currency": "usd", "cadence": w["cadence"], "actions": [{"type": "apply", "apply": {}}]},
        {"currency": "usd", "cadence": w["cadence"], "actions": [{"type": "subscribe"}]},
        {
            "currency": "usd",
            "cadence": w["cadence"],
            "actions": [
                {
                    "type": "subscribe",
                    "subscribe": {"pricing_plan_subscription_details": {"pricing_plan": "bpp_nope"}},
                }
            ],
        },
        {
            "currency": "usd",
            "cadence": w["cadence"],
            "actions": [
                {
                    "type": "deactivate",
                    "deactivate": {
                        "pricing_plan_subscription_details": {"pricing_plan_subscription": "bpps_nope"}
                    },
                }
            ],
        },
    ]
    for body in cases:
        response = api.post("/v2/billing/intents", json=body)
        support.assert_stripe_error(response.status, response.json, 400)
    assert _ok(api.get("/v2/billing/intents"))["data"] == []
    # a draft cannot be committed; a canceled intent cannot be reserved
    draft = _intent(api, w, _subscribe(w))
    early = api.post(f"/v2/billing/intents/{draft['id']}/commit", json={})
    support.assert_stripe_error(early.status, early.json, 400, code="invalid_status_for_commit")
    _ok(api.post(f"/v2/billing/intents/{draft['id']}/cancel", json={}))
    late = api.post(f"/v2/billing/intents/{draft['id']}/reserve", json={})
    support.assert_stripe_error(late.status, late.json, 400)
    assert _ok(api.get("/v2/billing/pricing_plan_subscriptions"))["data"] == []
