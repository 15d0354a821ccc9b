"""`POST /v2/billing/meter_events` and `POST /v2/billing/meter_event_adjustments`: Stripe's v2
shapes (JSON in and out, RFC 3339 times, the v2 error shape), authenticated with the secret key,
synchronous, and the same identifiers, dedupe and rules as the v2 stream and v1.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import stripe_shapes
import support

EVENTS = "/v2/billing/meter_events"
ADJUSTMENTS = "/v2/billing/meter_event_adjustments"
RFC3339 = "%Y-%m-%dT%H:%M:%S.000Z"


def _rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime(RFC3339)


def _seconds(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _setup(api: support.Api, event_name: str = "v2_tokens") -> tuple[dict, str]:
    meter = api.post(
        "/v1/billing/meters",
        {"display_name": "Tokens", "event_name": event_name, "default_aggregation": {"formula": "sum"}},
    ).json
    customer = api.post("/v1/customers", {"name": "Ada"}).json["id"]
    return meter, customer


def _total(api: support.Api, meter: dict, customer: str) -> int:
    now = int(time.time())
    response = api.get(
        f"/v1/billing/meters/{meter['id']}/event_summaries",
        {"customer": customer, "start_time": (now - 2 * 86400) // 60 * 60, "end_time": (now // 60 + 10) * 60},
    )
    assert response.status == 200, response.text
    return sum(s["aggregated_value"] for s in response.json["data"])


def _event(customer: str, value: str = "25", **extra) -> dict:
    return {"event_name": "v2_tokens", "payload": {"stripe_customer_id": customer, "value": value}, **extra}


def _v2_error(response: support.Response, status: int, **expected) -> dict:
    """The v2 error shape: Stripe's envelope, and a `code` on every error."""
    error = support.assert_stripe_error(response.status, response.json, status, **expected)
    assert isinstance(error.get("code"), str) and error["code"], error
    return error


# -- create ------------------------------------------------------------------------------------------
def test_v2_meter_event_is_counted_and_answered_in_the_v2_shape(api):
    # GIVEN a sum meter and a customer
    meter, customer = _setup(api)
    ts = int(time.time()) - 120
    # WHEN Stripe's v2 create is sent as the SDK sends it (JSON, RFC 3339 timestamp)
    response = api.post(EVENTS, json=_event(customer, identifier="v2-1", timestamp=_rfc3339(ts)))
    # THEN 200 with v2.billing.meter_event (RFC 3339 strings, no id), and the usage counts 25
    assert response.status == 200, response.text
    body = response.json
    assert body == {
        "object": "v2.billing.meter_event",
        "created": body["created"],
        "event_name": "v2_tokens",
        "identifier": "v2-1",
        "livemode": False,
        "payload": {"stripe_customer_id": customer, "value": "25"},
        "timestamp": _rfc3339(ts),
    }
    assert abs(_seconds(body["created"]) - time.time()) < 30
    assert stripe_shapes.problems(body) == []
    assert _total(api, meter, customer) == 25


def test_v2_meter_event_without_timestamp_is_now_and_gets_an_identifier(api):
    meter, customer = _setup(api)
    response = api.post(EVENTS, json=_event(customer, "3"))
    assert response.status == 200, response.text
    assert abs(_seconds(response.json["timestamp"]) - time.time()) < 30
    assert response.json["identifier"]
    assert _total(api, meter, customer) == 3


def test_a_v2_identifier_is_the_same_identifier_as_on_the_stream_and_v1(api):
    # GIVEN an event sent on the v2 stream with identifier "one-id"
    meter, customer = _setup(api)
    stream = api.post(
        "/v2/billing/meter_event_stream", json={"events": [_event(customer, "10", identifier="one-id")]}
    )
    assert stream.status == 200 and stream.json["accepted"] == 1, stream.text
    # WHEN the same identifier comes again through v2 meter_events (another value) and through v1
    again = api.post(EVENTS, json=_event(customer, "99", identifier="one-id"))
    v1 = api.post("/v1/billing/meter_events", _event(customer, "77", identifier="one-id"))
    # THEN both answer the event that stands (value 10), and it is counted once
    assert again.status == 200 and again.json["payload"]["value"] == "10", again.text
    assert again.json["object"] == "v2.billing.meter_event"
    assert v1.status == 200 and v1.json["payload"]["value"] == "10"
    assert _total(api, meter, customer) == 10


