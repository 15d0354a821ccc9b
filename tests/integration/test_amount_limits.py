"""Amounts and quantities stay inside documented limits, so no integer on the wire outgrows a
signed 64-bit integer (what Go, Java and .NET SDKs decode into).

Limits (docs/API.md "Limits"): every amount ≤ 999,999,999,999,999 minor units (`MAX_AMOUNT`),
every usage total / billed quantity within ±999,999,999,999,999,999 (`MAX_USAGE`). A request
that would make a licensed line or the licensed total exceed MAX_AMOUNT is a 400
`amount_too_large`; a preview whose usage makes an amount exceed it is a 400 `amount_too_large`;
a usage total beyond MAX_USAGE is a 400 `usage_too_large`. All numbers below are hand-computed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import support
import time_machine

MAX_AMOUNT = 999_999_999_999_999
INT64_MAX = 2**63 - 1
NOW = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


def customer(api: support.Api) -> dict[str, Any]:
    return ok(api.post("/v1/customers", {"name": "Big Spender"}))


def licensed(api: support.Api, unit_amount: int = 99_999_999) -> dict[str, Any]:
    return ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": unit_amount,
                "product_data": {"name": "Seat"},
                "recurring": {"interval": "month"},
            },
        )
    )


def metered(api: support.Api, **amount: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "Tokens", "event_name": "tokens", "default_aggregation": {"formula": "sum"}},
        )
    )
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "product_data": {"name": "Tokens"},
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
                **amount,
            },
        )
    )
    return meter, price


def send_usage(api: support.Api, cust: dict[str, Any], value: int, count: int) -> None:
    sent = 0
    while sent < count:
        n = min(100, count - sent)
        events = [
            {
                "event_name": "tokens",
                "identifier": f"e{sent + i}",
                "payload": {"stripe_customer_id": cust["id"], "value": str(value)},
            }
            for i in range(n)
        ]
        body = ok(api.post("/v2/billing/meter_event_stream", json={"events": events}))
        assert body["accepted"] == n, body
        sent += n


def all_ints(value: Any) -> Iterator[int]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from all_ints(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_ints(v)


def test_licensed_quantity_whose_line_exceeds_the_cap_is_a_400_naming_the_quantity(api):
    # GIVEN a price at the maximum unit amount and a customer
    cust, price = customer(api), licensed(api)
    # WHEN a subscription asks for 10^12 seats (99,999,999 × 10^12 ≈ 10^20 > 2^63−1)
    resp = api.post(
        "/v1/subscriptions", {"customer": cust["id"], "items": [{"price": price["id"], "quantity": 10**12}]}
    )
    # THEN it is a 400 amount_too_large naming the quantity, and nothing is stored
    support.assert_stripe_error(
        resp.status, resp.json, 400, code="amount_too_large", param="items[0][quantity]"
    )
    assert ok(api.get("/v1/subscriptions"))["data"] == []


def test_licensed_line_at_the_cap_is_billed_exactly_and_one_more_seat_is_refused(api):
    # GIVEN a price at 99,999,999
    cust, price = customer(api), licensed(api)
    # WHEN 10,000,001 seats are asked (1,000,000,089,999,999 > MAX_AMOUNT)
    over = api.post(
        "/v1/subscriptions",
        {"customer": cust["id"], "items": [{"price": price["id"], "quantity": 10_000_001}]},
    )
    # THEN it is refused
    support.assert_stripe_error(over.status, over.json, 400, code="amount_too_large")
    # WHEN 10,000,000 seats are asked (999,999,990,000,000 ≤ MAX_AMOUNT)
    sub = ok(
        api.post(
            "/v1/subscriptions",
            {"customer": cust["id"], "items": [{"price": price["id"], "quantity": 10_000_000}]},
        )
    )
    # THEN the preview bills exactly that
    invoice = ok(api.post("/v1/invoices/create_preview", {"subscription": sub["id"]}))
    assert invoice["total"] == invoice["amount_due"] == 999_999_990_000_000
    assert invoice["lines"]["data"][0]["quantity"] == 10_000_000


def test_licensed_total_over_the_cap_is_a_400_naming_items(api):
    # GIVEN two prices at 99,999,999
    cust, a, b = customer(api), licensed(api), licensed(api)
    # WHEN each item is under the cap (9,000,000 × 99,999,999 = 899,999,991,000,000) but the sum
    # (1,799,999,982,000,000) is over
    items = [{"price": a["id"], "quantity": 9_000_000}, {"price": b["id"], "quantity": 9_000_000}]
    resp = api.post("/v1/subscriptions", {"customer": cust["id"], "items": items})
    # THEN it is a 400 naming items
    support.assert_stripe_error(resp.status, resp.json, 400, code="amount_too_large", param="items")


def test_metered_usage_whose_amount_exceeds_the_cap_makes_the_preview_a_clear_400(api):
    # GIVEN a metered price at 99,999,999 per unit and ten events of 10^15 (usage 10^16,
    # amount ≈ 10^24)
    cust = customer(api)
    _, price = metered(api, unit_amount=99_999_999)
    sub = ok(api.post("/v1/subscriptions", {"customer": cust["id"], "items": [{"price": price["id"]}]}))
    send_usage(api, cust, 10**15, 10)
    # WHEN the invoice is previewed
    resp = api.post("/v1/invoices/create_preview", {"subscription": sub["id"]})
    # THEN it is a 400 amount_too_large (never an integer over 2^63−1)
    error = support.assert_stripe_error(resp.status, resp.json, 400, code="amount_too_large")
    assert "999,999,999,999,999" in error["message"]


def test_large_usage_at_a_tiny_price_is_billed_exactly(api):
    # GIVEN a metered price of 0.000001 minor units and ten events of 10^15 (usage 10^16)
    cust = customer(api)
    _, price = metered(api, unit_amount_decimal="0.000001")
    sub = ok(api.post("/v1/subscriptions", {"customer": cust["id"], "items": [{"price": price["id"]}]}))
    send_usage(api, cust, 10**15, 10)
    # WHEN the invoice is previewed
    invoice = ok(api.post("/v1/invoices/create_preview", {"subscription": sub["id"]}))
    # THEN 10^16 × 0.000001 = 10,000,000,000, and the quantity is the usage
    assert invoice["total"] == 10_000_000_000
    assert invoice["lines"]["data"][0]["quantity"] == 10**16
    assert all(-(2**63) <= n <= INT64_MAX for n in all_ints(invoice))


def test_usage_total_beyond_the_usage_cap_is_a_400_on_summaries_and_preview(api):
    # GIVEN a tiny price and 1,000 events of 10^15 (usage 10^18 > MAX_USAGE = 10^18 − 1)
    cust = customer(api)
    meter, price = metered(api, unit_amount_decimal="0.000000000001")
    sub = ok(api.post("/v1/subscriptions", {"customer": cust["id"], "items": [{"price": price["id"]}]}))
    send_usage(api, cust, 10**15, 1000)
    start = int(NOW.timestamp()) // 3600 * 3600 - 3600
    # WHEN the summary of the period is read
    resp = api.get(
        f"/v1/billing/meters/{meter['id']}/event_summaries",
        {"customer": cust["id"], "start_time": start, "end_time": start + 7200},
    )
    # THEN it is a 400 usage_too_large
    support.assert_stripe_error(resp.status, resp.json, 400, code="usage_too_large")
    # AND the preview (amount 10^18 × 10^-12 = 10^6 fits, but the quantity does not) is too
    resp = api.post("/v1/invoices/create_preview", {"subscription": sub["id"]})
    support.assert_stripe_error(resp.status, resp.json, 400, code="usage_too_large")
    # AND hourly summaries within the cap still answer (each hour is the same total here)
    per_hour = api.get(
        f"/v1/billing/meters/{meter['id']}/event_summaries",
        {"customer": cust["id"], "start_time": start, "end_time": start + 3600},
    )
    assert per_hour.status == 200, per_hour.text
    assert per_hour.json["data"][0]["aggregated_value"] == 0
