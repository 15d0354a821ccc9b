"""Pricing plans (v2): license fees with versioned prices, service actions, and plans whose
versions follow Stripe's rule — a rate card joins the latest version; a license fee or service
action, or removing any component, makes a new version; components pin what they name."""

from __future__ import annotations

import support

PLANS = "/v2/billing/pricing_plans"


def _ok(response: support.Response) -> dict:
    assert response.status == 200, response.text
    return response.json


def _licensed(api) -> str:
    return _ok(
        api.post("/v2/billing/licensed_items", json={"display_name": "Platform", "unit_label": "seat"})
    )["id"]


def _fee(api, item: str, amount: str = "2000", **extra) -> dict:
    body = {
        "currency": "usd",
        "display_name": "Platform fee",
        "licensed_item": item,
        "service_interval": "month",
        "service_interval_count": 1,
        "tax_behavior": "exclusive",
        "unit_amount": amount,
        **extra,
    }
    return _ok(api.post("/v2/billing/license_fees", json=body))


def _action(api, value: int = 500) -> dict:
    body = {
        "service_interval": "month",
        "service_interval_count": 1,
        "type": "credit_grant",
        "credit_grant": {
            "name": "Monthly credit",
            "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": value}},
            "applicability_config": {"scope": {"price_type": "metered"}},
            "expiry_config": {"type": "end_of_service_period"},
            "category": "promotional",
        },
    }
    return _ok(api.post("/v2/billing/service_actions", json=body))


def _card(api) -> dict:
    body = {
        "currency": "usd",
        "display_name": "Models",
        "service_interval": "month",
        "service_interval_count": 1,
        "tax_behavior": "exclusive",
    }
    return _ok(api.post("/v2/billing/rate_cards", json=body))


def _plan(api) -> dict:
    body = {"currency": "usd", "display_name": "Pro", "tax_behavior": "exclusive", "lookup_key": "pro"}
    return _ok(api.post(PLANS, json=body))


def _versions(api, plan: str) -> list[dict]:
    return _ok(api.get(f"{PLANS}/{plan}/versions"))["data"]


def _components(api, plan: str, version: str | None = None) -> list[dict]:
    query = {"pricing_plan_version": version} if version else None
    return _ok(api.get(f"{PLANS}/{plan}/components", query))["data"]


def test_a_license_fee_price_change_makes_a_version_and_live_moves_only_when_asked(api):
    fee = _fee(api, _licensed(api))
    assert fee["object"] == "v2.billing.license_fee" and fee["id"].startswith("licf_")
    assert fee["unit_amount"] == "2000" and fee["service_cycle"] == {"interval": "month", "interval_count": 1}
    assert fee["licensed_item"]["object"] == "v2.billing.licensed_item"
    first = fee["live_version"]
    # a name change makes no version
    _ok(api.post(f"/v2/billing/license_fees/{fee['id']}", json={"display_name": "Platform"}))
    assert len(_ok(api.get(f"/v2/billing/license_fees/{fee['id']}/versions"))["data"]) == 1
    # a price change does; the fee shows the latest price, the live version stays
    changed = _ok(api.post(f"/v2/billing/license_fees/{fee['id']}", json={"unit_amount": "2500"}))
    assert changed["unit_amount"] == "2500" and changed["live_version"] == first
    versions = _ok(api.get(f"/v2/billing/license_fees/{fee['id']}/versions"))["data"]
    assert [v["unit_amount"] for v in versions] == ["2500", "2000"]
    assert (
        versions[1]["license_fee_id"] == fee["id"]
        and versions[1]["object"] == "v2.billing.license_fee_version"
    )
    moved = _ok(api.post(f"/v2/billing/license_fees/{fee['id']}", json={"live_version": "latest"}))
    assert moved["live_version"] == versions[0]["id"]


