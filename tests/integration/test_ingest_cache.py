"""What a warm ingest process keeps of the items it read (`store.recent`, issue 15 point 5): a
single event within `TALLY_INGEST_CACHE_SECONDS` (1 s by default) of the last read of its key,
meter and customer is ONE DynamoDB request, its write; and what that keeping may and may not
change in the answers (docs/API.md, "On the meter-event routes").

"Another process" (the API Lambda, another warm ingest instance) is a write this process does not
see: made straight to the table, or with `recent.forget` switched off."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
import support
import time_machine

from tally.store import recent

USAGE_WRITES = {"PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem", "BatchExecuteStatement"}
EVENTS = "/v1/billing/meter_events"


class _Monotonic:
    """The cache's clock (`time.monotonic` as `store.recent` sees it), moved by hand."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def aged(monkeypatch: pytest.MonkeyPatch) -> _Monotonic:
    fake = _Monotonic()
    monkeypatch.setattr(recent, "time", fake)
    return fake


def _calls(call: Any) -> tuple[Any, Counter[str]]:
    with support.dynamodb_calls() as calls:
        result = call()
    return result, Counter(op for op, _ in calls)


def _reads(seen: Counter[str]) -> int:
    return sum(n for op, n in seen.items() if op not in USAGE_WRITES)


def _setup(api: support.Api, customers: int = 1) -> tuple[str, list[str]]:
    meter = api.post(
        "/v1/billing/meters",
        {"display_name": "Tokens", "event_name": "tokens", "default_aggregation": {"formula": "sum"}},
    )
    assert meter.status == 200, meter.text
    return meter.json["id"], [
        api.post("/v1/customers", {"name": f"C{i}"}).json["id"] for i in range(customers)
    ]


def _body(customer: str, value: int) -> dict[str, Any]:
    return {"event_name": "tokens", "payload": {"stripe_customer_id": customer, "value": str(value)}}


def _send(api: support.Api, customer: str, value: int) -> support.Response:
    return api.post(EVENTS, _body(customer, value))


def _warm(api: support.Api, customer: str) -> None:
    """Two events of 1, stamped two minutes ago: the first learns the meter, the second reads its
    watch list with the rest."""
    for _ in range(2):
        assert api.post(EVENTS, {**_body(customer, 1), "timestamp": int(time.time()) - 120}).status == 200


# -- one request per event ---------------------------------------------------------------------------
def test_a_warm_single_event_is_one_request_its_write(api: support.Api, aged: _Monotonic) -> None:
    # GIVEN a process that read the key, meter, watch list and customer a moment ago
    meter_id, (cus,) = _setup(api)
    _warm(api, cus)
    # WHEN one more event is sent, with and without an Idempotency-Key
    plain, seen = _calls(lambda: _send(api, cus, 3))
    keyed, seen_keyed = _calls(lambda: api.post(EVENTS, _body(cus, 4), headers={"Idempotency-Key": "once"}))
    # THEN each is its one conditional Put: no read at all
    assert plain.status == 200 and keyed.status == 200, (plain.text, keyed.text)
    assert seen == Counter({"PutItem": 1}) and seen_keyed == Counter({"PutItem": 1}), (seen, seen_keyed)
    assert support.summed_usage(api, meter_id, cus) == 1 + 1 + 3 + 4


def test_a_warm_v2_event_with_an_idempotency_key_reads_no_key_of_its_own(api: support.Api) -> None:
    # GIVEN a process that confirmed the key (on its own, before Powertools' record) a moment ago
    meter_id, (cus,) = _setup(api)
    _warm(api, cus)
    for n in range(2):
        sent = api.post("/v2/billing/meter_events", json=_body(cus, 1), headers={"Idempotency-Key": f"w{n}"})
        assert sent.status == 200, sent.text
    # WHEN one more comes with its own Idempotency-Key
    resp, seen = _calls(
        lambda: api.post("/v2/billing/meter_events", json=_body(cus, 5), headers={"Idempotency-Key": "w2"}),
    )
    # THEN nothing is read: the record's Put, the event's Put, the record's completion
    assert resp.status == 200, resp.text
    assert _reads(seen) == 0 and seen == Counter({"PutItem": 2, "UpdateItem": 1}), seen
    assert support.summed_usage(api, meter_id, cus) == 1 + 1 + 1 + 1 + 5


