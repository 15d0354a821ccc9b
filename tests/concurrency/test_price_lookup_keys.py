"""Concurrency: 8 threads create a price with the same `lookup_key` and `product_data` at once.

The product, the price, their events and the lookup-key claim are one transaction, so exactly one
request wins: one price, one product, and no orphan `product.created` events from the losers.
The local server (a subprocess, moto serialized behind it as in `make run`) takes the requests
concurrently.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import support

KEY = "sk_test_lookupkeys000000000000000000"
THREADS = 8


@pytest.fixture(scope="module")
def server():
    local = support.LocalServer.start([KEY])
    yield local.url
    code, output = local.stop(timeout=10)
    assert code == 0, output


def _post(url: str, path: str, data: dict) -> requests.Response:
    """POST with the SDKs' behaviour: retry on 409/5xx/connection errors."""
    for attempt in range(6):
        try:
            resp = requests.post(f"{url}{path}", auth=(KEY, ""), data=data, timeout=30)
        except requests.ConnectionError:
            time.sleep(0.05 * 2**attempt)
            continue
        if resp.status_code == 409 or resp.status_code >= 500:
            time.sleep(0.05 * 2**attempt)
            continue
        return resp
    raise AssertionError(f"{path} kept failing")


def _all(url: str, path: str, **params: str) -> list[dict]:
    resp = requests.get(f"{url}{path}", auth=(KEY, ""), params={"limit": "100", **params}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_concurrent_creates_with_one_lookup_key_leave_one_price_and_one_product(server):
    # GIVEN 8 threads, each ready to create a price with lookup_key "std" and its own product_data
    start = threading.Barrier(THREADS)

    def create(i: int) -> requests.Response:
        start.wait()
        data = {
            "currency": "usd",
            "unit_amount": "100",
            "lookup_key": "std",
            "product_data[name]": f"Product {i}",
        }
        return _post(server, "/v1/prices", data)

    # WHEN they all send at once
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(create, range(THREADS)))

    # THEN exactly one succeeded; the others were told the key is taken
    won = [r for r in results if r.status_code == 200]
    assert len(won) == 1, [r.text for r in results]
    for lost in results:
        if lost.status_code != 200:
            assert lost.status_code == 400 and lost.json()["error"]["param"] == "lookup_key", lost.text
    price = won[0].json()
    # AND one price, one product (the winner's), and one created event of each: no orphans
    assert [p["id"] for p in _all(server, "/v1/prices")] == [price["id"]]
    assert [p["id"] for p in _all(server, "/v1/products")] == [price["product"]]
    events = _all(server, "/v1/events")
    assert sorted(e["type"] for e in events) == ["price.created", "product.created"]
