"""Meters: create/retrieve/list/update/deactivate/reactivate, one active meter per event_name."""

from __future__ import annotations

import support

ALPACA = {
    "display_name": "Alpaca AI tokens",
    "event_name": "alpaca_ai_tokens",
    "default_aggregation": {"formula": "sum"},
    "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
    "value_settings": {"event_payload_key": "value"},
}


def test_create_returns_stripe_shape(api):
    # GIVEN the guide's meter WHEN created
    resp = api.post("/v1/billing/meters", ALPACA)
    # THEN it has Stripe's fields and types
    assert resp.status == 200, resp.text
    meter = resp.json
    assert meter["id"].startswith("mtr_") and meter["object"] == "billing.meter"
    assert meter["status"] == "active" and meter["status_transitions"] == {"deactivated_at": None}
    assert meter["default_aggregation"] == {"formula": "sum"}
    assert meter["customer_mapping"] == {"event_payload_key": "stripe_customer_id", "type": "by_id"}
    assert meter["value_settings"] == {"event_payload_key": "value"}
    assert meter["event_time_window"] is None and isinstance(meter["created"], int)
    assert api.get(f"/v1/billing/meters/{meter['id']}").json == meter


def test_defaults_for_mapping_and_value_keys(api):
    meter = api.post(
        "/v1/billing/meters",
        {"display_name": "n", "event_name": "e1", "default_aggregation": {"formula": "count"}},
    ).json
    assert meter["customer_mapping"]["event_payload_key"] == "stripe_customer_id"
    assert meter["value_settings"]["event_payload_key"] == "value"


def test_one_active_meter_per_event_name(api):
    # GIVEN an active meter
    first = api.post("/v1/billing/meters", ALPACA).json
    # WHEN another is created with the same event_name THEN it is refused
    dup = api.post("/v1/billing/meters", ALPACA)
    support.assert_stripe_error(dup.status, dup.json, 400, code="resource_already_exists", param="event_name")
    # WHEN the first is deactivated THEN the name is free again, and reactivating the first fails
    assert api.post(f"/v1/billing/meters/{first['id']}/deactivate").json["status"] == "inactive"
    second = api.post("/v1/billing/meters", ALPACA)
    assert second.status == 200
    again = api.post(f"/v1/billing/meters/{first['id']}/reactivate")
    support.assert_stripe_error(again.status, again.json, 400, code="resource_already_exists")


def test_deactivate_and_reactivate(api):
    meter = api.post("/v1/billing/meters", ALPACA).json
    off = api.post(f"/v1/billing/meters/{meter['id']}/deactivate").json
    assert off["status"] == "inactive" and isinstance(off["status_transitions"]["deactivated_at"], int)
    twice = api.post(f"/v1/billing/meters/{meter['id']}/deactivate")
    support.assert_stripe_error(twice.status, twice.json, 400)
    on = api.post(f"/v1/billing/meters/{meter['id']}/reactivate").json
    assert on["status"] == "active" and on["status_transitions"]["deactivated_at"] is None


def test_update_changes_only_display_name(api):
    meter = api.post("/v1/billing/meters", ALPACA).json
    updated = api.post(f"/v1/billing/meters/{meter['id']}", {"display_name": "Tokens"}).json
    assert updated["display_name"] == "Tokens" and updated["event_name"] == meter["event_name"]
    bad = api.post(f"/v1/billing/meters/{meter['id']}", {"event_name": "other"})
    support.assert_stripe_error(bad.status, bad.json, 400, code="parameter_unknown", param="event_name")
    types = [e["type"] for e in support.stored_events(api.account.id)]
    assert "billing.meter.created" in types and "billing.meter.updated" in types


def test_list_filters_status(api):
    a = api.post("/v1/billing/meters", {**ALPACA, "event_name": "a"}).json
    b = api.post("/v1/billing/meters", {**ALPACA, "event_name": "b"}).json
    api.post(f"/v1/billing/meters/{a['id']}/deactivate")
    assert [m["id"] for m in api.get("/v1/billing/meters").json["data"]] == [b["id"], a["id"]]
    assert [m["id"] for m in api.get("/v1/billing/meters", {"status": "inactive"}).json["data"]] == [a["id"]]
    page = api.get("/v1/billing/meters", {"limit": 1}).json
    assert page["has_more"] is True and page["data"][0]["id"] == b["id"]


def test_other_account_cannot_see_meter(api, other_account):
    meter = api.post("/v1/billing/meters", ALPACA).json
    resp = api.as_(other_account).get(f"/v1/billing/meters/{meter['id']}")
    support.assert_stripe_error(resp.status, resp.json, 404, code="resource_missing")


def test_bad_meter_input_is_rejected_and_stores_nothing(api):
    cases = [
        ({k: v for k, v in ALPACA.items() if k != "display_name"}, "display_name"),
        ({**ALPACA, "default_aggregation": {"formula": "avg"}}, "default_aggregation[formula]"),
        ({**ALPACA, "event_name": "x" * 101}, "event_name"),
        (
            {**ALPACA, "customer_mapping": {"type": "by_email", "event_payload_key": "c"}},
            "customer_mapping[type]",
        ),
        ({**ALPACA, "event_time_window": "week"}, "event_time_window"),
        ({**ALPACA, "write_shards": "0"}, "write_shards"),
        ({**ALPACA, "write_shards": "33"}, "write_shards"),
        ({**ALPACA, "colour": "blue"}, "colour"),
        ({**ALPACA, "default_aggregation": "sum"}, "default_aggregation"),
    ]
    for data, param in cases:
        resp = api.post("/v1/billing/meters", data)
        support.assert_stripe_error(resp.status, resp.json, 400, param=param)
    assert api.get("/v1/billing/meters").json["data"] == []
