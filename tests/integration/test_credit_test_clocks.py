"""Billing credits over three months on a test clock (issue 13 point 8): each month's invoice takes
credits in Stripe's order, a grant expiring mid-period covers nothing of that period and its rest
expires at the expiry instant, and the available balance forecasts each invoice.

Calendar (test clock): subscribed 2031-01-01; periods are calendar months; each invoice finalizes
an hour after its period ends. Tokens: 0.04 USD per 100, rounded up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import support
from test_credit_application import credits_of, money
from test_credit_grants import grant, ledger, summary
from test_subscriptions_preview import Catalog, ok


def at(month: int, day: int, hour: int = 0) -> int:
    return int(dt.datetime(2031, month, day, hour, tzinfo=dt.UTC).timestamp())


def test_three_months_of_grants_on_a_test_clock(api: support.Api, functions: support.Functions) -> None:
    catalog = Catalog(api)
    clock = ok(api.post("/v1/test_helpers/test_clocks", {"frozen_time": at(1, 1)}))
    customer = catalog.customer(test_clock=clock["id"])
    cid = customer["id"]
    meter = catalog.meter()
    price = catalog.metered(
        "Tokens", meter, unit_amount=4, transform_quantity={"divide_by": 100, "round": "up"}
    )
    sub = catalog.subscribe(customer, {"price": price["id"]})
    # GIVEN A: 10.00 promotional expiring Mar 15 (inside March's period), B: 5.00 paid, never expiring
    a = grant(api, cid, 1000, category="promotional", expires_at=at(3, 15))
    b = grant(api, cid, 500)
    assert a["test_clock"] == clock["id"]

    def advance(instant: int) -> None:
        assert support.advance_clock(api, functions, clock["id"], instant)["status"] == "ready"

    def cycle_invoice(period_end: int) -> dict[str, Any]:
        found = ok(api.get("/v1/invoices", {"subscription": sub["id"], "limit": 100}))["data"]
        (inv,) = [
            i for i in found if i["period_end"] == period_end and i["billing_reason"] == "subscription_cycle"
        ]
        return inv

    def balance_of(g: dict[str, Any]) -> list[tuple[str, int, int]]:
        return summary(api, cid, type="credit_grant", credit_grant=g["id"])

    # January: 15,000 tokens (6.00); A expires sooner, so A will pay: 9.00 available
    advance(at(1, 20))
    catalog.usage(meter, customer, 15_000)
    assert summary(api, cid) == [("usd", 900, 1500)]
    # Feb 1 (+ the grace hour): the invoice takes 600 of A
    advance(at(2, 1, 2))
    jan = cycle_invoice(at(2, 1))
    assert money(jan) == ("paid", 600, 0, 0) and credits_of(jan) == [(price["id"], 600)]
    assert summary(api, cid) == [("usd", 900, 900)]
    # February: 5,000 tokens (2.00), from A again
    advance(at(2, 20))
    catalog.usage(meter, customer, 5_000)
    assert summary(api, cid) == [("usd", 700, 900)]
    advance(at(3, 1, 2))
    feb = cycle_invoice(at(3, 1))
    assert money(feb) == ("paid", 200, 0, 0)
    assert balance_of(a) == [("usd", 200, 200)] and balance_of(b) == [("usd", 500, 500)]
    # March: 10,000 tokens (4.00) on Mar 10. A expires Mar 15, inside the period: B will pay all 400
    advance(at(3, 10))
    catalog.usage(meter, customer, 10_000)
    assert balance_of(a) == [("usd", 200, 200)] and balance_of(b) == [("usd", 100, 500)]
    assert summary(api, cid) == [("usd", 300, 700)]
    # Mar 16: A's last 200 expired at its expiry instant
    advance(at(3, 16))
    assert summary(api, cid) == [("usd", 100, 500)]
    assert ("debit", "credits_expired", 200, at(3, 15)) in ledger(api, cid)
    # Apr 1: the March invoice takes 400 of B, as the balance showed
    advance(at(4, 1, 2))
    mar = cycle_invoice(at(4, 1))
    assert money(mar) == ("paid", 400, 0, 0)
    assert summary(api, cid) == [("usd", 100, 100)]
    entries = [(t, kind, amount) for t, kind, amount, _ in ledger(api, cid)]
    assert sorted(entries) == sorted(
        [
            ("credit", "credits_granted", 1000),
            ("credit", "credits_granted", 500),
            ("debit", "credits_applied", 600),
            ("debit", "credits_applied", 200),
            ("debit", "credits_expired", 200),
            ("debit", "credits_applied", 400),
        ]
    )
    # AND each applied entry is effective when its invoice finalized, on the clock
    applied = [e for e in ledger(api, cid) if e[1] == "credits_applied"]
    assert [e[3] for e in applied] == [at(2, 1, 1), at(3, 1, 1), at(4, 1, 1)]
