"""Concurrency of billing credits (issue 13 points 2 and 4), on the local server (a subprocess,
moto serialized behind it as in `make run`) taking requests from many threads:

- concurrent finalizations of one customer's invoices never spend a credit twice: each grant is
  debited conditionally, in the finalizing transaction, and the customer is version-checked;
- the available balance stays exact under concurrent ingest: it is read from the usage buckets,
  which each event updates atomically, never by scanning events.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import support

KEY = "sk_test_creditconcurrency00000000000"
T0 = 1_925_164_800  # 2031-01-03 00:00 UTC
FEB_3 = 1_927_843_200
SCOPE = {"applicability_config[scope][price_type]": "metered"}


@pytest.fixture(scope="module")
def server():
    local = support.LocalServer.start([KEY])
    yield local.url
    code, output = local.stop(timeout=10)
    assert code == 0, output


def _call(method: str, url: str, path: str, **kwargs: Any) -> requests.Response:
    """A request with the SDKs' client behaviour: retry on 409/5xx/connection errors."""
    for attempt in range(10):
        try:
            resp = requests.request(method, f"{url}{path}", auth=(KEY, ""), timeout=60, **kwargs)
        except requests.ConnectionError:
            time.sleep(0.05 * 2**attempt)
            continue
        if resp.status_code == 409 or resp.status_code >= 500:
            time.sleep(0.05 * 2**attempt)
            continue
        return resp
    raise AssertionError(f"{method} {path} kept failing")


