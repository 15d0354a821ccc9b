"""Concurrency: 8 client threads, 20 % duplicate identifiers and client retries → exact totals.

The local server (a subprocess, moto serialized behind it as in `make run`) takes the requests
concurrently; what is proven is the application's logic — conditional writes in one transaction,
no read-modify-write — which is exactly what real DynamoDB relies on.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import support

KEY = "sk_test_concurrency0000000000000000"


@pytest.fixture(scope="module")
def server():
    local = support.LocalServer.start([KEY])
    yield local.url
    code, output = local.stop(timeout=10)
    assert code == 0, output


def _post(session: requests.Session, url: str, path: str, **kwargs) -> requests.Response:
    """POST with the client behaviour of the SDKs: retry on 409/5xx/connection errors."""
    for attempt in range(6):
        try:
            resp = session.post(f"{url}{path}", auth=(KEY, ""), timeout=30, **kwargs)
        except requests.ConnectionError:
            time.sleep(0.05 * 2**attempt)
            continue
        if resp.status_code == 409 or resp.status_code >= 500:
            time.sleep(0.05 * 2**attempt)
            continue
        return resp
    raise AssertionError(f"{path} kept failing")


def test_concurrent_duplicates_and_retries_give_exact_totals(server):
    # GIVEN a sum meter, a customer, and 400 events of which 80 (20 %) repeat an earlier identifier
    session = requests.Session()
    meter = _post(
        session,
        server,
        "/v1/billing/meters",
        data={"display_name": "Tokens", "event_name": "conc_tokens", "default_aggregation[formula]": "sum"},
    ).json()
    customer = _post(session, server, "/v1/customers", data={"name": "Concurrent"}).json()["id"]
    rng = random.Random(7)
    now = int(time.time())
    unique = [(f"evt-{i}", rng.randint(1, 1000), now - rng.randint(0, 1800)) for i in range(320)]
    duplicates = [rng.choice(unique) for _ in range(80)]
    events = unique + duplicates
    rng.shuffle(events)
    expected = sum(value for _, value, _ in unique)
    singles, batched = events[:200], events[200:]

    def send_single(event: tuple[str, int, int]) -> None:
        ident, value, ts = event
        data = {
            "event_name": "conc_tokens",
            "payload[stripe_customer_id]": customer,
            "payload[value]": str(value),
            "identifier": ident,
            "timestamp": str(ts),
        }
        for _ in range(1 + (hash(ident) % 2)):  # half of them are "retried" by the client
            assert _post(requests.Session(), server, "/v1/billing/meter_events", data=data).status_code == 200

    def send_batch(chunk: list[tuple[str, int, int]]) -> None:
        body = {
            "events": [
                {
                    "event_name": "conc_tokens",
                    "identifier": ident,
                    "payload": {"stripe_customer_id": customer, "value": str(value)},
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
                }
                for ident, value, ts in chunk
            ]
        }
        for _ in range(2):  # every batch is sent twice, as after a lost response
            resp = _post(requests.Session(), server, "/v2/billing/meter_event_stream", json=body)
            assert resp.status_code == 200 and resp.json()["errors"] == []

    # WHEN 8 threads send singles and batches of 20 concurrently, each with retries
    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [pool.submit(send_single, e) for e in singles]
        jobs += [pool.submit(send_batch, batched[i : i + 20]) for i in range(0, len(batched), 20)]
        for job in jobs:
            job.result()

    # THEN the usage summary counts every identifier exactly once
    start = (now - 3600) // 60 * 60
    end = (now // 60 + 2) * 60
    summary = session.get(
        f"{server}/v1/billing/meters/{meter['id']}/event_summaries",
        auth=(KEY, ""),
        params={"customer": customer, "start_time": start, "end_time": end},
    ).json()
    assert summary["data"][0]["aggregated_value"] == expected