def test_a_warm_stream_batch_reads_nothing(api: support.Api) -> None:
    # GIVEN a session that streamed a batch over four customers a moment ago
    meter_id, customers = _setup(api, customers=4)
    _warm(api, customers[0])
    token = api.post("/v2/billing/meter_event_session", json={}).json["authentication_token"]

    def batch(n: int) -> dict[str, Any]:
        return {"events": [{**_body(customers[i % 4], 1), "identifier": f"b{n}-{i}"} for i in range(100)]}

    assert api.post("/v2/billing/meter_event_stream", json=batch(1), key=token).status == 200
    # WHEN the next batch comes
    resp, seen = _calls(lambda: api.post("/v2/billing/meter_event_stream", json=batch(2), key=token))
    # THEN its 100 events are 4 INSERT requests and nothing is read
    assert resp.status == 200, resp.text
    assert _reads(seen) == 0 and seen == Counter({"BatchExecuteStatement": 4}), seen
    assert sum(support.summed_usage(api, meter_id, c) for c in customers) == 2 + 200


def test_what_is_kept_ages_out_after_the_setting_s_seconds(api: support.Api, aged: _Monotonic) -> None:
    # GIVEN a warm process (1 s by default)
    _, (cus,) = _setup(api)
    _warm(api, cus)
    # WHEN 0.9 s pass THEN an event still reads nothing; WHEN 1 s has passed THEN it reads once
    aged.now += 0.9
    _, seen = _calls(lambda: _send(api, cus, 1))
    assert _reads(seen) == 0, seen
    aged.now += 0.1
    _, seen = _calls(lambda: _send(api, cus, 1))
    assert _reads(seen) == 1 and seen["BatchGetItem"] == 1, seen