def test_a_retry_with_the_same_idempotency_key_counts_once_without_identifier(api):
    # GIVEN an identifier-less event sent with an Idempotency-Key (the SDK always sends one)
    meter, customer = _setup(api)
    first = api.post(EVENTS, json=_event(customer, "4"), headers={"Idempotency-Key": "k-1"})
    # WHEN the request is retried with the same key, and sent again with another key
    retry = api.post(EVENTS, json=_event(customer, "4"), headers={"Idempotency-Key": "k-1"})
    other = api.post(EVENTS, json=_event(customer, "4"), headers={"Idempotency-Key": "k-2"})
    # THEN the retry is the same event (replayed), the other key a new one: 4 + 4 = 8
    assert first.status == retry.status == other.status == 200
    assert retry.json["identifier"] == first.json["identifier"] != other.json["identifier"]
    assert _total(api, meter, customer) == 8


def test_a_crash_after_the_write_retried_without_key_counts_once(api, monkeypatch):
    # GIVEN an identifier-less event whose answer is lost after its usage was written (the store
    # wrote; the presenter crashed), sent without Idempotency-Key as a raw HTTP client would
    from tally.presenters import meter_events as presenter

    meter, customer = _setup(api)
    real = presenter.v2_meter_event
    monkeypatch.setattr(
        presenter, "v2_meter_event", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("lost"))
    )
    lost = api.post(EVENTS, json=_event(customer, "6"))
    assert lost.status == 500
    monkeypatch.setattr(presenter, "v2_meter_event", real)
    # WHEN the same body is sent again THEN it names the same derived identifier: counted once
    retry = api.post(EVENTS, json=_event(customer, "6"))
    assert retry.status == 200, retry.text
    assert _total(api, meter, customer) == 6


def test_v2_meter_event_rules_are_synchronous_v2_errors_that_store_nothing(api):
    # GIVEN a meter and a customer
    meter, customer = _setup(api)
    cases = [
        (_event("cus_missing"), "resource_missing", "payload[stripe_customer_id]"),
        (_event(customer, "1.5"), "meter_event_invalid_value", "payload[value]"),
        ({**_event(customer), "event_name": "no_such_meter"}, "resource_missing", "event_name"),
        (
            _event(customer, timestamp=_rfc3339(int(time.time()) - 36 * 86400)),
            "timestamp_too_far_in_past",
            "timestamp",
        ),
        (_event(customer, timestamp=_rfc3339(int(time.time()) + 3600)), "timestamp_in_future", "timestamp"),
        (_event(customer, timestamp=int(time.time())), "parameter_invalid", "timestamp"),
        (_event(customer, timestamp="yesterday"), "parameter_invalid", "timestamp"),
        ({"payload": {"stripe_customer_id": customer, "value": "1"}}, "parameter_missing", "event_name"),
        ({"event_name": "v2_tokens"}, "parameter_missing", "payload"),
        ({**_event(customer), "expand": ["x"]}, "parameter_unknown", "expand"),
        ({**_event(customer), "events": []}, "parameter_unknown", "events"),
    ]
    for body, code, param in cases:
        # WHEN each broken event is sent THEN a 400 in the v2 shape names the param; nothing counted
        _v2_error(api.post(EVENTS, json=body), 400, code=code, param=param)
    assert _total(api, meter, customer) == 0


def test_v2_meter_events_take_the_secret_key_not_a_session_token(api):
    # GIVEN a meter event session token (valid for the stream)
    meter, customer = _setup(api)
    token = api.post("/v2/billing/meter_event_session", json={}).json["authentication_token"]
    # WHEN it authenticates v2 meter_events and adjustments THEN 401 (they take the secret key)
    _v2_error(api.post(EVENTS, json=_event(customer), key=token), 401)
    cancel = {"event_name": "v2_tokens", "type": "cancel", "cancel": {"identifier": "x"}}
    _v2_error(api.post(ADJUSTMENTS, json=cancel, key=token), 401)
    _v2_error(api.post(EVENTS, json=_event(customer), key=None), 401)
    assert _total(api, meter, customer) == 0


def test_v2_meter_events_are_the_account_s_own(api, other_account):
    # GIVEN my meter and customer WHEN another account sends an event naming them THEN rejected
    meter, customer = _setup(api)
    _v2_error(api.as_(other_account).post(EVENTS, json=_event(customer)), 400, code="resource_missing")
    assert _total(api, meter, customer) == 0


