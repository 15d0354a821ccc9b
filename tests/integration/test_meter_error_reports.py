"""Events the v2 stream rejects are not silent: they are counted into Stripe's meter error reports
(`v1.billing.meter.error_report_triggered`, `v1.billing.meter.no_meter_found`) in the event log,
one per meter (or unknown event name) per minute, exact under retries."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tally.store import error_reports
from tally.store.usage import write

REPORT = "v1.billing.meter.error_report_triggered"
NO_METER = "v1.billing.meter.no_meter_found"


def _rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meter(api, event_name: str) -> dict:
    resp = api.post(
        "/v1/billing/meters",
        {"display_name": event_name, "event_name": event_name, "default_aggregation": {"formula": "sum"}},
    )
    assert resp.status == 200, resp.text
    return resp.json


def _ev(name: str, customer: str, value: str, ident: str, ts: int | None = None) -> dict:
    return {
        "event_name": name,
        "identifier": ident,
        "timestamp": _rfc3339(ts or int(time.time())),
        "payload": {"stripe_customer_id": customer, "value": value},
    }


def _reports(api, type_: str = REPORT) -> list[dict]:
    resp = api.get("/v1/events", {"type": type_, "limit": 100})
    assert resp.status == 200, resp.text
    return resp.json["data"]


def _by_code(report: dict) -> dict[str, int]:
    return {t["code"]: t["error_count"] for t in report["data"]["object"]["reason"]["error_types"]}


def _bad_batch(cus: str, tag: str) -> list[dict]:
    return [
        _ev("rep_a", cus, "1", f"{tag}-ok1"),
        _ev("rep_a", cus, "x", f"{tag}-bad1"),  # meter_event_invalid_value
        _ev("rep_a", "cus_nope", "1", f"{tag}-bad2"),  # meter_event_customer_not_found
        _ev("rep_a", cus, "1.5", f"{tag}-bad3"),  # meter_event_invalid_value
        _ev("rep_b", cus, "2", f"{tag}-ok2"),
        _ev("rep_b", cus, "2", f"{tag}-bad4", ts=int(time.time()) - 40 * 86400),  # too far in the past
        _ev("rep_nobody", cus, "2", f"{tag}-bad5"),  # no meter
    ]


def test_rejected_events_are_reported_per_meter_with_counts_and_samples(api):
    # GIVEN two meters and a batch with 3 bad events (2 codes) for one and 1 for the other
    a, b = _meter(api, "rep_a"), _meter(api, "rep_b")
    cus = api.post("/v1/customers", {"name": "R"}).json["id"]
    resp = api.post("/v2/billing/meter_event_stream", json={"events": _bad_batch(cus, "r1")})
    assert resp.status == 200 and resp.json["accepted"] == 2, resp.text
    # WHEN the error reports are listed
    reports = {r["related_object"]["id"]: r for r in _reports(api)}
    # THEN there is one per meter, with counts per code and the identifiers of samples
    assert set(reports) == {a["id"], b["id"]}
    ra, rb = reports[a["id"]], reports[b["id"]]
    assert ra["type"] == REPORT and ra["object"] == "event"
    assert ra["related_object"] == {
        "id": a["id"],
        "type": "billing.meter",
        "url": f"/v1/billing/meters/{a['id']}",
    }
    assert _by_code(ra) == {"meter_event_invalid_value": 2, "meter_event_customer_not_found": 1}
    assert ra["data"]["object"]["reason"]["error_count"] == 3
    samples = {
        t["code"]: sorted(s["request"]["identifier"] for s in t["sample_errors"])
        for t in ra["data"]["object"]["reason"]["error_types"]
    }
    assert samples == {
        "meter_event_invalid_value": ["r1-bad1", "r1-bad3"],
        "meter_event_customer_not_found": ["r1-bad2"],
    }
    assert all(
        s["error_message"] for t in ra["data"]["object"]["reason"]["error_types"] for s in t["sample_errors"]
    )
    assert _by_code(rb) == {"timestamp_too_far_in_past": 1}
    assert ra["data"]["object"]["validation_end"] > ra["data"]["object"]["validation_start"]
    # AND the unknown event name is reported once as no_meter_found, without a meter
    (nm,) = _reports(api, NO_METER)
    assert nm["related_object"] is None and nm["data"]["object"]["event_name"] == "rep_nobody"
    assert _by_code(nm) == {"no_meter": 1}
    # AND the report reads back by id as listed
    assert api.get(f"/v1/events/{ra['id']}").json == ra


def test_reports_accumulate_within_the_minute_and_a_retry_counts_nothing_twice(api, monkeypatch):
    # GIVEN a meter and a customer
    a = _meter(api, "rep_a")
    _meter(api, "rep_b")
    cus = api.post("/v1/customers", {"name": "R"}).json["id"]
    # WHEN a batch is sent, then another one (other body) in the same minute
    assert api.post("/v2/billing/meter_event_stream", json={"events": _bad_batch(cus, "m1")}).status == 200
    assert api.post("/v2/billing/meter_event_stream", json={"events": _bad_batch(cus, "m2")}).status == 200
    # AND a third one fails after its rejections were counted (409), then is retried (same key)
    monkeypatch.setattr(write, "transact", lambda actions, units: [])
    monkeypatch.setattr(write.time, "sleep", lambda s: None)
    headers = {"Idempotency-Key": "rep-3"}
    first = api.post(
        "/v2/billing/meter_event_stream", json={"events": _bad_batch(cus, "m3")}, headers=headers
    )
    assert first.status == 409, first.text
    monkeypatch.undo()
    retry = api.post(
        "/v2/billing/meter_event_stream", json={"events": _bad_batch(cus, "m3")}, headers=headers
    )
    assert retry.status == 200, retry.text
    # THEN still one report per meter for the minute, counting each request's rejections once
    reports = [r for r in _reports(api) if r["related_object"]["id"] == a["id"]]
    if len(reports) == 2:  # the requests straddled a minute boundary: the windows add up
        assert (
            reports[0]["data"]["object"]["validation_start"]
            != reports[1]["data"]["object"]["validation_start"]
        )
    total = {}
    for r in reports:
        for code, n in _by_code(r).items():
            total[code] = total.get(code, 0) + n
    assert total == {"meter_event_invalid_value": 6, "meter_event_customer_not_found": 3}
    assert all(
        len(t["sample_errors"]) <= 10 for r in reports for t in r["data"]["object"]["reason"]["error_types"]
    )


@pytest.mark.parametrize("crash_at", ["transact", "append_samples", "publish"])
def test_a_crash_while_reporting_then_a_retry_counts_exactly(api, monkeypatch, crash_at):
    # GIVEN a meter, and a request whose report write dies at one of its crash points
    a = _meter(api, "rep_a")
    _meter(api, "rep_b")
    cus = api.post("/v1/customers", {"name": "R"}).json["id"]
    real = getattr(error_reports, crash_at)

    def crash(*args, **kwargs):
        if crash_at != "transact":
            real(*args, **kwargs)  # the write lands, then the Lambda dies
        raise ConnectionError("Lambda died while reporting")

    monkeypatch.setattr(error_reports, crash_at, crash)
    body = {"events": _bad_batch(cus, "c1")}
    assert api.post("/v2/billing/meter_event_stream", json=body).status == 500
    monkeypatch.undo()
    # WHEN the client retries the same request (no key: the body names the request)
    assert api.post("/v2/billing/meter_event_stream", json=body).status == 200
    # THEN the meter's report counts the request's 3 rejections once, and is listed
    (ra,) = [r for r in _reports(api) if r["related_object"]["id"] == a["id"]]
    assert _by_code(ra) == {"meter_event_invalid_value": 2, "meter_event_customer_not_found": 1}
