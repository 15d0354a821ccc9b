"""Hostile input for what point 8 and point 6 of issue 12 added: `POST /v2/billing/meter_events`,
`POST /v2/billing/meter_event_adjustments`, and parameters read from DELETE bodies and from query
strings on every method. Same rules as test_hostile_input.py (its machinery is reused): every row
gets a Stripe error envelope with a 4xx (never a 5xx) and changes nothing (the row's listing and
the account's event log are the same before and after).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import support
from test_hostile_input import (
    EVENT_NAME,
    JSON,
    MIB,
    SUMMARIES,
    Row,
    Seeds,
    Target,
    _snapshot,
    form,
    json_body,
    post_cases,
    raw,
)

pytestmark = pytest.mark.usefixtures("moto_tables")

EVENTS = "/v2/billing/meter_events"
ADJUSTMENTS = "/v2/billing/meter_event_adjustments"
EVENT = {"event_name": EVENT_NAME, "payload": {"stripe_customer_id": "{customer}", "value": "5"}}
CANCEL = {"event_name": EVENT_NAME, "type": "cancel", "cancel": {"identifier": "{event}"}}
SUB = "/v1/subscriptions/{subscription}"
TARGETS = [
    Target(EVENTS, EVENT, "event_name", SUMMARIES, form=False),
    Target(ADJUSTMENTS, CANCEL, "event_name", SUMMARIES, form=False),
]


def _event_row(name: str, change: dict[str, Any], **kwargs: Any) -> Row:
    return Row(
        f"POST {EVENTS} {name}",
        "POST",
        EVENTS,
        400,
        json_body({**EVENT, **change}),
        listing=SUMMARIES,
        **kwargs,
    )


def _payload_row(name: str, payload: Any, **kwargs: Any) -> Row:
    return _event_row(name, {"payload": payload}, **kwargs)


def _cancel_row(name: str, change: dict[str, Any], **kwargs: Any) -> Row:
    body = {k: v for k, v in {**CANCEL, **change}.items() if v is not None}
    return Row(
        f"POST {ADJUSTMENTS} {name}", "POST", ADJUSTMENTS, 400, json_body(body), listing=SUMMARIES, **kwargs
    )


CUS = "{customer}"
ROWS: list[Row] = [
    *(row for target in TARGETS for row in post_cases(target)),
    # -- v2 meter events: its own rules -------------------------------------------------------------
    _payload_row("payload as a string", "stripe_customer_id", param="payload"),
    _payload_row("payload as a list", [CUS, "5"], param="payload"),
    _payload_row("empty payload", {}, code="parameter_missing", param="payload"),
    _payload_row(
        "payload of 51 keys",
        {"stripe_customer_id": CUS, "value": "5", **{f"k{i}": "v" for i in range(49)}},
        param="payload",
    ),
    _payload_row(
        "payload value as an object", {"stripe_customer_id": CUS, "value": {"n": "5"}}, param="payload[value]"
    ),
    _payload_row(
        "payload value as a float", {"stripe_customer_id": CUS, "value": 5.5}, param="payload[value]"
    ),
    _payload_row(
        "payload value as a bool", {"stripe_customer_id": CUS, "value": True}, param="payload[value]"
    ),
    _payload_row(
        "payload value of 501 chars", {"stripe_customer_id": CUS, "value": "5" * 501}, param="payload[value]"
    ),
    _payload_row("payload key of 101 chars", {"stripe_customer_id": CUS, "value": "5", "k" * 101: "v"}),
    _payload_row("empty payload key", {"stripe_customer_id": CUS, "value": "5", "": "v"}),
    _payload_row(
        "value 10^16", {"stripe_customer_id": CUS, "value": "1" + "0" * 16}, code="meter_event_invalid_value"
    ),
    _payload_row(
        "value in exponent form",
        {"stripe_customer_id": CUS, "value": "1e3"},
        code="meter_event_invalid_value",
    ),
    _payload_row(
        "value of 5000 digits", {"stripe_customer_id": CUS, "value": "9" * 5000}, param="payload[value]"
    ),
    _payload_row("over-long customer id", {"stripe_customer_id": "c" * 3000, "value": "5"}),
    _event_row("event_name of 101 chars", {"event_name": "e" * 101}, param="event_name"),
    _event_row("empty event_name", {"event_name": ""}, param="event_name"),
    _event_row("identifier of 101 chars", {"identifier": "i" * 101}, param="identifier"),
    _event_row("identifier as a hash", {"identifier": {"n": 1}}, param="identifier"),
    _event_row("timestamp as unix seconds", {"timestamp": 1_700_000_000}, param="timestamp"),
    _event_row("timestamp without a zone", {"timestamp": "2030-01-01T00:00:00"}, param="timestamp"),
    _event_row("timestamp in year 9999", {"timestamp": "9999-12-31T23:59:59Z"}, code="timestamp_in_future"),
    _event_row(
        "timestamp in year 1", {"timestamp": "0001-01-01T00:00:00Z"}, code="timestamp_too_far_in_past"
    ),
    _event_row(
        "timestamp of 100 chars", {"timestamp": "2030-01-01T00:00:00" + "0" * 80 + "Z"}, param="timestamp"
    ),
    _event_row("timestamp as a hash", {"timestamp": {"seconds": 1}}, param="timestamp"),
    _event_row("events of the stream", {"events": [EVENT]}, code="parameter_unknown", param="events"),
    _event_row("expand (v2 has none)", {"expand": ["payload"]}, code="parameter_unknown", param="expand"),
    Row(
        f"POST {EVENTS} unknown param in the query",
        "POST",
        EVENTS,
        400,
        json_body(EVENT),
        query="nope=1",
        code="parameter_unknown",
        param="nope",
        listing=SUMMARIES,
    ),
    Row(
        f"POST {EVENTS} a param in the query and the body",
        "POST",
        EVENTS,
        400,
        json_body(EVENT),
        query="event_name=" + EVENT_NAME,
        param="event_name",
        listing=SUMMARIES,
    ),
    Row(
        f"POST {EVENTS} with a session token",
        "POST",
        EVENTS,
        401,
        json_body(EVENT),
        headers={"Authorization": "Bearer {session_token}"},
        listing=SUMMARIES,
    ),
    Row(
        f"POST {EVENTS} with a forged session token",
        "POST",
        EVENTS,
        401,
        json_body(EVENT),
        headers={"Authorization": "Bearer mes_tok_" + "x" * 40},
        listing=SUMMARIES,
    ),
    # -- v2 adjustments -------------------------------------------------------------------------------
    _cancel_row("without type", {"type": None}, code="parameter_missing", param="type"),
    _cancel_row("type replace", {"type": "replace"}, param="type"),
    _cancel_row("cancel as a string", {"cancel": "{event}"}, param="cancel"),
    _cancel_row("cancel as a list", {"cancel": ["{event}"]}, param="cancel"),
    _cancel_row("identifier of 101 chars", {"cancel": {"identifier": "i" * 101}}, param="cancel[identifier]"),
    _cancel_row("identifier as a hash", {"cancel": {"identifier": {"x": "1"}}}, param="cancel[identifier]"),
    _cancel_row("unknown identifier", {"cancel": {"identifier": "never-sent"}}, param="cancel[identifier]"),
    _cancel_row(
        "unknown event_name", {"event_name": "no_such_meter"}, code="resource_missing", param="event_name"
    ),
    _cancel_row(
        "unknown param in cancel",
        {"cancel": {"identifier": "{event}", "x": "1"}},
        code="parameter_unknown",
        param="cancel[x]",
    ),
    # -- DELETE bodies and query strings ---------------------------------------------------------------
    Row(
        "DELETE subscription unknown body param",
        "DELETE",
        SUB,
        400,
        form({"invoice_now": "true", "nope": "1"}),
        code="parameter_unknown",
        param="nope",
        listing="/v1/subscriptions",
    ),
    Row(
        "DELETE subscription unknown query param",
        "DELETE",
        SUB,
        400,
        query="nope=1",
        code="parameter_unknown",
        param="nope",
        listing="/v1/subscriptions",
    ),
    Row(
        "DELETE subscription invoice_now not a boolean",
        "DELETE",
        SUB,
        400,
        form({"invoice_now": "yes"}),
        code="parameter_invalid_boolean",
        param="invoice_now",
        listing="/v1/subscriptions",
    ),
    Row(
        "DELETE subscription prorate without invoice_now",
        "DELETE",
        SUB,
        400,
        form({"prorate": "true"}),
        param="prorate",
        listing="/v1/subscriptions",
    ),
    Row(
        "DELETE subscription invoice_now in body and query",
        "DELETE",
        SUB,
        400,
        form({"invoice_now": "true"}),
        query="invoice_now=true",
        param="invoice_now",
        listing="/v1/subscriptions",
    ),
    Row(
        "DELETE subscription body over 1 MiB",
        "DELETE",
        SUB,
        413,
        form({"invoice_now": "true", "pad": "a" * MIB}),
        listing="/v1/subscriptions",
    ),
    Row(
        "DELETE subscription body of invalid UTF-8",
        "DELETE",
        SUB,
        400,
        raw(b"invoice_now=\xff\xfe"),
        listing="/v1/subscriptions",
    ),
    Row(
        "DELETE subscription JSON array body",
        "DELETE",
        SUB,
        400,
        raw(b"[1]", JSON),
        listing="/v1/subscriptions",
    ),
    Row(
        "DELETE subscription body nested too deep",
        "DELETE",
        SUB,
        400,
        raw(b"deep" + b"[k]" * 10 + b"=v"),
        listing="/v1/subscriptions",
    ),
    Row(
        "DELETE subscription expand of nonsense",
        "DELETE",
        SUB,
        400,
        form({"expand": ["nonsense"]}),
        param="expand[0]",
        listing="/v1/subscriptions",
    ),
    Row(
        "DELETE customer unknown body param",
        "DELETE",
        "/v1/customers/{customer}",
        400,
        form({"nope": "1"}),
        code="parameter_unknown",
        param="nope",
        listing="/v1/customers",
    ),
    Row(
        "DELETE customer 10k params",
        "DELETE",
        "/v1/customers/{customer}",
        400,
        raw("&".join(f"p{i}=1" for i in range(10_000)).encode()),
        listing="/v1/customers",
    ),
    Row(
        "DELETE clock unknown body param",
        "DELETE",
        "/v1/test_helpers/test_clocks/{test_clock}",
        400,
        form({"nope": "1"}),
        code="parameter_unknown",
        param="nope",
        listing="/v1/test_helpers/test_clocks",
    ),
    Row(
        "GET list unknown param in a body",
        "GET",
        "/v1/customers",
        400,
        form({"nope": "1"}),
        code="parameter_unknown",
        param="nope",
    ),
    Row(
        "GET list limit in query and body",
        "GET",
        "/v1/customers",
        400,
        form({"limit": "3"}),
        query="limit=3",
        param="limit",
    ),
    Row(
        "POST unknown param in the query",
        "POST",
        "/v1/customers",
        400,
        form({"name": "x"}),
        query="nope=1",
        code="parameter_unknown",
        param="nope",
    ),
    Row(
        "POST webhook endpoint with connect=true (read, not ignored)",
        "POST",
        "/v1/webhook_endpoints",
        400,
        form({"url": "https://hooks.example.com/c", "enabled_events": ["*"], "connect": "true"}),
        code="parameter_invalid",
        param="connect",
        listing="/v1/webhook_endpoints",
    ),
    Row(
        "POST finalize expand of nonsense",
        "POST",
        "/v1/invoices/{invoice}/finalize",
        400,
        form({"expand": ["customer.nonsense"]}),
        param="expand[0]",
        listing="/v1/invoices",
    ),
    Row(
        "POST subscription update expand 21 paths",
        "POST",
        SUB,
        400,
        form({"expand": ["customer"] * 21}),
        param="expand",
        listing="/v1/subscriptions",
    ),
    Row(
        "POST subscription update expand 5 levels",
        "POST",
        SUB,
        400,
        form({"expand": ["a.b.c.d.e"]}),
        param="expand[0]",
        listing="/v1/subscriptions",
    ),
    Row(
        "GET clock list expand without data.",
        "GET",
        "/v1/test_helpers/test_clocks",
        400,
        query="expand[]=customer",
        param="expand[0]",
        listing="/v1/test_helpers/test_clocks",
    ),
]


def _session_token(api: support.Api, get: Any) -> str:
    return api.post("/v2/billing/meter_event_session", json={}).json["authentication_token"]


class _Seeds(Seeds):
    """test_hostile_input's seeds, plus a meter event session token."""

    def fill(self, value: Any) -> Any:
        if isinstance(value, str) and "{session_token}" in value:
            if "session_token" not in self.values:
                self.values["session_token"] = _session_token(self.api, self.get)
            value = value.replace("{session_token}", self.values["session_token"])
        return super().fill(value)


