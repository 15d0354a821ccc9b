"""What one ingest request costs in DynamoDB requests, on the request side (issue 15, point 5):
the API key, the meter claim (with its alert watch list) and the customer are read in ONE
consistent BatchGetItem, so a single event is that read + the usage write(s) — and no read at all
while the process keeps what it read a moment ago (`store.recent`, tests/integration/
test_ingest_cache.py). Here each request is measured as when nothing is kept (a cold process, or
one whose kept items aged out)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import support

USAGE_WRITES = {"PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem", "BatchExecuteStatement"}


def _dynamo_calls(monkeypatch: pytest.MonkeyPatch, call: Any) -> tuple[Any, Counter[str], list[dict]]:
    from tally.store import recent

    recent.clear()  # nothing kept: the request reads what it needs (the kept path: test_ingest_cache)
    # The ingest request alone: the usage aggregator the harness runs after it (branch `async`:
    # another function, fed by the usage stream) makes its own reads.
    with support.dynamodb_calls() as calls:
        result = call()
    return result, Counter(op for op, _ in calls), [{"op": op, **params} for op, params in calls]


def _setup(api: support.Api, customers: int = 1) -> list[str]:
    meter = api.post(
        "/v1/billing/meters",
        {"display_name": "Tokens", "event_name": "tokens", "default_aggregation": {"formula": "sum"}},
    )
    assert meter.status == 200, meter.text
    return [api.post("/v1/customers", {"name": f"C{i}"}).json["id"] for i in range(customers)]


def _reads(seen: Counter[str]) -> int:
    return sum(n for op, n in seen.items() if op not in USAGE_WRITES)


def _warm(api: support.Api, customer: str) -> None:
    """One event first, as a warm Lambda has seen the meter before (`_HINTS` names its watch list)."""
    body = {"event_name": "tokens", "payload": {"stripe_customer_id": customer, "value": "1"}}
    assert api.post("/v1/billing/meter_events", body).status == 200


def test_a_single_v1_event_reads_once(api: support.Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a meter and a customer
    (cus,) = _setup(api)
    _warm(api, cus)
    body = {"event_name": "tokens", "payload": {"stripe_customer_id": cus, "value": "3"}}
    # WHEN one v1 event is sent (no key cache: the key is read with the meter and the customer)
    resp, seen, params = _dynamo_calls(monkeypatch, lambda: api.post("/v1/billing/meter_events", body))
    # THEN it is accepted after ONE consistent read of key, meter claim and customer together
    assert resp.status == 200, resp.text
    assert _reads(seen) == 1, seen
    (read,) = [p for p in params if p["op"] not in USAGE_WRITES]
    assert read["op"] == "BatchGetItem"
    assert all(t.get("ConsistentRead") for t in read["RequestItems"].values())


def test_a_v1_event_with_an_idempotency_key_reads_once(
    api: support.Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    (cus,) = _setup(api)
    _warm(api, cus)
    body = {"event_name": "tokens", "payload": {"stripe_customer_id": cus, "value": "3"}}
    resp, seen, _ = _dynamo_calls(
        monkeypatch, lambda: api.post("/v1/billing/meter_events", body, headers={"Idempotency-Key": "k-1"})
    )
    assert resp.status == 200, resp.text
    assert _reads(seen) == 1, seen


def test_a_v2_event_reads_once(api: support.Api, monkeypatch: pytest.MonkeyPatch) -> None:
    (cus,) = _setup(api)
    _warm(api, cus)
    body = {"event_name": "tokens", "payload": {"stripe_customer_id": cus, "value": "3"}}
    resp, seen, _ = _dynamo_calls(monkeypatch, lambda: api.post("/v2/billing/meter_events", json=body))
    assert resp.status == 200, resp.text
    assert _reads(seen) == 1, seen


def test_a_v2_event_with_an_idempotency_key_reads_its_key_before_the_record(
    api: support.Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a v2 event sent with an Idempotency-Key (Powertools writes its record first)
    (cus,) = _setup(api)
    _warm(api, cus)
    body = {"event_name": "tokens", "payload": {"stripe_customer_id": cus, "value": "3"}}
    headers = {"Idempotency-Key": "v2-once"}
    resp, _, params = _dynamo_calls(
        monkeypatch, lambda: api.post("/v2/billing/meter_events", json=body, headers=headers)
    )
    # THEN the key is read on its own before any write, then the rest in one BatchGetItem
    assert resp.status == 200, resp.text
    ops = [p["op"] for p in params]
    assert ops.index("GetItem") < min(ops.index(w) for w in USAGE_WRITES if w in ops)
    assert ops.count("BatchGetItem") == 1, ops


def test_a_stream_batch_reads_once_whatever_its_customers(
    api: support.Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a session token and four customers
    customers = _setup(api, customers=4)
    _warm(api, customers[0])
    token = api.post("/v2/billing/meter_event_session", json={}).json["authentication_token"]
    events = [
        {"event_name": "tokens", "payload": {"stripe_customer_id": customers[i % 4], "value": "1"}}
        for i in range(100)
    ]
    # WHEN a batch of 100 events over the four customers is streamed
    resp, seen, _ = _dynamo_calls(
        monkeypatch, lambda: api.post("/v2/billing/meter_event_stream", json={"events": events}, key=token)
    )
    # THEN the session, the meter and the four customers are one read
    assert resp.status == 200, resp.text
    assert _reads(seen) == 1, seen


def test_a_meter_new_to_the_process_costs_one_more_read(
    api: support.Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a meter this process never saw (its watch list's key is not known before its claim)
    (cus,) = _setup(api)
    body = {"event_name": "tokens", "payload": {"stripe_customer_id": cus, "value": "3"}}
    resp, seen, _ = _dynamo_calls(monkeypatch, lambda: api.post("/v1/billing/meter_events", body))
    # THEN the batch read + one GetItem of its watch list
    assert resp.status == 200, resp.text
    assert _reads(seen) == 2 and seen["BatchGetItem"] == 1, seen


# -- one read, equally correct -----------------------------------------------------------------------
def _meter_id(api: support.Api) -> str:
    return api.get("/v1/billing/meters").json["data"][0]["id"]


def test_a_removed_key_is_refused_at_once_and_writes_nothing(
    api: support.Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a key that just sent an event (a warm process that has seen it)
    (cus,) = _setup(api)
    _warm(api, cus)
    # WHEN its stored hash is removed and it sends another event
    from tally.api import auth
    from tally.clock import Clock
    from tally.store.models import OBJECT_SK, ObjectItem

    ObjectItem(ObjectItem.api_key_key(api.account.id, auth.key_hash(api.key)), OBJECT_SK).delete()
    body = {"event_name": "tokens", "payload": {"stripe_customer_id": cus, "value": "5"}}
    resp, seen, _ = _dynamo_calls(monkeypatch, lambda: api.post("/v1/billing/meter_events", body))
    # THEN 401 (no cached key), and nothing was written
    support.assert_stripe_error(resp.status, resp.json, 401, type="invalid_request_error")
    assert not USAGE_WRITES & set(seen), seen
    auth.register_key(api.key, Clock.system())  # AND nothing was counted
    assert support.summed_usage(api, _meter_id(api), cus) == 1


@pytest.mark.parametrize(
    "path,body",
    [
        ("/v1/billing/meter_events", {"event_name": "tokens"}),  # no payload: a 400 for a good key
        ("/v2/billing/meter_events", {"event_name": "tokens", "payload": {}}),
        ("/v2/billing/meter_event_stream", {"events": "nope"}),
    ],
)
def test_an_unknown_key_is_a_401_before_a_bad_body(api: support.Api, path: str, body: dict) -> None:
    # GIVEN a well-formed key that is not stored, and a body a stored key would get a 400 for
    _setup(api)
    unknown = support.new_test_key()
    resp = (
        api.post(path, json=body, key=unknown)
        if path.startswith("/v2")
        else api.post(path, body, key=unknown)
    )
    # THEN the 401, as when the key was read first
    assert resp.status == 401, resp.text


def test_an_unknown_key_with_an_idempotency_key_writes_no_record(
    api: support.Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    (cus,) = _setup(api)
    body = {"event_name": "tokens", "payload": {"stripe_customer_id": cus, "value": "5"}}
    headers = {"Idempotency-Key": "x"}
    sends = [
        lambda: api.post("/v1/billing/meter_events", body, key=support.new_test_key(), headers=headers),
        lambda: api.post("/v2/billing/meter_events", json=body, key=support.new_test_key(), headers=headers),
    ]
    for send in sends:
        resp, seen, _ = _dynamo_calls(monkeypatch, send)
        assert resp.status == 401, resp.text
        assert not USAGE_WRITES & set(seen), seen
    assert support.summed_usage(api, _meter_id(api), cus) == 0


def _refused(resp: support.Response) -> None:
    support.assert_stripe_error(resp.status, resp.json, 400, code="resource_missing")


def test_a_deactivated_meter_and_a_deleted_customer_refuse_at_once(api: support.Api) -> None:
    # GIVEN two customers and a warm process (it has seen the meter)
    first, second = _setup(api, customers=2)
    _warm(api, first)
    meter_id = _meter_id(api)
    # WHEN a customer is deleted THEN its next event is refused
    assert api.delete(f"/v1/customers/{second}").status == 200
    body = {"event_name": "tokens", "payload": {"stripe_customer_id": second, "value": "2"}}
    _refused(api.post("/v1/billing/meter_events", body))
    # WHEN the meter is deactivated THEN the next event is refused
    assert api.post(f"/v1/billing/meters/{meter_id}/deactivate").status == 200
    body = {"event_name": "tokens", "payload": {"stripe_customer_id": first, "value": "2"}}
    _refused(api.post("/v1/billing/meter_events", body))
    assert support.summed_usage(api, meter_id, first) == 1


def test_a_meter_that_replaced_the_one_seen_is_read_right(
    api: support.Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a warm process that saw meter A for `tokens`, then A deactivated and B created for it
    (cus,) = _setup(api)
    _warm(api, cus)
    old = _meter_id(api)
    assert api.post(f"/v1/billing/meters/{old}/deactivate").status == 200
    new = api.post(
        "/v1/billing/meters",
        {"display_name": "B", "event_name": "tokens", "default_aggregation": {"formula": "sum"}},
    ).json["id"]
    # WHEN an event is sent
    body = {"event_name": "tokens", "payload": {"stripe_customer_id": cus, "value": "7"}}
    resp, seen, _ = _dynamo_calls(monkeypatch, lambda: api.post("/v1/billing/meter_events", body))
    # THEN it counts to B (the guess named A's watch list: one more read for B's)
    assert resp.status == 200, resp.text
    assert _reads(seen) == 2, seen
    assert support.summed_usage(api, new, cus) == 7 and support.summed_usage(api, old, cus) == 1


def test_a_customer_under_another_payload_key_is_found(api: support.Api) -> None:
    # GIVEN a meter mapping customers from `account_ref` (not the default key)
    meter = api.post(
        "/v1/billing/meters",
        {
            "display_name": "Calls",
            "event_name": "calls",
            "default_aggregation": {"formula": "count"},
            "customer_mapping": {"type": "by_id", "event_payload_key": "account_ref"},
        },
    ).json
    cus = api.post("/v1/customers", {"name": "C"}).json["id"]
    # WHEN events name the customer there (the first before the meter is known, then warm)
    for _ in range(2):
        body = {"event_name": "calls", "payload": {"account_ref": cus, "stripe_customer_id": "cus_nope"}}
        resp = api.post("/v1/billing/meter_events", body)
        assert resp.status == 200, resp.text
    assert support.summed_usage(api, meter["id"], cus) == 2