def _ok(resp: requests.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    return resp.json()


def _tokens(url: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A sum meter and a metered price of 1 cent per token on it."""
    meter = _ok(
        _call(
            "POST",
            url,
            "/v1/billing/meters",
            data={"display_name": name, "event_name": name, "default_aggregation[formula]": "sum"},
        )
    )
    price = _ok(
        _call(
            "POST",
            url,
            "/v1/prices",
            data={
                "currency": "usd",
                "unit_amount": "1",
                "recurring[interval]": "month",
                "recurring[usage_type]": "metered",
                "recurring[meter]": meter["id"],
                "product_data[name]": name,
            },
        )
    )
    return meter, price


def _grant(url: str, customer: str, value: int) -> None:
    data = {
        "customer": customer,
        "amount[type]": "monetary",
        "amount[monetary][currency]": "usd",
        "amount[monetary][value]": str(value),
        **SCOPE,
    }
    _ok(_call("POST", url, "/v1/billing/credit_grants", data=data))


def _balance(url: str, customer: str) -> tuple[int, int]:
    body = _ok(
        _call(
            "GET",
            url,
            "/v1/billing/credit_balance_summary",
            params={
                "customer": customer,
                "filter[type]": "applicability_scope",
                "filter[applicability_scope][price_type]": "metered",
            },
        )
    )
    (b,) = body["balances"]
    return b["available_balance"]["monetary"]["value"], b["ledger_balance"]["monetary"]["value"]


def _wait_ready(url: str, clock_id: str) -> None:
    deadline = time.monotonic() + 60
    while _ok(_call("GET", url, f"/v1/test_helpers/test_clocks/{clock_id}"))["status"] == "advancing":
        assert time.monotonic() < deadline, "the test clock kept advancing"
        time.sleep(0.2)


def test_concurrent_finalizations_never_spend_a_credit_twice(server):
    # GIVEN per round a customer on a test clock with two token subscriptions on one meter, 700
    # tokens (each invoice 700) and a 10.00 grant; the clock advanced into the grace period: 2 drafts
    rounds = []
    for n in range(3):
        clock = _ok(_call("POST", server, "/v1/test_helpers/test_clocks", data={"frozen_time": str(T0)}))
        customer = _ok(_call("POST", server, "/v1/customers", data={"test_clock": clock["id"]}))["id"]
        meter, price = _tokens(server, f"fin_tokens_{n}")
        for _ in range(2):
            _ok(
                _call(
                    "POST",
                    server,
                    "/v1/subscriptions",
                    data={"customer": customer, "items[0][price]": price["id"]},
                )
            )
        _grant(server, customer, 1000)
        event = {
            "event_name": meter["event_name"],
            "payload[stripe_customer_id]": customer,
            "payload[value]": "700",
        }
        _ok(_call("POST", server, "/v1/billing/meter_events", data=event))
        _ok(
            _call(
                "POST",
                server,
                f"/v1/test_helpers/test_clocks/{clock['id']}/advance",
                data={"frozen_time": str(FEB_3 + 60)},
            )
        )
        rounds.append((clock["id"], customer))
    drafts = {}
    for clock_id, customer in rounds:
        _wait_ready(server, clock_id)
        found = _ok(_call("GET", server, "/v1/invoices", params={"customer": customer, "status": "draft"}))[
            "data"
        ]
        assert [d["total"] for d in found] == [700, 700], found
        drafts[customer] = [d["id"] for d in found]

    # WHEN 8 threads finalize both drafts of every customer at once (each invoice 4 times)
    def finalize(invoice_id: str) -> int:
        return _call("POST", server, f"/v1/invoices/{invoice_id}/finalize").status_code

    jobs = [i for ids in drafts.values() for i in ids for _ in range(4)]
    random.Random(3).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(finalize, jobs))
    assert set(codes) <= {200, 400} and codes.count(200) == len(drafts) * 2

    # THEN per customer exactly 1,000 of credit was applied across the two invoices (never 1,400),
    # the ledger agrees, and 400 is due in all
    for customer, ids in drafts.items():
        invoices = [_ok(_call("GET", server, f"/v1/invoices/{i}")) for i in ids]
        credited = [sum(c["amount"] for c in inv["total_pretax_credit_amounts"]) for inv in invoices]
        assert sum(credited) == 1000 and sorted(credited) == [300, 700], credited
        assert sum(inv["amount_due"] for inv in invoices) == 400
        assert _balance(server, customer) == (0, 0)
        page = _ok(
            _call("GET", server, "/v1/billing/credit_balance_transactions", params={"customer": customer})
        )
        applied = [t["debit"]["amount"]["monetary"]["value"] for t in page["data"] if t["type"] == "debit"]
        assert sorted(applied) == [300, 700]


def test_the_available_balance_is_exact_under_concurrent_ingest(server):
    # GIVEN a customer subscribed to tokens at 1 cent, with a 5,000.00 grant
    meter, price = _tokens(server, "burn_tokens")
    customer = _ok(_call("POST", server, "/v1/customers", data={"name": "Burner"}))["id"]
    _ok(
        _call(
            "POST", server, "/v1/subscriptions", data={"customer": customer, "items[0][price]": price["id"]}
        )
    )
    _grant(server, customer, 500_000)
    assert _balance(server, customer) == (500_000, 500_000)
    rng = random.Random(11)
    events = [(f"burn-{i}", rng.randint(1, 500)) for i in range(240)]
    events += [rng.choice(events) for _ in range(40)]  # retried identifiers: counted once
    rng.shuffle(events)
    expected = sum(v for _, v in dict(events).items())
    seen: list[int] = []
    done = threading.Event()

    def read() -> None:  # one reader while the writers write: never rises, never errors
        while not done.is_set():
            seen.append(_balance(server, customer)[0])

    def send(event: tuple[str, int]) -> None:
        ident, value = event
        data = {
            "event_name": meter["event_name"],
            "identifier": ident,
            "payload[stripe_customer_id]": customer,
            "payload[value]": str(value),
        }
        assert _call("POST", server, "/v1/billing/meter_events", data=data).status_code == 200

    # WHEN 8 threads send the events while another reads the balance
    reader = threading.Thread(target=read)
    reader.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, events))
    done.set()
    reader.join()
    # THEN the balance fell by exactly the usage, and every read on the way was a step down
    assert _balance(server, customer) == (500_000 - expected, 500_000)
    assert seen and seen == sorted(seen, reverse=True)