@pytest.fixture(scope="module")
def shared(functions) -> tuple[support.Api, Seeds]:
    api = support.Api(functions, support.new_account())
    return api, _Seeds(api)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id[:120])
def test_hostile_input_gets_a_4xx_stripe_error_and_changes_nothing(shared, row):
    # GIVEN an account, the objects the row needs, and a snapshot of what is stored
    api, seeds = shared
    path, listing, query = seeds.fill(row.path), seeds.fill(row.listing), seeds.fill(row.query)
    body, ctype = row.body(seeds.fill) if row.body else (b"", "application/x-www-form-urlencoded")
    headers = {k: seeds.fill(v) for k, v in row.headers.items()}
    before = _snapshot(api, listing)
    # WHEN the hostile request is sent
    response = api.request(row.method, path, body=body, query=query, content_type=ctype, headers=headers)
    # THEN a Stripe error envelope with the expected 4xx, and nothing stored or changed
    assert 400 <= response.status < 500, (response.status, response.text[:500])
    support.assert_stripe_error(response.status, response.json, row.status, code=row.code, param=row.param)
    assert _snapshot(api, listing) == before


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.path)
def test_each_target_request_succeeds(api, target):
    # GIVEN a target's valid request WHEN sent THEN it succeeds and its listing changes, so the
    # hostile rows fail for their hostile part only
    seeds = Seeds(api)
    path, listing = seeds.fill(target.path), seeds.fill(target.listing)
    body = json.dumps(seeds.fill(target.valid)).encode()
    before = _snapshot(api, listing)
    response = api.request("POST", path, body=body, content_type=JSON)
    assert response.status == 200, response.text
    assert _snapshot(api, listing) != before


def test_a_v2_error_always_has_a_code(api):
    # GIVEN a v2 request without a key WHEN refused THEN its error has the v2 `code`
    response = api.post(EVENTS, json={}, key=None)
    error = support.assert_stripe_error(response.status, response.json, 401)
    assert error["code"] == "unauthorized"


def test_an_expired_session_token_is_stripe_s_v2_error(api):
    # GIVEN a forged/expired session token on the stream WHEN refused THEN Stripe's v2 error, which
    # the SDKs raise as TemporarySessionExpiredError
    response = api.post("/v2/billing/meter_event_stream", json={"events": []}, key="mes_tok_" + "x" * 40)
    error = support.assert_stripe_error(response.status, response.json, 401, type="temporary_session_expired")
    assert error["code"] == "billing_meter_event_session_expired"
