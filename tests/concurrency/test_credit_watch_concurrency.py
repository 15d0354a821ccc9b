"""Concurrency on the real local server (moto serialized behind it, as in `make run`): 8 meter
events of one customer arrive at the same moment and burn its credits across a credit-balance
alert's threshold and a top-up rule's → exactly one `billing.alert.triggered`, one
`tally.credit_top_up.started`, and (once the outbox's reaction ran) one top-up invoice.

Prices: 4 (0.04 USD) per token unit of 100, rounded up; 5.20 of credits; each writer sends 100
tokens (4): after the 5th the balance is 5.20 − 0.20 = 5.00 ≤ 5.00, after all 8 it is 4.88.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import support

KEY = "sk_test_creditwatchconcurrency00000000"
WRITERS = 8


@pytest.fixture(scope="module")
def server():
    local = support.LocalServer.start([KEY])
    yield local.url
    code, output = local.stop(timeout=10)
    assert code == 0, output


def _post(url: str, path: str, **kwargs) -> requests.Response:
    """POST as the SDKs do: retry on 409/5xx/connection errors."""
    for attempt in range(8):
        try:
            resp = requests.post(f"{url}{path}", auth=(KEY, ""), timeout=60, **kwargs)
        except requests.ConnectionError:
            time.sleep(0.05 * 2**attempt)
            continue
        if resp.status_code == 409 or resp.status_code >= 500:
            time.sleep(0.05 * 2**attempt)
            continue
        assert resp.status_code == 200, resp.text
        return resp
    raise AssertionError(f"{path} kept failing")


def _get(url: str, path: str, **params) -> dict:
    return requests.get(f"{url}{path}", auth=(KEY, ""), params=params, timeout=60).json()


def test_eight_writers_burning_across_thresholds_record_one_trigger_and_one_top_up(server):
    # GIVEN a metered subscription, 5.20 of credits, an alert at 5.00 and a top-up rule at 5.00
    meter = _post(
        server,
        "/v1/billing/meters",
        data={"display_name": "Tokens", "event_name": "conc_credits", "default_aggregation[formula]": "sum"},
    ).json()
    price = _post(
        server,
        "/v1/prices",
        data={
            "currency": "usd",
            "unit_amount": "4",
            "transform_quantity[divide_by]": "100",
            "transform_quantity[round]": "up",
            "recurring[interval]": "month",
            "recurring[usage_type]": "metered",
            "recurring[meter]": meter["id"],
            "product_data[name]": "Tokens",
        },
    ).json()
    cus = _post(server, "/v1/customers", data={"name": "Concurrent credits"}).json()["id"]
    _post(server, "/v1/subscriptions", data={"customer": cus, "items[0][price]": price["id"]})
    _post(
        server,
        "/v1/billing/credit_grants",
        data={
            "customer": cus,
            "amount[type]": "monetary",
            "amount[monetary][currency]": "usd",
            "amount[monetary][value]": "520",
            "applicability_config[scope][price_type]": "metered",
        },
    )
    _post(
        server,
        "/v1/billing/alerts",
        data={
            "alert_type": "credit_balance_threshold",
            "title": "low",
            "credit_balance_threshold[filters][0][type]": "customer",
            "credit_balance_threshold[filters][0][customer]": cus,
            "credit_balance_threshold[lte][balance_type]": "monetary",
            "credit_balance_threshold[lte][monetary][currency]": "usd",
            "credit_balance_threshold[lte][monetary][value]": "500",
        },
    )
    rule = _post(
        server,
        "/v1/tally/credit_top_up_rules",
        data={"customer": cus, "currency": "usd", "threshold": "500", "amount": "2000"},
    ).json()
    ts = str((int(time.time()) // 60 + 1) * 60)
    # WHEN 8 writers each send 100 tokens at the same moment
    start = threading.Barrier(WRITERS)

    def write(i: int) -> int:
        start.wait()
        data = {
            "event_name": "conc_credits",
            "identifier": f"w-{i}",
            "timestamp": ts,
            "payload[stripe_customer_id]": cus,
            "payload[value]": "100",
        }
        return _post(server, "/v1/billing/meter_events", data=data).status_code

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        assert list(pool.map(write, range(WRITERS))) == [200] * WRITERS
    # THEN one trigger and one top-up started; after the reaction, one top-up invoice of 20.00
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        invoices = [
            i for i in _get(server, "/v1/invoices", customer=cus, limit=100)["data"] if not i["subscription"]
        ]
        if invoices:
            break
        time.sleep(0.3)
    time.sleep(1.0)  # let any duplicate reaction run
    triggered = _get(server, "/v1/events", type="billing.alert.triggered", limit=100)["data"]
    started = _get(server, "/v1/events", type="tally.credit_top_up.started", limit=100)["data"]
    assert len(triggered) == 1 and triggered[0]["data"]["object"]["value"] <= 500
    assert len(started) == 1 and started[0]["data"]["object"]["rule"] == rule["id"]
    invoices = [
        i for i in _get(server, "/v1/invoices", customer=cus, limit=100)["data"] if not i["subscription"]
    ]
    assert [(i["total"], i["status"]) for i in invoices] == [(2000, "open")]
