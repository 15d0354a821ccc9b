"""Every object Tally serves reads as Stripe's own types: field presence, nullability and types.

Each object is made through the API (in-process) and walked by `stripe_shapes.problems`, which
compares every field with the installed stripe SDK's typed resources and with which fields Stripe
leaves out or sends as null (tests/data/stripe-fields.json). A null where Stripe's type is not
nullable breaks typed SDKs: Stripe .NET cannot read `"quantity": null` into `long Quantity`.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe_shapes
import support


def ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


@pytest.fixture
def served(api: support.Api) -> dict[str, dict[str, Any]]:
    """One of every object Tally serves, each as the API answered it (lists included)."""
    out: dict[str, dict[str, Any]] = {}
    out["customer"] = customer = ok(api.post("/v1/customers", {"name": "Jenny", "email": "j@example.com"}))
    ledger = f"/v1/customers/{customer['id']}/balance_transactions"
    out["customer_balance_transaction"] = ok(api.post(ledger, {"amount": -500, "currency": "usd"}))
    out["list customer_balance_transactions"] = ok(api.get(ledger))
    # billing credits (branch grants)
    grant = {
        "customer": customer["id"],
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 1000}},
        "applicability_config": {"scope": {"price_type": "metered"}},
        "expires_at": 4_102_444_800,
    }
    out["billing.credit_grant"] = credit_grant = ok(api.post("/v1/billing/credit_grants", grant))
    out["list billing.credit_grants"] = ok(api.get("/v1/billing/credit_grants", {"customer": customer["id"]}))
    out["expired billing.credit_grant"] = ok(
        api.post(f"/v1/billing/credit_grants/{credit_grant['id']}/expire")
    )
    out["list billing.credit_balance_transactions"] = ok(
        api.get("/v1/billing/credit_balance_transactions", {"customer": customer["id"]})
    )
    out["billing.credit_balance_summary"] = ok(
        api.get(
            "/v1/billing/credit_balance_summary",
            {
                "customer": customer["id"],
                "filter": {"type": "credit_grant", "credit_grant": credit_grant["id"]},
            },
        )
    )
    out["product"] = product = ok(api.post("/v1/products", {"name": "Seats", "unit_label": "seat"}))
    out["meter"] = meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "Tokens", "event_name": "tokens", "default_aggregation": {"formula": "sum"}},
        )
    )
    out["price"] = seats = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1000,
                "product": product["id"],
                "recurring": {"interval": "month"},
            },
        )
    )
    out["product_with_default_price"] = ok(
        api.post(f"/v1/products/{product['id']}", {"default_price": seats["id"]})
    )
    out["tiered_price"] = tokens = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "product_data": {"name": "Tokens"},
                "billing_scheme": "tiered",
                "tiers_mode": "graduated",
                "tiers": [{"up_to": 1000, "unit_amount_decimal": "0.5"}, {"up_to": "inf", "flat_amount": 7}],
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )
    out["decimal_price"] = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "product_data": {"name": "Calls"},
                "unit_amount_decimal": "0.05",
                "transform_quantity": {"divide_by": 100, "round": "up"},
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )
    out["subscription"] = sub = ok(
        api.post(
            "/v1/subscriptions",
            {
                "customer": customer["id"],
                "items": [{"price": seats["id"], "quantity": 3}, {"price": tokens["id"]}],
            },
        )
    )
    now = int(time.time())
    payload = {"stripe_customer_id": customer["id"], "value": "1500"}
    out["meter_event"] = ok(
        api.post("/v1/billing/meter_events", {"event_name": "tokens", "payload": payload, "identifier": "e1"})
    )
    ok(api.post("/v1/billing/meter_events", {"event_name": "tokens", "payload": payload, "identifier": "e2"}))
    out["meter_event_adjustment"] = ok(
        api.post(
            "/v1/billing/meter_event_adjustments",
            {"event_name": "tokens", "type": "cancel", "cancel": {"identifier": "e2"}},
        )
    )
    ok(
        api.post(
            "/v2/billing/meter_events", json={"event_name": "tokens", "payload": payload, "identifier": "e3"}
        )
    )
    out["v2_meter_event"] = ok(
        api.post(
            "/v2/billing/meter_events", json={"event_name": "tokens", "payload": payload, "identifier": "e4"}
        )
    )
    out["v2_meter_event_adjustment"] = ok(
        api.post(
            "/v2/billing/meter_event_adjustments",
            json={"event_name": "tokens", "type": "cancel", "cancel": {"identifier": "e3"}},
        )
    )
    start = now - now % 3600
    out["summaries"] = ok(
        api.get(
            f"/v1/billing/meters/{meter['id']}/event_summaries",
            {"customer": customer["id"], "start_time": start, "end_time": start + 7200},
        )
    )
    out["hourly_summaries"] = ok(
        api.get(
            f"/v1/billing/meters/{meter['id']}/event_summaries",
            {
                "customer": customer["id"],
                "start_time": start,
                "end_time": start + 7200,
                "value_grouping_window": "hour",
            },
        )
    )
    out["invoice"] = ok(api.post("/v1/invoices/create_preview", {"subscription": sub["id"]}))
    out["canceled_subscription"] = ok(api.delete(f"/v1/subscriptions/{sub['id']}"))
    out["session"] = ok(api.post("/v2/billing/meter_event_session", json={}))
    # revenue recognition (branch revrec): a report run, its file, the report types
    interval = {"interval_start": 1735689600, "interval_end": 1738368000}
    summary = "revenue_recognition.debit_credit_summary.1"
    out["report_run"] = run = ok(
        api.post("/v1/reporting/report_runs", {"report_type": summary, "parameters": interval})
    )
    out["list report_runs"] = ok(api.get("/v1/reporting/report_runs"))
    out["file"] = ok(api.get(f"/v1/files/{run['result']['id']}"))
    out["list report_types"] = ok(api.get("/v1/reporting/report_types"))
    out["alert"] = ok(
        api.post(
            "/v1/billing/alerts",
            {
                "alert_type": "usage_threshold",
                "title": "Tokens",
                "usage_threshold": {
                    "meter": meter["id"],
                    "gte": 1,
                    "recurrence": "one_time",
                    "filters": [{"type": "customer", "customer": customer["id"]}],
                },
            },
        )
    )
    crossing = {"stripe_customer_id": customer["id"], "value": "5"}
    ahead = int(time.time()) // 60 * 60 + 120  # usage counts from the minute after the alert's creation
    ok(
        api.post(
            "/v1/billing/meter_events", {"event_name": "tokens", "payload": crossing, "timestamp": ahead}
        )
    )
    out["list billing/alerts"] = ok(api.get("/v1/billing/alerts"))
    for name in ("customers", "products", "prices", "subscriptions", "events", "billing/meters"):
        out[f"list {name}"] = ok(api.get(f"/v1/{name}", {"status": "all"} if name == "subscriptions" else {}))
    events = out["list events"]["data"]
    out["event"] = ok(api.get(f"/v1/events/{events[0]['id']}"))
    out["subscription_items"] = items = ok(api.get("/v1/subscription_items", {"subscription": sub["id"]}))
    out["subscription_item"] = ok(api.get(f"/v1/subscription_items/{items['data'][0]['id']}"))
    for name, query in (
        ("customers", "email:'j@example.com'"),
        ("products", "active:'true'"),
        ("prices", "currency:'usd'"),
        ("subscriptions", "status:'canceled'"),
    ):
        out[f"search {name}"] = ok(api.get(f"/v1/{name}/search", {"query": query}))
    spare = ok(api.post("/v1/products", {"name": "Spare"}))
    out["deleted_product"] = ok(api.delete(f"/v1/products/{spare['id']}"))
    out["deleted_customer"] = ok(api.delete(f"/v1/customers/{customer['id']}"))
    # A customer on a test clock: its subscription and invoice name the clock; the clock advancing
    clocks = "/v1/test_helpers/test_clocks"
    frozen = now - now % 86400
    out["test_clock"] = clock = ok(api.post(clocks, {"frozen_time": frozen, "name": "Q1"}))
    on_clock = ok(api.post("/v1/customers", {"name": "On a clock", "test_clock": clock["id"]}))
    clock_sub = ok(
        api.post("/v1/subscriptions", {"customer": on_clock["id"], "items": [{"price": seats["id"]}]})
    )
    out["advancing_test_clock"] = ok(
        api.post(f"{clocks}/{clock['id']}/advance", {"frozen_time": frozen + 32 * 86400})
    )
    api.functions.drain()
    out["list test clocks"] = ok(api.get(clocks))
    out["clock_subscriptions"] = ok(api.get("/v1/subscriptions", {"test_clock": clock["id"]}))
    out["clock_invoices"] = ok(api.get("/v1/invoices", {"subscription": clock_sub["id"]}))
    assert out["clock_invoices"]["data"][0]["test_clock"] == clock["id"]
    out["deleted_test_clock"] = ok(api.delete(f"{clocks}/{clock['id']}"))
    out["webhook_endpoint"] = hook = ok(
        api.post("/v1/webhook_endpoints", {"url": "https://hooks.example.com/", "enabled_events": ["*"]})
    )
    out["list webhook_endpoints"] = ok(api.get("/v1/webhook_endpoints"))
    out["deleted_webhook_endpoint"] = ok(api.delete(f"/v1/webhook_endpoints/{hook['id']}"))
    # branch portal: a customer portal session
    portal_customer = ok(api.post("/v1/customers", {"name": "Portal"}))["id"]
    out["billing_portal_session"] = ok(
        api.post(
            "/v1/billing_portal/sessions", {"customer": portal_customer, "return_url": "https://x.example/"}
        )
    )
    # oneoff (issue 13 point 5): invoice items and a one-off invoice holding them
    buyer = ok(api.post("/v1/customers", {"name": "Buyer"}))["id"]
    item = {"customer": buyer, "amount": 700, "currency": "usd", "description": "Setup"}
    out["invoiceitem"] = ok(api.post("/v1/invoiceitems", item))
    out["list invoiceitems"] = ok(api.get("/v1/invoiceitems", {"customer": buyer}))
    one_off = {"customer": buyer, "pending_invoice_items_behavior": "include"}
    out["one_off_invoice"] = ok(api.post("/v1/invoices", {**one_off, "collection_method": "send_invoice"}))
    spare = ok(api.post("/v1/invoiceitems", item))
    out["deleted_invoiceitem"] = ok(api.delete(f"/v1/invoiceitems/{spare['id']}"))
    return out


def test_every_served_object_reads_as_stripes_types(served: dict[str, dict[str, Any]]) -> None:
    # GIVEN one of every object and list Tally serves, made through the API
    # WHEN each is walked against the stripe SDK's types and Stripe's nullability
    found = {name: stripe_shapes.problems(obj) for name, obj in served.items()}
    # THEN no field is null where Stripe's is not, of the wrong type, or unknown to Stripe
    assert {name: lines for name, lines in found.items() if lines} == {}
    # AND the walk did see every kind of object (lists' and events' contents included)
    assert kinds_in(served) >= set(stripe_shapes.roots()) | {"list"}


def kinds_in(value: Any) -> set[str]:
    """Every `object` value anywhere in a JSON value."""
    if isinstance(value, list):
        return set().union(*map(kinds_in, value)) if value else set()
    if not isinstance(value, dict):
        return set()
    own = {value["object"]} if isinstance(value.get("object"), str) else set()
    return own.union(*map(kinds_in, value.values()))


def test_a_metered_item_has_no_quantity_as_in_stripe(served: dict[str, dict[str, Any]]) -> None:
    # GIVEN a subscription with a licensed item (3 seats) and a metered item
    seats, tokens = served["subscription"]["items"]["data"]
    # THEN the licensed item has its quantity and the metered one none at all (not null), as Stripe
    assert seats["quantity"] == 3
    assert "quantity" not in tokens
    # AND so in the subscription's events and lists too
    created = next(e for e in served["list events"]["data"] if e["type"] == "customer.subscription.created")
    assert "quantity" not in created["data"]["object"]["items"]["data"][1]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            {"object": "subscription_item", "id": "si_1", "quantity": None},
            "subscription_item.quantity: null, but Stripe's SubscriptionItem.quantity is never null",
        ),
        ({"object": "customer", "id": "cus_1", "balance": "0"}, "customer.balance: '0' is not an integer"),
        ({"object": "customer", "id": "cus_1", "livemode": 0}, "customer.livemode: 0 is not a boolean"),
        (
            {"object": "product", "id": "prod_1", "colour": "red"},
            "product.colour: Stripe's Product has no such",
        ),
        (
            {"object": "price", "id": "price_1", "recurring": {"interval": "month", "usage_type": None}},
            "price.recurring.usage_type: null, but Stripe's Price.Recurring.usage_type is never null",
        ),
    ],
)
def test_the_checker_flags_what_stripes_sdks_cannot_read(obj: dict[str, Any], expected: str) -> None:
    # GIVEN an object with one field Stripe's types reject WHEN checked THEN that field is named
    assert any(line.startswith(expected) for line in stripe_shapes.problems(obj)), stripe_shapes.problems(obj)
