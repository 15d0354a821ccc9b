"""A retried request never counts an event twice: failures injected at every transaction boundary
of a multi-transaction batch, then the client's retry (same body, same Idempotency-Key if any).

Crash points of POST /v2/billing/meter_event_stream (each usage transaction is one write):
before transaction 1, between transaction k and k+1, after the last one (the answer is lost).
A failure at any of them, then a retry, must leave every total exact.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tally.store.usage import write

HOUR = 3600


def _rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meter(api, event_name: str) -> dict:
    resp = api.post(
        "/v1/billing/meters",
        {"display_name": event_name, "event_name": event_name, "default_aggregation": {"formula": "sum"}},
    )
    assert resp.status == 200, resp.text
    return resp.json


def _total(api, meter: dict, customer: str) -> int:
    now = int(time.time())
    resp = api.get(
        f"/v1/billing/meters/{meter['id']}/event_summaries",
        {"customer": customer, "start_time": (now - 86400) // 60 * 60, "end_time": (now // 60 + 10) * 60},
    )
    assert resp.status == 200, resp.text
    return sum(s["aggregated_value"] for s in resp.json["data"])


def _fail_call(monkeypatch, k: int, how: str) -> dict:
    """Make the k-th usage transaction fail (`crash`: the Lambda dies; `busy`: a 409)."""
    real = write.transact
    calls = {"n": 0}

    def failing(actions, units):
        calls["n"] += 1
        if calls["n"] == k or (how == "busy" and calls["n"] > k):
            if how == "crash":
                raise ConnectionError("Lambda died mid-batch")
            return []  # throttled / conflicting until the request gives up (409)
        return real(actions, units)

    monkeypatch.setattr(write, "transact", failing)
    monkeypatch.setattr(write.time, "sleep", lambda s: None)
    return calls


def _count_calls(monkeypatch, send) -> int:
    real = write.transact
    calls = {"n": 0}

    def counting(actions, units):
        calls["n"] += 1
        return real(actions, units)

    monkeypatch.setattr(write, "transact", counting)
    send()
    monkeypatch.setattr(write, "transact", real)
    return calls["n"]


def test_brief_repro_100_events_second_transaction_fails_then_retry_counts_100(api, monkeypatch):
    # GIVEN 100 identifier-less events of one customer spread over two hours (two transactions)
    meter, cus = _meter(api, "repro"), api.post("/v1/customers", {"name": "R"}).json["id"]
    base = int(time.time()) // HOUR * HOUR - 3 * HOUR
    events = [
        {
            "event_name": "repro",
            "timestamp": _rfc3339(base + (i % 2) * HOUR + i),
            "payload": {"stripe_customer_id": cus, "value": "1"},
        }
        for i in range(100)
    ]
    headers = {"Idempotency-Key": "repro-1"}
    # WHEN the second transaction fails (409, safe to retry) and the client retries with the same key
    _fail_call(monkeypatch, 2, "busy")
    first = api.post("/v2/billing/meter_event_stream", json={"events": events}, headers=headers)
    assert first.status == 409, first.text
    monkeypatch.undo()
    retry = api.post("/v2/billing/meter_event_stream", json={"events": events}, headers=headers)
    # THEN every event counts once: 100, not 150
    assert retry.status == 200, retry.text
    assert _total(api, meter, cus) == 100


@pytest.mark.parametrize("with_key", [True, False], ids=["idempotency-key", "no-key"])
@pytest.mark.parametrize("with_identifiers", [True, False], ids=["identifiers", "no-identifiers"])
@pytest.mark.parametrize("how", ["crash", "busy"])
def test_a_failure_at_every_transaction_boundary_then_a_retry_counts_each_event_once(
    api, monkeypatch, with_key, with_identifiers, how
):
    # GIVEN 100 events over three meters (one transaction per meter, two bucket hours each)
    names = ["tx_a", "tx_b", "tx_c"]
    meters = {n: _meter(api, n) for n in names}
    cus = api.post("/v1/customers", {"name": "T"}).json["id"]
    base = int(time.time()) // HOUR * HOUR - 3 * HOUR

    def batch(tag: str, shift: int = 0) -> list[dict]:  # `shift`: each round's body differs
        out = []
        for i in range(100):
            event = {
                "event_name": names[i % 3],
                "timestamp": _rfc3339(base + (i % 2) * HOUR + i + shift),
                "payload": {"stripe_customer_id": cus, "value": str(i + 1)},
            }
            if with_identifiers:
                event["identifier"] = f"{tag}-{i}"
            out.append(event)
        return out

    expected = {n: sum(i + 1 for i in range(100) if i % 3 == names.index(n)) for n in names}
    # (a clean batch, counted once to learn how many transactions a batch takes)
    transactions = _count_calls(
        monkeypatch,
        lambda: api.post("/v2/billing/meter_event_stream", json={"events": batch("probe")}),
    )
    assert transactions >= 3
    rounds = 1
    # Each event is one write since issue 15 (100 writes a batch, all alike): the boundaries tried
    # are the first, second, middle, last-but-one and last writes, and past the last (the answer
    # is lost) — trying all 101 took minutes per parameter set.
    boundaries = sorted({1, 2, transactions // 2, transactions - 1, transactions, transactions + 1})
    for k in boundaries:  # k = transactions + 1: every write lands, the answer is lost
        rounds += 1
        events = batch(f"k{k}", shift=k)
        headers = {"Idempotency-Key": f"batch-{k}-{how}"} if with_key else {}
        # WHEN transaction k fails (or, past the last one, the answer is lost) …
        calls = _fail_call(monkeypatch, k, how)
        first = api.post("/v2/billing/meter_event_stream", json={"events": events}, headers=headers)
        monkeypatch.undo()
        if k <= transactions:
            assert first.status == (500 if how == "crash" else 409), first.text
        else:
            assert first.status == 200 and calls["n"] == transactions, first.text
        # … AND the client sends the same request again
        retry = api.post("/v2/billing/meter_event_stream", json={"events": events}, headers=headers)
        assert retry.status == 200, retry.text
        # THEN every meter's total is exact: each event counted once per round
        for n in names:
            assert _total(api, meters[n], cus) == rounds * expected[n], (k, n)


def test_v1_identifier_less_event_with_a_key_counts_once_after_a_lost_answer(api, monkeypatch):
    # GIVEN a v1 event without identifier sent with an Idempotency-Key
    meter, cus = _meter(api, "single"), api.post("/v1/customers", {"name": "S"}).json["id"]
    data = {"event_name": "single", "payload": {"stripe_customer_id": cus, "value": "7"}}
    real = write.transact

    def commit_then_die(actions, units):
        real(actions, units)
        raise ConnectionError("Lambda died after the write")

    # WHEN the write commits but the Lambda dies before answering (no idempotency record is saved)
    monkeypatch.setattr(write, "transact", commit_then_die)
    first = api.post("/v1/billing/meter_events", data, headers={"Idempotency-Key": "single-1"})
    assert first.status == 500, first.text
    monkeypatch.undo()
    # AND the SDK retries with the same key
    retry = api.post("/v1/billing/meter_events", data, headers={"Idempotency-Key": "single-1"})
    # THEN the event stands once, and the answer names the standing event
    assert retry.status == 200, retry.text
    assert _total(api, meter, cus) == 7
    # AND another key is another event (the key, not the body, says "same request")
    other = api.post("/v1/billing/meter_events", data, headers={"Idempotency-Key": "single-2"})
    assert other.status == 200 and other.json["identifier"] != retry.json["identifier"]
    assert _total(api, meter, cus) == 14
