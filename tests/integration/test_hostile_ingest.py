"""Hostile input on the v1 meter-event Idempotency-Key kept on the event (issue 15, branch
`ingest`): refused requests leave nothing behind, keys do not leak across accounts."""

from __future__ import annotations

import support

EVENTS = "/v1/billing/meter_events"


def _setup(api, event_name: str) -> str:
    resp = api.post(
        "/v1/billing/meters",
        {"display_name": "H", "event_name": event_name, "default_aggregation": {"formula": "sum"}},
    )
    assert resp.status == 200, resp.text
    return api.post("/v1/customers", {"name": "H"}).json["id"]


def _total(api, customer: str, meter_name: str) -> int:
    meters = api.get("/v1/billing/meters", {"limit": 100}).json["data"]
    meter = next(m for m in meters if m["event_name"] == meter_name)
    now = support_now()
    resp = api.get(
        f"/v1/billing/meters/{meter['id']}/event_summaries",
        {
            "customer": customer,
            "start_time": now // 3600 * 3600 - 3600,
            "end_time": now // 3600 * 3600 + 7200,
        },
    )
    return sum(s["aggregated_value"] for s in resp.json["data"])


def support_now() -> int:
    import time

    return int(time.time())


def test_a_refused_event_leaves_its_key_free(api):
    # GIVEN a request refused for its value (no event stored)
    cus = _setup(api, "hostile_keys")
    bad = {"event_name": "hostile_keys", "payload": {"stripe_customer_id": cus, "value": "1.5"}}
    resp = api.post(EVENTS, bad, headers={"Idempotency-Key": "h-1"})
    support.assert_stripe_error(resp.status, resp.json, 400, param="payload[value]")
    # WHEN the corrected request is sent with the same key
    good = {"event_name": "hostile_keys", "payload": {"stripe_customer_id": cus, "value": "2"}}
    resp = api.post(EVENTS, good, headers={"Idempotency-Key": "h-1"})
    # THEN it runs (errors are not replayed) and is not a replay
    assert resp.status == 200, resp.text
    assert resp.header("Idempotent-Replayed") is None
    assert _total(api, cus, "hostile_keys") == 2


def test_the_same_key_in_another_account_is_another_request(api, other_account):
    cus = _setup(api, "hostile_acct")
    body = {"event_name": "hostile_acct", "payload": {"stripe_customer_id": cus, "value": "2"}}
    first = api.post(EVENTS, body, headers={"Idempotency-Key": "h-shared"})
    assert first.status == 200, first.text
    other = api.as_(other_account)
    other_cus = _setup(other, "hostile_acct")
    body = {"event_name": "hostile_acct", "payload": {"stripe_customer_id": other_cus, "value": "2"}}
    resp = other.post(EVENTS, body, headers={"Idempotency-Key": "h-shared"})
    assert resp.status == 200 and resp.header("Idempotent-Replayed") is None
    assert resp.json["payload"]["stripe_customer_id"] == other_cus


def test_a_used_key_with_an_invalid_body_is_refused_and_changes_nothing(api):
    # (Stripe answers idempotency_error first; Tally validates first: both 400, docs/API.md)
    cus = _setup(api, "hostile_name")
    body = {"event_name": "hostile_name", "payload": {"stripe_customer_id": cus, "value": "2"}}
    assert api.post(EVENTS, body, headers={"Idempotency-Key": "h-2"}).status == 200
    wrong = {"event_name": "no_such_meter", "payload": {"stripe_customer_id": cus, "value": "2"}}
    resp = api.post(EVENTS, wrong, headers={"Idempotency-Key": "h-2"})
    support.assert_stripe_error(resp.status, resp.json, 400, param="event_name")
    again = api.post(EVENTS, body, headers={"Idempotency-Key": "h-2"})
    assert again.status == 200 and again.header("Idempotent-Replayed") == "true"
    assert _total(api, cus, "hostile_name") == 2