def test_zero_seconds_keeps_nothing(api: support.Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN TALLY_INGEST_CACHE_SECONDS=0 (the strict setting)
    from tally import settings

    monkeypatch.setenv("TALLY_INGEST_CACHE_SECONDS", "0")
    settings.reset()
    try:
        _, (cus,) = _setup(api)
        _warm(api, cus)
        # THEN every event reads its key, meter and customer (one BatchGetItem)
        _, seen = _calls(lambda: _send(api, cus, 1))
        assert _reads(seen) == 1 and seen["BatchGetItem"] == 1, seen
    finally:
        monkeypatch.delenv("TALLY_INGEST_CACHE_SECONDS")
        settings.reset()


# -- what keeping may change: a removal elsewhere, within the seconds -----------------------------------
def _remove_key_elsewhere(api: support.Api) -> None:
    from tally.api import auth
    from tally.store.models import OBJECT_SK, ObjectItem

    ObjectItem(ObjectItem.api_key_key(api.account.id, auth.key_hash(api.key)), OBJECT_SK).delete()


def test_a_key_removed_elsewhere_is_refused_once_the_seconds_pass(api: support.Api, aged: _Monotonic) -> None:
    # GIVEN a warm process, and the key's stored hash removed by another process
    meter_id, (cus,) = _setup(api)
    _warm(api, cus)
    _remove_key_elsewhere(api)
    # WHEN an event comes within the second THEN it is accepted (the documented bound)
    assert _send(api, cus, 10).status == 200
    # WHEN the second has passed THEN 401, and nothing is written
    aged.now += 1.0
    resp, seen = _calls(lambda: _send(api, cus, 100))
    support.assert_stripe_error(resp.status, resp.json, 401, type="invalid_request_error")
    assert not USAGE_WRITES & set(seen), seen
    from tally.api import auth
    from tally.clock import Clock

    auth.register_key(api.key, Clock.system())
    assert support.summed_usage(api, meter_id, cus) == 1 + 1 + 10


def test_a_meter_deactivated_elsewhere_is_refused_once_the_seconds_pass(
    api: support.Api, monkeypatch: pytest.MonkeyPatch, aged: _Monotonic
) -> None:
    # GIVEN a warm process, and the meter deactivated by another process (no forget here)
    meter_id, (cus,) = _setup(api)
    _warm(api, cus)
    with monkeypatch.context() as m:
        m.setattr(recent, "forget", lambda account: None)
        assert api.post(f"/v1/billing/meters/{meter_id}/deactivate").status == 200
    assert _send(api, cus, 10).status == 200  # within the second
    aged.now += 1.0
    support.assert_stripe_error(*_status_json(_send(api, cus, 100)), 400, code="resource_missing")
    assert support.summed_usage(api, meter_id, cus) == 1 + 1 + 10


def _status_json(resp: support.Response) -> tuple[int, Any]:
    return resp.status, resp.json


# -- what keeping never changes ------------------------------------------------------------------------
def test_this_process_s_own_changes_refuse_at_once(api: support.Api, aged: _Monotonic) -> None:
    # GIVEN a warm process for two customers
    meter_id, (first, second) = _setup(api, customers=2)
    _warm(api, first)
    _warm(api, second)
    # WHEN a customer is deleted, then the meter deactivated, through this process (time stands still)
    assert api.delete(f"/v1/customers/{second}").status == 200
    support.assert_stripe_error(*_status_json(_send(api, second, 5)), 400, code="resource_missing")
    assert api.post(f"/v1/billing/meters/{meter_id}/deactivate").status == 200
    # THEN each next event is refused at once
    support.assert_stripe_error(*_status_json(_send(api, first, 5)), 400, code="resource_missing")
    assert support.summed_usage(api, meter_id, first) == 2


def test_a_meter_created_a_moment_ago_is_found_at_once(api: support.Api, aged: _Monotonic) -> None:
    # GIVEN an event refused for an event name no meter has (time stands still from here)
    _, (cus,) = _setup(api)
    _warm(api, cus)
    body = {"event_name": "calls", "payload": {"stripe_customer_id": cus}}
    support.assert_stripe_error(*_status_json(api.post(EVENTS, body)), 400, code="resource_missing")
    # WHEN a meter is created for it by ANOTHER process
    with pytest.MonkeyPatch.context() as m:
        m.setattr(recent, "forget", lambda account: None)
        meter = api.post(
            "/v1/billing/meters",
            {"display_name": "Calls", "event_name": "calls", "default_aggregation": {"formula": "count"}},
        ).json
    # THEN the next event counts (an absent claim is never kept)
    assert api.post(EVENTS, body).status == 200
    assert support.summed_usage(api, meter["id"], cus) == 1


def test_an_expired_session_token_is_refused_whatever_is_kept(api: support.Api, aged: _Monotonic) -> None:
    # GIVEN a session token that streamed a moment ago (its item kept; the cache's clock stands still)
    meter_id, (cus,) = _setup(api)
    token = api.post("/v2/billing/meter_event_session", json={}).json["authentication_token"]

    def batch(n: int) -> dict[str, Any]:
        return {"events": [{**_body(cus, 1), "identifier": f"s-{n}"}]}

    for n in range(2):
        assert api.post("/v2/billing/meter_event_stream", json=batch(n), key=token).status == 200
    # WHEN its 15 minutes have passed on the wall clock
    with time_machine.travel(time.time() + 15 * 60 + 1, tick=False):
        resp = api.post("/v2/billing/meter_event_stream", json=batch(2), key=token)
    # THEN 401, as without a cache
    support.assert_stripe_error(resp.status, resp.json, 401)
    assert support.summed_usage(api, meter_id, cus) == 2


def test_an_alert_created_elsewhere_counts_every_event_after_it(api: support.Api, aged: _Monotonic) -> None:
    """The kept watch list says "no running figures" after another process switched them on:
    the alert reads the buckets for `usage_figures.SETTLE` seconds, so nothing is missed."""
    # GIVEN a warm process whose kept watch list is "no alerts" (time stands still from here)
    meter_id, (cus,) = _setup(api)
    _warm(api, cus)
    # WHEN another process creates an alert at 100 (its first: figures switched on)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(recent, "forget", lambda account: None)
        alert = api.post(
            "/v1/billing/alerts",
            {
                "alert_type": "usage_threshold",
                "title": "Tokens",
                "usage_threshold": {"meter": meter_id, "gte": 100, "recurrence": "one_time"},
            },
        ).json
    ahead = (int(time.time()) // 60 + 2) * 60  # after the alert's creation, to the second
    # AND events of 60 then 45 come, written without the figures' mark (the kept list)
    for value in (60, 45):
        body = {**_body(cus, value), "timestamp": ahead}
        assert api.post(EVENTS, body).status == 200
    assert not _marked_with_figures(api.account.id)
    # THEN the alert fires once, at 105
    triggers = [e for e in support.stored_events(api.account.id) if e["type"] == "billing.alert.triggered"]
    assert [t["data"]["object"]["value"] for t in triggers] == [105]
    assert triggers[0]["data"]["object"]["alert"]["id"] == alert["id"]


def _marked_with_figures(account: str) -> bool:
    from tally.settings import settings
    from tally.store.aws import dynamodb
    from tally.store.usage.keys import FIGURES_MARK

    items = dynamodb().scan(TableName=settings().usage_table)["Items"]
    return any(FIGURES_MARK in i for i in items if i["pk"]["S"].startswith(f"{account}#mev#"))
