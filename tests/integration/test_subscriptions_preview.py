"""Subscriptions and invoice previews through the API handlers, with real meter events.

Time is frozen with time-machine so periods and usage windows are exact. Uses the `api`
fixture of tests/integration/conftest.py (fresh account per test).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import support
import time_machine

# Preview-only Stripe fields Tally does not model.
UNMODELLED = {"billing_schedules", "managed_payments"}


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp())


def ok(response: support.Response, status: int = 200) -> dict[str, Any]:
    assert response.status == status, response.text
    return response.json


class Clock:
    """Frozen time that a test moves forward explicitly."""

    def __init__(self, traveller: Any) -> None:
        self._traveller = traveller

    def at(self, instant: int) -> None:
        self._traveller.move_to(dt.datetime.fromtimestamp(instant, dt.UTC))


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


class Catalog:
    """Small builders for the objects a subscription needs."""

    def __init__(self, api: support.Api) -> None:
        self.api = api

    def customer(self, **fields: Any) -> dict[str, Any]:
        return ok(self.api.post("/v1/customers", {"name": "Jenny Rosen", **fields}))

    def meter(self, event_name: str = "alpaca_ai_tokens") -> dict[str, Any]:
        return ok(
            self.api.post(
                "/v1/billing/meters",
                {
                    "display_name": event_name,
                    "event_name": event_name,
                    "default_aggregation": {"formula": "sum"},
                },
            )
        )

    def price(
        self, name: str, currency: str = "usd", interval: str = "month", **fields: Any
    ) -> dict[str, Any]:
        recurring = {"interval": interval, **fields.pop("recurring", {})}
        params = {"currency": currency, "product_data": {"name": name}, "recurring": recurring, **fields}
        return ok(self.api.post("/v1/prices", params))

    def metered(
        self, name: str, meter: dict[str, Any], currency: str = "usd", **fields: Any
    ) -> dict[str, Any]:
        recurring = {"usage_type": "metered", "meter": meter["id"]}
        return self.price(name, currency, recurring=recurring, **fields)

    def subscribe(self, customer: dict[str, Any], *items: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return ok(
            self.api.post("/v1/subscriptions", {"customer": customer["id"], "items": list(items), **fields})
        )

    def usage(
        self, meter: dict[str, Any], customer: dict[str, Any], value: int, at: int | None = None
    ) -> None:
        event: dict[str, Any] = {
            "event_name": meter["event_name"],
            "payload": {"stripe_customer_id": customer["id"], "value": str(value)},
        }
        if at is not None:
            event["timestamp"] = at
        ok(self.api.post("/v1/billing/meter_events", event))

    def preview(self, **params: Any) -> support.Response:
        return self.api.post("/v1/invoices/create_preview", params)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


# --- subscriptions -------------------------------------------------------------------------------


def test_subscription_shape_and_event(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a customer, a licensed and a metered price
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    tokens = catalog.metered("Tokens", catalog.meter(), unit_amount_decimal="0.05")
    # WHEN the customer subscribes to both
    sub = catalog.subscribe(
        customer,
        {"price": seats["id"], "quantity": 2, "metadata": {"team": "a"}},
        {"price": tokens["id"]},
        metadata={"plan": "pro"},
    )
    # THEN the subscription has Stripe's fields, its items embed their prices, and periods are set
    assert set(support.stripe_fixture("subscription")) - UNMODELLED <= set(sub)
    assert sub["id"].startswith("sub_") and sub["object"] == "subscription"
    assert (sub["status"], sub["customer"], sub["currency"]) == ("active", customer["id"], "usd")
    now = ts(2025, 3, 10)
    assert (sub["start_date"], sub["billing_cycle_anchor"], sub["created"]) == (now, now, now)
    assert (sub["current_period_start"], sub["current_period_end"]) == (now, ts(2025, 4, 10))
    items = sub["items"]
    assert (items["object"], items["has_more"], items["total_count"]) == ("list", False, 2)
    assert items["url"] == f"/v1/subscription_items?subscription={sub['id']}"
    seat_item, token_item = items["data"]
    assert set(support.stripe_fixture("subscription_item")) <= set(seat_item)
    assert seat_item["id"].startswith("si_") and seat_item["subscription"] == sub["id"]
    assert (seat_item["price"], seat_item["quantity"], seat_item["metadata"]) == (seats, 2, {"team": "a"})
    assert token_item["price"] == tokens and "quantity" not in token_item  # as Stripe: absent, not null
    assert seat_item["plan"]["id"] == seats["id"] and seat_item["plan"]["interval"] == "month"
    assert (token_item["current_period_start"], token_item["current_period_end"]) == (now, ts(2025, 4, 10))
    # AND retrieve returns the same, and the event log has customer.subscription.created
    assert ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}")) == sub
    event = ok(catalog.api.get("/v1/events", {"type": "customer.subscription.*"}))["data"][0]
    assert event["type"] == "customer.subscription.created"
    assert event["data"]["object"] == sub


def test_period_on_a_jan_31_anchor_clamps_then_recovers(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a monthly subscription started on Jan 31 at 10:00 UTC
    clock.at(ts(2025, 1, 31, 10))
    customer = catalog.customer()
    sub = catalog.subscribe(customer, {"price": catalog.price("Seats", unit_amount=1000)["id"]})
    # THEN its first period ends on Feb 28 (no Feb 31)
    assert (sub["current_period_start"], sub["current_period_end"]) == (
        ts(2025, 1, 31, 10),
        ts(2025, 2, 28, 10),
    )
    # WHEN read on Mar 1
    clock.at(ts(2025, 3, 1))
    later = ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}"))
    # THEN the period is Feb 28 → Mar 31: the anchor day comes back, on items too
    assert (later["current_period_start"], later["current_period_end"]) == (
        ts(2025, 2, 28, 10),
        ts(2025, 3, 31, 10),
    )
    item = later["items"]["data"][0]
    assert (item["current_period_start"], item["current_period_end"]) == (
        ts(2025, 2, 28, 10),
        ts(2025, 3, 31, 10),
    )
    # AND the preview bills the next period Mar 31 → Apr 30 in advance
    line = ok(catalog.preview(subscription=sub["id"]))["lines"]["data"][0]
    assert line["period"] == {"start": ts(2025, 3, 31, 10), "end": ts(2025, 4, 30, 10)}


def test_future_anchor_makes_a_short_first_period(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a subscription created Jan 20 anchored to Jan 31
    clock.at(ts(2025, 1, 20))
    customer = catalog.customer()
    price = catalog.price("Seats", unit_amount=1000)
    sub = catalog.subscribe(customer, {"price": price["id"]}, billing_cycle_anchor=ts(2025, 1, 31))
    # THEN the first period runs up to the anchor, and the next one is a full month from it
    assert (sub["current_period_start"], sub["current_period_end"]) == (ts(2025, 1, 20), ts(2025, 1, 31))
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert (preview["period_start"], preview["period_end"]) == (ts(2025, 1, 20), ts(2025, 1, 31))
    assert preview["lines"]["data"][0]["period"] == {"start": ts(2025, 1, 31), "end": ts(2025, 2, 28)}


@pytest.mark.parametrize(
    ("anchor", "reason"),
    [(ts(2025, 3, 9), "past"), (ts(2025, 4, 10, 0, 1), "later than the next natural billing date")],
)
def test_anchor_out_of_range(catalog: Catalog, clock: Clock, anchor: int, reason: str) -> None:
    customer = catalog.customer()
    price = catalog.price("Seats", unit_amount=1000)
    response = catalog.api.post(
        "/v1/subscriptions",
        {"customer": customer["id"], "items": [{"price": price["id"]}], "billing_cycle_anchor": anchor},
    )
    error = support.assert_stripe_error(response.status, response.json, 400, param="billing_cycle_anchor")
    assert reason in error["message"]


def test_invalid_subscriptions_are_rejected(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a customer and an assortment of prices
    customer = catalog.customer()
    usd = catalog.price("Seats", unit_amount=1000)
    eur = catalog.price("Sitze", currency="eur", unit_amount=1000)
    yearly = catalog.price("Yearly", interval="year", unit_amount=1000)
    metered = catalog.metered("Tokens", catalog.meter(), unit_amount=1)
    one_time = ok(
        catalog.api.post("/v1/prices", {"currency": "usd", "unit_amount": 5, "product": usd["product"]})
    )
    inactive = catalog.price("Old", unit_amount=1)
    ok(catalog.api.post(f"/v1/prices/{inactive['id']}", {"active": "false"}))
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"items": [{"price": usd["id"]}]}, "customer", "parameter_missing"),
        ({"customer": "cus_nope", "items": [{"price": usd["id"]}]}, "customer", "resource_missing"),
        ({"customer": customer["id"]}, "items", "parameter_missing"),
        (
            {"customer": customer["id"], "items": [{"price": "price_nope"}]},
            "items[0][price]",
            "resource_missing",
        ),
        ({"customer": customer["id"], "items": [{"price": inactive["id"]}]}, "items[0][price]", None),
        ({"customer": customer["id"], "items": [{"price": one_time["id"]}]}, "items[0][price]", None),
        (
            {"customer": customer["id"], "items": [{"price": usd["id"]}, {"price": eur["id"]}]},
            "items[1][price]",
            None,
        ),
        (
            {"customer": customer["id"], "items": [{"price": usd["id"]}, {"price": yearly["id"]}]},
            "items[1][price]",
            None,
        ),
        (
            {"customer": customer["id"], "items": [{"price": usd["id"]}, {"price": usd["id"]}]},
            "items[1][price]",
            None,
        ),
        (
            {"customer": customer["id"], "items": [{"price": metered["id"], "quantity": 1}]},
            "items[0][quantity]",
            None,
        ),
        (
            {"customer": customer["id"], "items": [{"price": usd["id"], "quantity": -1}]},
            "items[0][quantity]",
            "parameter_invalid_integer",
        ),
        (
            {"customer": customer["id"], "items": [{"price": usd["id"], "plan": "x"}]},
            "items[0][plan]",
            "parameter_unknown",
        ),
    ]
    for params, param, code in cases:
        # WHEN a subscription is created with one problem
        response = catalog.api.post("/v1/subscriptions", params)
        # THEN it is a 400 that names the param, and no subscription exists
        support.assert_stripe_error(response.status, response.json, 400, param=param, code=code)
    assert ok(catalog.api.get("/v1/subscriptions", {"status": "all"}))["data"] == []


def test_cancel_and_list_filters(catalog: Catalog, clock: Clock) -> None:
    # GIVEN two customers with one subscription each
    alice, bob = catalog.customer(name="Alice"), catalog.customer(name="Bob")
    price = catalog.price("Seats", unit_amount=1000)
    other = catalog.price("Support", unit_amount=500)
    kept = catalog.subscribe(alice, {"price": price["id"]})
    clock.at(ts(2025, 3, 10, 0, 1))
    gone = catalog.subscribe(bob, {"price": other["id"]})
    # WHEN Bob's is canceled
    clock.at(ts(2025, 3, 12))
    canceled = ok(catalog.api.delete(f"/v1/subscriptions/{gone['id']}"))
    # THEN it is canceled now, with the event Stripe sends
    assert (canceled["status"], canceled["canceled_at"], canceled["ended_at"]) == (
        "canceled",
        ts(2025, 3, 12),
        ts(2025, 3, 12),
    )
    assert canceled["cancellation_details"]["reason"] == "cancellation_requested"
    event = ok(catalog.api.get("/v1/events", {"type": "customer.subscription.deleted"}))["data"][0]
    assert event["data"]["object"] == canceled
    # AND a second cancel is refused, and a preview has nothing to show
    again = catalog.api.delete(f"/v1/subscriptions/{gone['id']}")
    support.assert_stripe_error(again.status, again.json, 400)
    none = catalog.preview(subscription=gone["id"])
    support.assert_stripe_error(none.status, none.json, 400, code="invoice_upcoming_none")

    def ids(**query: Any) -> list[str]:
        return [s["id"] for s in ok(catalog.api.get("/v1/subscriptions", query))["data"]]

    # AND lists hide canceled subscriptions unless asked
    assert ids() == [kept["id"]]
    assert ids(status="all") == [gone["id"], kept["id"]]
    assert ids(status="canceled") == [gone["id"]]
    assert ids(customer=bob["id"]) == []
    assert ids(customer=bob["id"], status="all") == [gone["id"]]
    assert ids(price=price["id"]) == [kept["id"]]


# --- previews ------------------------------------------------------------------------------------


def test_hybrid_preview_bills_seats_ahead_and_usage_behind(catalog: Catalog, clock: Clock) -> None:
    # GIVEN (Mar 10) 2 seats at $10.00 and tokens at $0.0005 (0.05 cents) each, monthly
    customer = catalog.customer(email="jenny@example.com")
    meter = catalog.meter()
    seats = catalog.price("Seats", unit_amount=1000)
    tokens = catalog.metered("Alpaca AI tokens", meter, unit_amount_decimal="0.05")
    # (usage one hour before the subscription starts must not count)
    catalog.usage(meter, customer, 1000)
    clock.at(ts(2025, 3, 10, 1))
    sub = catalog.subscribe(customer, {"price": seats["id"], "quantity": 2}, {"price": tokens["id"]})
    start, end, next_end = ts(2025, 3, 10, 1), ts(2025, 4, 10, 1), ts(2025, 5, 10, 1)
    # WHEN 10 + 15 + 5 tokens are used during the period
    clock.at(ts(2025, 3, 11))
    for value in (10, 15, 5):
        catalog.usage(meter, customer, value)
    clock.at(ts(2025, 3, 20))
    preview = ok(catalog.preview(subscription=sub["id"]))
    # THEN seats bill 2 × 1000 = 2000 for the next period, tokens 30 × 0.05 = 1.5 → 2 for this one
    seat_line, token_line = preview["lines"]["data"]
    assert (seat_line["amount"], seat_line["quantity"], seat_line["description"]) == (2000, 2, "2 × Seats")
    assert seat_line["period"] == {"start": end, "end": next_end}
    assert (token_line["amount"], token_line["quantity"]) == (2, 30)
    assert token_line["description"] == "30 × Alpaca AI tokens"
    assert token_line["period"] == {"start": start, "end": end}
    assert (preview["subtotal"], preview["total"], preview["amount_due"]) == (2002, 2002, 2002)
    assert (preview["amount_paid"], preview["amount_remaining"], preview["total_excluding_tax"]) == (
        0,
        2002,
        2002,
    )
    # AND the invoice is Stripe-shaped: a draft for the ended period, created at its end
    assert set(support.stripe_fixture("invoice")) <= set(preview)
    assert set(support.stripe_fixture("line_item")) <= set(token_line)
    assert preview["id"].startswith("upcoming_in_") and preview["object"] == "invoice"
    assert (preview["status"], preview["billing_reason"], preview["currency"]) == ("draft", "upcoming", "usd")
    assert (preview["customer"], preview["subscription"], preview["customer_email"]) == (
        customer["id"],
        sub["id"],
        "jenny@example.com",
    )
    assert (preview["period_start"], preview["period_end"], preview["created"]) == (start, end, end)
    assert preview["lines"]["total_count"] == 2
    assert token_line["id"].startswith("il_tmp_") and token_line["invoice"] == preview["id"]
    assert token_line["pricing"] == {
        "type": "price_details",
        "price_details": {"price": tokens["id"], "product": tokens["product"]},
        "unit_amount_decimal": "0.05",
    }
    details = token_line["parent"]["subscription_item_details"]
    assert token_line["parent"]["type"] == "subscription_item_details"
    assert (details["subscription"], details["subscription_item"], details["proration"]) == (
        sub["id"],
        sub["items"]["data"][1]["id"],
        False,
    )
    # AND nothing was stored: no event for the preview (the only invoice events are those of the
    #     subscription's creation invoice)
    found = ok(catalog.api.get("/v1/events", {"limit": 100}))["data"]
    reasons = {e["data"]["object"]["billing_reason"] for e in found if e["type"].startswith("invoice.")}
    assert reasons == {"subscription_create"}


def test_tiered_metered_preview(catalog: Catalog, clock: Clock) -> None:
    # GIVEN graduated tiers: first 100 at 10 + a flat 500, the rest at 5
    customer, meter = catalog.customer(), catalog.meter()
    price = catalog.metered(
        "API calls",
        meter,
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[{"up_to": 100, "unit_amount": 10, "flat_amount": 500}, {"up_to": "inf", "unit_amount": 5}],
    )
    sub = catalog.subscribe(customer, {"price": price["id"]})
    # WHEN 150 calls are used
    clock.at(ts(2025, 3, 11))
    catalog.usage(meter, customer, 120)
    catalog.usage(meter, customer, 30)
    preview = ok(catalog.preview(subscription=sub["id"]))
    # THEN 100 × 10 + 500 + 50 × 5 = 1750
    line = preview["lines"]["data"][0]
    assert (line["quantity"], line["amount"], preview["total"]) == (150, 1750, 1750)


def test_jpy_preview_has_no_minor_unit(catalog: Catalog, clock: Clock) -> None:
    # GIVEN 3 seats at ¥1000 and calls at ¥3 each
    customer, meter = catalog.customer(), catalog.meter()
    seats = catalog.price("Seats", currency="jpy", unit_amount=1000)
    calls = catalog.metered("Calls", meter, currency="jpy", unit_amount=3)
    sub = catalog.subscribe(customer, {"price": seats["id"], "quantity": 3}, {"price": calls["id"]})
    # WHEN 1234 calls are used
    clock.at(ts(2025, 3, 12))
    catalog.usage(meter, customer, 1234)
    preview = ok(catalog.preview(customer=customer["id"]))
    # THEN ¥3000 + 1234 × ¥3 = ¥3702 → ¥6702, in yen (no ×100 anywhere)
    assert preview["currency"] == "jpy" and preview["subscription"] == sub["id"]
    assert [line["amount"] for line in preview["lines"]["data"]] == [3000, 3702]
    assert preview["total"] == 6702


def test_negative_usage_bills_zero(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a metered subscription whose usage nets to -5
    customer, meter = catalog.customer(), catalog.meter()
    sub = catalog.subscribe(customer, {"price": catalog.metered("Credits", meter, unit_amount=7)["id"]})
    clock.at(ts(2025, 3, 11))
    catalog.usage(meter, customer, 5)
    catalog.usage(meter, customer, -10)
    # WHEN previewed
    line = ok(catalog.preview(subscription=sub["id"]))["lines"]["data"][0]
    # THEN the line shows 0 and bills 0
    assert (line["quantity"], line["amount"]) == (0, 0)


def test_usage_of_other_customers_and_periods_is_excluded(catalog: Catalog, clock: Clock) -> None:
    # GIVEN two customers on the same metered price
    meter = catalog.meter()
    price = catalog.metered("Tokens", meter, unit_amount=1)
    alice, bob = catalog.customer(name="Alice"), catalog.customer(name="Bob")
    sub = catalog.subscribe(alice, {"price": price["id"]})
    catalog.subscribe(bob, {"price": price["id"]})
    # WHEN both use tokens in this period, and Alice also in the next one
    clock.at(ts(2025, 4, 9, 23, 59))
    catalog.usage(meter, alice, 7)
    catalog.usage(meter, bob, 1000)
    clock.at(ts(2025, 4, 10))
    catalog.usage(meter, alice, 500)
    clock.at(ts(2025, 4, 9, 23, 59))
    # THEN Alice's preview counts only her usage in [Mar 10, Apr 10)
    assert ok(catalog.preview(subscription=sub["id"]))["total"] == 7


def test_preview_by_customer_picks_the_period_ending_first(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a customer with a monthly and a weekly subscription
    customer = catalog.customer()
    catalog.subscribe(customer, {"price": catalog.price("Monthly", unit_amount=1000)["id"]})
    weekly = catalog.subscribe(
        customer, {"price": catalog.price("Weekly", interval="week", unit_amount=300)["id"]}
    )
    # WHEN previewed by customer
    preview = ok(catalog.preview(customer=customer["id"]))
    # THEN the weekly one (ending Mar 17) is the next invoice
    assert (preview["subscription"], preview["total"], preview["period_end"]) == (
        weekly["id"],
        300,
        ts(2025, 3, 17),
    )


def test_preview_errors(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a customer without subscriptions, and one with
    idle, busy = catalog.customer(), catalog.customer()
    sub = catalog.subscribe(busy, {"price": catalog.price("Seats", unit_amount=1)["id"]})
    cases: list[tuple[dict[str, Any], str | None, str]] = [
        ({"customer": idle["id"]}, None, "invoice_upcoming_none"),
        ({"customer": "cus_nope"}, "customer", "resource_missing"),
        ({"subscription": "sub_nope"}, "subscription", "resource_missing"),
        ({}, "customer", "parameter_missing"),
        ({"subscription": sub["id"], "customer": idle["id"]}, "customer", "parameter_invalid"),
        ({"subscription": sub["id"], "coupon": "x"}, "coupon", "parameter_unknown"),
    ]
    for params, param, code in cases:
        # WHEN a preview is asked for with one problem
        response = catalog.preview(**params)
        # THEN it is a 400 with Stripe's code
        error = support.assert_stripe_error(response.status, response.json, 400, param=param, code=code)
        if code == "invoice_upcoming_none":
            assert error["message"] == f"No upcoming invoices for customer: {idle['id']}"