# -- adjustments -------------------------------------------------------------------------------------
def test_v2_cancel_adjustment_drops_the_event_and_answers_the_v2_object(api):
    # GIVEN two events, 10 and 30
    meter, customer = _setup(api)
    api.post(EVENTS, json=_event(customer, "10", identifier="keep"))
    api.post(EVENTS, json=_event(customer, "30", identifier="drop"))
    # WHEN "drop" is cancelled with the v2 adjustment
    cancel = {"event_name": "v2_tokens", "type": "cancel", "cancel": {"identifier": "drop"}}
    response = api.post(ADJUSTMENTS, json=cancel)
    # THEN Stripe's v2.billing.meter_event_adjustment comes back complete, and the total is 10
    assert response.status == 200, response.text
    body = response.json
    assert body == {
        "id": body["id"],
        "object": "v2.billing.meter_event_adjustment",
        "cancel": {"identifier": "drop"},
        "created": body["created"],
        "event_name": "v2_tokens",
        "livemode": False,
        "status": "complete",
        "type": "cancel",
    }
    assert body["id"].startswith("mtr_event_adj_") and abs(_seconds(body["created"]) - time.time()) < 30
    assert stripe_shapes.problems(body) == []
    assert _total(api, meter, customer) == 10
    # AND cancelling it again, or an unknown identifier, is a v2 error that changes nothing
    _v2_error(api.post(ADJUSTMENTS, json=cancel), 400, param="cancel[identifier]")
    unknown = {**cancel, "cancel": {"identifier": "never"}}
    _v2_error(api.post(ADJUSTMENTS, json=unknown), 400, param="cancel[identifier]")
    assert _total(api, meter, customer) == 10


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"type": "cancel", "cancel": {"identifier": "x"}}, "parameter_missing", "event_name"),
        ({"event_name": "v2_tokens", "cancel": {"identifier": "x"}}, "parameter_missing", "type"),
        (
            {"event_name": "v2_tokens", "type": "replace", "cancel": {"identifier": "x"}},
            "parameter_invalid",
            "type",
        ),
        ({"event_name": "v2_tokens", "type": "cancel"}, "parameter_missing", "cancel"),
        (
            {"event_name": "v2_tokens", "type": "cancel", "cancel": {}},
            "parameter_missing",
            "cancel[identifier]",
        ),
        (
            {"event_name": "v2_tokens", "type": "cancel", "cancel": {"identifier": "x", "extra": "1"}},
            "parameter_unknown",
            "cancel[extra]",
        ),
        (
            {"event_name": "nope", "type": "cancel", "cancel": {"identifier": "x"}},
            "resource_missing",
            "event_name",
        ),
    ],
)
def test_v2_adjustment_input_is_checked(api, body, code, param):
    _setup(api)
    _v2_error(api.post(ADJUSTMENTS, json=body), 400, code=code, param=param)


def test_a_crash_after_the_cancel_is_written_never_cancels_twice(api, monkeypatch):
    # GIVEN two events (10 and 30) and a v2 cancel of the 30 whose answer is lost after the cancel
    # was written (its one crash point: the mark and the bucket's subtraction are one transaction)
    from tally.presenters import meter_events as presenter

    meter, customer = _setup(api)
    api.post(EVENTS, json=_event(customer, "10", identifier="keep"))
    api.post(EVENTS, json=_event(customer, "30", identifier="drop"))
    cancel = {"event_name": "v2_tokens", "type": "cancel", "cancel": {"identifier": "drop"}}
    real = presenter.v2_adjustment
    monkeypatch.setattr(
        presenter, "v2_adjustment", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("lost"))
    )
    assert api.post(ADJUSTMENTS, json=cancel, headers={"Idempotency-Key": "adj-1"}).status == 500
    monkeypatch.setattr(presenter, "v2_adjustment", real)
    # WHEN the client retries with the same key
    retry = api.post(ADJUSTMENTS, json=cancel, headers={"Idempotency-Key": "adj-1"})
    # THEN the event is not subtracted twice: the retry says it is already cancelled, the total is 10
    _v2_error(retry, 400, param="cancel[identifier]")
    assert "already cancelled" in retry.json["error"]["message"]
    assert _total(api, meter, customer) == 10
