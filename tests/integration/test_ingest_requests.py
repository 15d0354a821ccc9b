"""What one ingest request costs in DynamoDB requests, on the request side (issue 15, point 5):
the API key, the meter claim (with its alert watch list) and the customer are read in ONE
consistent BatchGetItem, so a single event is that read + the usage write(s)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import support

USAGE_WRITES = {"PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem"}


def _dynamo_calls(monkeypatch: pytest.MonkeyPatch, call: Any) -> tuple[Any, Counter[str], list[dict]]:
    from botocore.client import BaseClient

    seen: Counter[str] = Counter()
    params: list[dict] = []
    original = BaseClient._make_api_call

    def counted(client: Any, operation: str, api_params: Any) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            seen[operation] += 1
            params.append({"op": operation, **api_params})
        return original(client, operation, api_params)

    with monkeypatch.context() as m:
        m.setattr(BaseClient, "_make_api_call", counted)
        result = call()
    return result, seen, params


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
