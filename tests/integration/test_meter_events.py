"""Meter events: Stripe's rules, exactly-once usage, the v2 stream, adjustments and summaries."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import support

HOUR = 3600


def _meter(api, formula="sum", event_name="tokens", **extra):
    resp = api.post(
        "/v1/billing/meters",
        {
            "display_name": "Tokens",
            "event_name": event_name,
            "default_aggregation": {"formula": formula},
            **extra,
        },
    )
    assert resp.status == 200, resp.text
    return resp.json


def _customer(api):
    return api.post("/v1/customers", {"name": "John Doe"}).json["id"]


def _event(api, customer, value, event_name="tokens", **extra):
    return api.post(
        "/v1/billing/meter_events",
        {"event_name": event_name, "payload": {"stripe_customer_id": customer, "value": value}, **extra},
    )


def _total(api, meter, customer, start=None, end=None, **params):
    now = int(time.time())
    start = start if start is not None else (now - 40 * 86400) // 60 * 60
    end = end if end is not None else (now // 60 + 10) * 60
    resp = api.get(
        f"/v1/billing/meters/{meter['id']}/event_summaries",
        {"customer": customer, "start_time": start, "end_time": end, **params},
    )
    assert resp.status == 200, resp.text
    return resp.json


def _rfc3339(ts):
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_v1_event_is_echoed_and_counted(api):
    # GIVEN a sum meter and a customer WHEN the guide's event (value 25) is sent
    meter, cus = _meter(api), _customer(api)
    resp = _event(api, cus, "25", identifier="id-1")
    # THEN it is echoed like Stripe's billing.meter_event, and the summary says 25
    assert resp.status == 200, resp.text
    body = resp.json
    assert body["object"] == "billing.meter_event" and body["identifier"] == "id-1"
    assert body["payload"] == {"stripe_customer_id": cus, "value": "25"}
    assert abs(body["timestamp"] - time.time()) < 10
    summary = _total(api, meter, cus)["data"]
    assert len(summary) == 1 and summary[0]["aggregated_value"] == 25
    assert summary[0]["object"] == "billing.meter_event_summary" and summary[0]["meter"] == meter["id"]


def test_duplicate_identifier_counts_once_and_names_the_standing_event(api):
    meter, cus = _meter(api), _customer(api)
    _event(api, cus, "10", identifier="same")
    again = _event(api, cus, "99", identifier="same")
    assert again.status == 200 and again.json["payload"]["value"] == "10"  # the first one stands
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 10


def test_generated_identifiers_are_unique(api):
    meter, cus = _meter(api), _customer(api)
    ids = {_event(api, cus, "1").json["identifier"] for _ in range(3)}
    assert len(ids) == 3 and _total(api, meter, cus)["data"][0]["aggregated_value"] == 3


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1.5", "meter_event_invalid_value"),
        ("abc", "meter_event_invalid_value"),
        ("", "parameter_missing"),
        ("1e3", "meter_event_invalid_value"),
        ("99999999999999999999", "meter_event_invalid_value"),
    ],
)
def test_value_must_be_a_whole_number(api, value, code):
    meter, cus = _meter(api), _customer(api)
    resp = _event(api, cus, value)
    support.assert_stripe_error(resp.status, resp.json, 400, param="payload[value]")
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 0


def test_negative_values_are_allowed(api):
    meter, cus = _meter(api), _customer(api)
    _event(api, cus, "10")
    _event(api, cus, "-15")
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == -5


@pytest.mark.parametrize("offset", [-35 * 86400 - 60, 6 * 60])
def test_timestamp_window(api, offset):
    _meter(api)
    cus = _customer(api)
    resp = _event(api, cus, "5", timestamp=int(time.time()) + offset)
    support.assert_stripe_error(resp.status, resp.json, 400, param="timestamp")
    ok = _event(api, cus, "5", timestamp=int(time.time()) - 34 * 86400)
    assert ok.status == 200


def test_unknown_meter_customer_and_missing_payload_key_are_rejected(api):
    meter, cus = _meter(api), _customer(api)
    resp = _event(api, cus, "5", event_name="nope")
    support.assert_stripe_error(resp.status, resp.json, 400, code="resource_missing", param="event_name")
    resp = _event(api, "cus_doesnotexist", "5")
    support.assert_stripe_error(resp.status, resp.json, 400, param="payload[stripe_customer_id]")
    resp = api.post("/v1/billing/meter_events", {"event_name": "tokens", "payload": {"value": "5"}})
    support.assert_stripe_error(resp.status, resp.json, 400, param="payload[stripe_customer_id]")
    resp = api.post(
        "/v1/billing/meter_events",
        {
            "event_name": "tokens",
            "payload": {"stripe_customer_id": cus, "value": "5"},
            "identifier": "x" * 101,
        },
    )
    support.assert_stripe_error(resp.status, resp.json, 400, param="identifier")
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 0


def test_inactive_meter_rejects_events(api):
    meter, cus = _meter(api), _customer(api)
    api.post(f"/v1/billing/meters/{meter['id']}/deactivate")
    resp = _event(api, cus, "5")
    support.assert_stripe_error(resp.status, resp.json, 400, param="event_name")
    api.post(f"/v1/billing/meters/{meter['id']}/reactivate")
    assert _event(api, cus, "5").status == 200


def test_another_account_cannot_use_my_meter_or_customer(api, other_account):
    meter, cus = _meter(api), _customer(api)
    theirs = api.as_(other_account)
    resp = _event(theirs, cus, "5")
    support.assert_stripe_error(resp.status, resp.json, 400)
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 0


def test_count_meter_counts_events_without_value(api):
    meter, cus = _meter(api, formula="count"), _customer(api)
    api.post("/v1/billing/meter_events", {"event_name": "tokens", "payload": {"stripe_customer_id": cus}})
    _event(api, cus, "40")
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 2


def test_last_meter_respects_event_time_not_arrival(api):
    # GIVEN a `last` meter WHEN a newer event arrives before an older one
    meter, cus = _meter(api, formula="last"), _customer(api)
    now = int(time.time())
    _event(api, cus, "7", timestamp=now - 60)
    _event(api, cus, "3", timestamp=now - 3 * HOUR)
    # THEN the value with the latest event time stands
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 7
    # and a window ending before the newer event sees the older value
    end = (now - 2 * HOUR) // 60 * 60
    assert _total(api, meter, cus, end=end)["data"][0]["aggregated_value"] == 3


def test_custom_payload_keys(api):
    meter = _meter(
        api,
        customer_mapping={"type": "by_id", "event_payload_key": "cust"},
        value_settings={"event_payload_key": "tokens"},
    )
    cus = _customer(api)
    resp = api.post(
        "/v1/billing/meter_events", {"event_name": "tokens", "payload": {"cust": cus, "tokens": "9"}}
    )
    assert resp.status == 200, resp.text
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 9


def test_write_shards_keep_totals_exact(api):
    meter, cus = _meter(api, write_shards="4"), _customer(api)
    assert meter["write_shards"] == 4
    for i in range(12):
        _event(api, cus, str(i + 1), identifier=f"s-{i}")
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 78


# -- v2 stream and sessions ----------------------------------------------------------------------
def _stream_event(cus, value, ident, ts=None, event_name="tokens"):
    return {
        "event_name": event_name,
        "identifier": ident,
        "timestamp": _rfc3339(ts or int(time.time())),
        "payload": {"stripe_customer_id": cus, "value": value},
    }


def test_stream_stores_valid_events_and_reports_the_rest(api):
    meter, cus = _meter(api), _customer(api)
    body = {
        "events": [
            _stream_event(cus, "5", "a"),
            _stream_event(cus, "x", "b"),
            _stream_event("cus_missing", "5", "c"),
            _stream_event(cus, "7", "d"),
            _stream_event(cus, "9", "a"),
        ]
    }
    resp = api.post("/v2/billing/meter_event_stream", json=body)
    assert resp.status == 200, resp.text
    result = resp.json
    assert result["accepted"] == 2
    assert [(e["index"], e["param"]) for e in result["errors"]] == [
        (1, "events[1][payload][value]"),
        (2, "events[2][payload][stripe_customer_id]"),
    ]
    assert [(d["index"], d["standing"]["payload"]["value"]) for d in result["duplicates"]] == [(4, "5")]
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 12


def test_stream_limits(api):
    _meter(api)
    cus = _customer(api)
    too_many = {"events": [_stream_event(cus, "1", f"i{i}") for i in range(101)]}
    resp = api.post("/v2/billing/meter_event_stream", json=too_many)
    support.assert_stripe_error(resp.status, resp.json, 400, param="events")
    resp = api.post("/v2/billing/meter_event_stream", json={"events": []})
    support.assert_stripe_error(resp.status, resp.json, 400, param="events")
    resp = api.post("/v2/billing/meter_event_stream", json={})
    support.assert_stripe_error(resp.status, resp.json, 400, code="parameter_missing", param="events")
    bad_ts = {"events": [{**_stream_event(cus, "1", "t"), "timestamp": "yesterday"}]}
    assert (
        api.post("/v2/billing/meter_event_stream", json=bad_ts).json["errors"][0]["param"]
        == "events[0][timestamp]"
    )


def test_session_token_authenticates_the_stream_only(api):
    meter, cus = _meter(api), _customer(api)
    session = api.post("/v2/billing/meter_event_session", json={}).json
    assert session["object"] == "v2.billing.meter_event_session"
    token = session["authentication_token"]
    assert session["expires_at"] > session["created"]
    resp = api.post(
        "/v2/billing/meter_event_stream", json={"events": [_stream_event(cus, "4", "z")]}, key=token
    )
    assert resp.status == 200 and resp.json["accepted"] == 1
    # a session token is not a secret key
    resp = api.get("/v1/customers", key=token)
    support.assert_stripe_error(resp.status, resp.json, 401)
    tampered = token[:-1] + ("X" if token[-1] != "X" else "Y")  # (a token may end in X: 1 in 62)
    resp = api.post("/v2/billing/meter_event_stream", json={"events": []}, key=tampered)
    support.assert_stripe_error(resp.status, resp.json, 401)
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 4


# -- adjustments ---------------------------------------------------------------------------------
def test_cancel_adjustment_drops_the_total(api):
    meter, cus = _meter(api), _customer(api)
    _event(api, cus, "10", identifier="keep")
    _event(api, cus, "30", identifier="drop")
    resp = api.post(
        "/v1/billing/meter_event_adjustments",
        {"event_name": "tokens", "type": "cancel", "cancel": {"identifier": "drop"}},
    )
    assert resp.status == 200, resp.text
    assert resp.json == {
        "object": "billing.meter_event_adjustment",
        "cancel": {"identifier": "drop"},
        "event_name": "tokens",
        "livemode": False,
        "status": "complete",
        "type": "cancel",
    }
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 10
    again = api.post(
        "/v1/billing/meter_event_adjustments",
        {"event_name": "tokens", "type": "cancel", "cancel": {"identifier": "drop"}},
    )
    support.assert_stripe_error(again.status, again.json, 400, param="cancel[identifier]")
    unknown = api.post(
        "/v1/billing/meter_event_adjustments",
        {"event_name": "tokens", "type": "cancel", "cancel": {"identifier": "never"}},
    )
    support.assert_stripe_error(unknown.status, unknown.json, 400, param="cancel[identifier]")
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 10


# -- summaries -----------------------------------------------------------------------------------
def test_summaries_group_by_hour_and_day_and_paginate(api):
    meter, cus = _meter(api), _customer(api)
    now = int(time.time())
    base = now // HOUR * HOUR - 30 * HOUR
    for i, (offset, value) in enumerate([(60, 1), (HOUR + 60, 2), (HOUR + 120, 3), (26 * HOUR, 4)]):
        _event(api, cus, str(value), identifier=f"h{i}", timestamp=base + offset)
    hours = _total(api, meter, cus, start=base, end=base + 27 * HOUR, value_grouping_window="hour", limit=100)
    values = {s["start_time"]: s["aggregated_value"] for s in hours["data"]}
    assert (
        len(values) == 27 and values[base] == 1 and values[base + HOUR] == 5 and values[base + 26 * HOUR] == 4
    )
    assert hours["data"][0]["start_time"] > hours["data"][-1]["start_time"]  # newest first
    page = _total(api, meter, cus, start=base, end=base + 27 * HOUR, value_grouping_window="hour", limit=5)
    assert page["has_more"] is True and len(page["data"]) == 5
    nxt = _total(
        api,
        meter,
        cus,
        start=base,
        end=base + 27 * HOUR,
        value_grouping_window="hour",
        limit=5,
        starting_after=page["data"][-1]["id"],
    )
    assert nxt["data"][0]["start_time"] == page["data"][-1]["start_time"] - HOUR
    # a partial first hour counts only the minutes inside the range
    assert (
        _total(api, meter, cus, start=base + HOUR + 120, end=base + 2 * HOUR)["data"][0]["aggregated_value"]
        == 3
    )
    days = _total(api, meter, cus, start=base, end=base + 27 * HOUR, value_grouping_window="day")
    assert sum(s["aggregated_value"] for s in days["data"]) == 10


def test_summary_input_is_checked(api):
    meter, cus = _meter(api), _customer(api)
    path = f"/v1/billing/meters/{meter['id']}/event_summaries"
    now = int(time.time()) // 60 * 60
    for params, param in [
        ({"customer": cus, "start_time": now - 30, "end_time": now}, "start_time"),
        ({"start_time": now - 60, "end_time": now}, "customer"),
        ({"customer": cus, "start_time": now, "end_time": now - 60}, "end_time"),
        ({"customer": cus, "start_time": "x", "end_time": now}, "start_time"),
        (
            {"customer": cus, "start_time": now - 60, "end_time": now, "value_grouping_window": "week"},
            "value_grouping_window",
        ),
    ]:
        resp = api.get(path, params)
        support.assert_stripe_error(resp.status, resp.json, 400, param=param)
    resp = api.get(
        "/v1/billing/meters/mtr_nope/event_summaries", {"customer": cus, "start_time": 0, "end_time": 60}
    )
    support.assert_stripe_error(resp.status, resp.json, 404)


def test_idempotency_key_replays_a_meter_event(api):
    meter, cus = _meter(api), _customer(api)
    headers = {"Idempotency-Key": "ev-1"}
    first = api.post(
        "/v1/billing/meter_events",
        {"event_name": "tokens", "payload": {"stripe_customer_id": cus, "value": "3"}},
        headers=headers,
    )
    second = api.post(
        "/v1/billing/meter_events",
        {"event_name": "tokens", "payload": {"stripe_customer_id": cus, "value": "3"}},
        headers=headers,
    )
    assert second.header("Idempotent-Replayed") == "true" and second.json == first.json
    assert _total(api, meter, cus)["data"][0]["aggregated_value"] == 3