def test_a_service_action_is_served_in_stripes_shape_and_only_its_name_changes(api):
    action = _action(api)
    assert action["object"] == "v2.billing.service_action" and action["id"].startswith("svca_")
    assert action["credit_grant"]["amount"] == {
        "type": "monetary",
        "monetary": {"currency": "usd", "value": 500},
    }
    assert action["credit_grant"]["expiry_config"] == {"type": "end_of_service_period"}
    assert action["credit_grant"]["priority"] == 50 and action["service_interval_count"] == 1
    renamed = _ok(
        api.post(f"/v2/billing/service_actions/{action['id']}", json={"credit_grant": {"name": "Bonus"}})
    )
    assert renamed["credit_grant"]["name"] == "Bonus"
    assert _ok(api.get(f"/v2/billing/service_actions/{action['id']}")) == renamed
    refused = api.post(
        f"/v2/billing/service_actions/{action['id']}", json={"credit_grant": {"name": "x", "priority": 1}}
    )
    support.assert_stripe_error(refused.status, refused.json, 400)


def test_plan_versions_follow_stripes_rule(api):
    # GIVEN a plan (one empty version, none live), a rate card, a license fee and a service action
    plan = _plan(api)
    assert plan["object"] == "v2.billing.pricing_plan" and plan["live_version"] is None
    v1 = _versions(api, plan["id"])
    assert len(v1) == 1 and v1[0]["end_date"] is None
    card, fee, action = _card(api), _fee(api, _licensed(api)), _action(api)
    # WHEN a rate card is added: no new version; it pins the card's live version
    rate_card = _ok(
        api.post(
            f"{PLANS}/{plan['id']}/components", json={"type": "rate_card", "rate_card": {"id": card["id"]}}
        )
    )
    assert rate_card["rate_card"] == {"id": card["id"], "version": card["live_version"]}
    assert rate_card["pricing_plan_version"] == v1[0]["id"] and len(_versions(api, plan["id"])) == 1
    # WHEN a license fee, then a service action are added: a version each
    _ok(
        api.post(
            f"{PLANS}/{plan['id']}/components", json={"type": "license_fee", "license_fee": {"id": fee["id"]}}
        )
    )
    _ok(
        api.post(
            f"{PLANS}/{plan['id']}/components",
            json={"type": "service_action", "service_action": {"id": action["id"]}},
        )
    )
    versions = _versions(api, plan["id"])
    assert len(versions) == 3 and versions[0]["end_date"] is None and versions[1]["end_date"] is not None
    assert {c["type"] for c in _components(api, plan["id"])} == {"rate_card", "license_fee", "service_action"}
    assert [c["type"] for c in _components(api, plan["id"], v1[0]["id"])] == ["rate_card"]
    # WHEN the rate card is removed: a new version without it; older versions keep it
    gone = api.delete(f"{PLANS}/{plan['id']}/components/{rate_card['id']}")
    assert gone.status == 200, gone.text
    assert len(_versions(api, plan["id"])) == 4
    assert {c["type"] for c in _components(api, plan["id"])} == {"license_fee", "service_action"}
    assert len(_components(api, plan["id"], versions[0]["id"])) == 3
    # the live version moves only when asked
    live = _ok(api.post(f"{PLANS}/{plan['id']}", json={"live_version": "latest"}))
    assert live["live_version"] == _versions(api, plan["id"])[0]["id"]
    found = _ok(api.get(PLANS, {"lookup_keys": "pro"}))["data"]
    assert [p["id"] for p in found] == [plan["id"]]


def test_components_must_match_the_plan(api):
    plan = _plan(api)["id"]
    eur = _ok(
        api.post(
            "/v2/billing/rate_cards",
            json={
                "currency": "eur",
                "display_name": "EU",
                "service_interval": "month",
                "service_interval_count": 1,
                "tax_behavior": "exclusive",
            },
        )
    )
    for body, status in [
        ({"type": "rate_card", "rate_card": {"id": eur["id"]}}, 400),
        ({"type": "rate_card", "rate_card": {"id": "rcd_nope"}}, 400),
        ({"type": "rate_card", "license_fee": {"id": "x"}}, 400),
        ({"type": "bundle"}, 400),
    ]:
        response = api.post(f"{PLANS}/{plan}/components", json=body)
        support.assert_stripe_error(response.status, response.json, status)
    card = _card(api)
    body = {"type": "rate_card", "rate_card": {"id": card["id"]}}
    _ok(api.post(f"{PLANS}/{plan}/components", json=body))
    twice = api.post(f"{PLANS}/{plan}/components", json=body)
    support.assert_stripe_error(twice.status, twice.json, 400)
    assert len(_components(api, plan)) == 1
