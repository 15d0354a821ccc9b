"""Issue 15 (branch `ingest`): what the usage write path costs, and the v1 Idempotency-Key kept on
the event's own item (no idempotency record: 6 write units, not 8)."""

from __future__ import annotations

import support

from tally.settings import settings
from tally.store import usage
from tally.store.aws import dynamodb

EVENTS = "/v1/billing/meter_events"


def _meter(api, event_name: str) -> dict:
    resp = api.post(
        "/v1/billing/meters",
        {"display_name": "Units", "event_name": event_name, "default_aggregation": {"formula": "sum"}},
    )
    assert resp.status == 200, resp.text
    return resp.json


def _idempotency_records() -> int:
    return dynamodb().scan(TableName=settings().idempotency_table, Select="COUNT")["Count"]


def _total(api, meter: dict, customer: str, at: int) -> int:
    resp = api.get(
        f"/v1/billing/meters/{meter['id']}/event_summaries",
        {"customer": customer, "start_time": at // 3600 * 3600 - 3600, "end_time": at // 3600 * 3600 + 7200},
    )
    assert resp.status == 200, resp.text
    return sum(s["aggregated_value"] for s in resp.json["data"])


def test_a_v1_event_with_an_idempotency_key_writes_no_idempotency_record(api, monkeypatch):
    # GIVEN a meter and a customer
    _meter(api, "keyed_units")
    cus = api.post("/v1/customers", {"name": "K"}).json["id"]
    body = {"event_name": "keyed_units", "payload": {"stripe_customer_id": cus, "value": "5"}}
    before = _idempotency_records()
    from tally.store.usage import catchup

    monkeypatch.setattr(catchup, "save", lambda *args: None)  # the checkpoint, held off
    # WHEN a v1 event is sent with an Idempotency-Key (as every Stripe SDK does)
    usage.STATS.reset()
    first = api.post(EVENTS, body, headers={"Idempotency-Key": "keyed-1"})
    assert first.status == 200, first.text
    # THEN the usage store's writes are all it writes: 3 WRU (issue 15 point 2, ≤ 3.2: the event's
    # Put, then the aggregator's hour and second items, 1 each; 6 when all three were one
    # transaction) — the stream checkpoint (1 WRU per 10 s per process) is held off here
    assert usage.STATS.write_units == 3
    assert _idempotency_records() == before
    # AND the same key and body replays the standing event
    again = api.post(EVENTS, body, headers={"Idempotency-Key": "keyed-1"})
    assert again.status == 200 and again.json == first.json
    assert again.header("Idempotent-Replayed") == "true"


def test_the_same_key_with_other_parameters_is_an_idempotency_error_and_changes_nothing(api):
    meter = _meter(api, "keyed_other")
    cus = api.post("/v1/customers", {"name": "K2"}).json["id"]
    body = {"event_name": "keyed_other", "payload": {"stripe_customer_id": cus, "value": "5"}}
    first = api.post(EVENTS, body, headers={"Idempotency-Key": "keyed-2"})
    assert first.status == 200, first.text
    other = {"event_name": "keyed_other", "payload": {"stripe_customer_id": cus, "value": "6"}}
    resp = api.post(EVENTS, other, headers={"Idempotency-Key": "keyed-2"})
    support.assert_stripe_error(resp.status, resp.json, 400)
    assert resp.json["error"]["type"] == "idempotency_error"
    assert _total(api, meter, cus, first.json["timestamp"]) == 5
    # AND another key is another event; a request without key naming the same identifier is a
    # duplicate answered with the standing event, as before
    assert api.post(EVENTS, other, headers={"Idempotency-Key": "keyed-3"}).status == 200
    assert _total(api, meter, cus, first.json["timestamp"]) == 11
