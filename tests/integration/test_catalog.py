"""Products, prices and the event log through the API handlers (moto, tables from template.yaml).

Uses the `api` fixture of tests/integration/conftest.py (fresh account per test).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import support
import time_machine


def ok(response: support.Response, status: int = 200) -> dict[str, Any]:
    assert response.status == status, response.text
    return response.json


def make_product(api: support.Api, **fields: Any) -> dict[str, Any]:
    return ok(api.post("/v1/products", {"name": "Alpaca AI tokens", **fields}))


def make_meter(api: support.Api, event_name: str = "alpaca_ai_tokens") -> dict[str, Any]:
    return ok(
        api.post(
            "/v1/billing/meters",
            {
                "display_name": "Alpaca AI tokens",
                "event_name": event_name,
                "default_aggregation": {"formula": "sum"},
            },
        )
    )


def price_params(product: str, **overrides: Any) -> dict[str, Any]:
    return {"product": product, "currency": "usd", "unit_amount": 2000, **overrides}


# --- products ----------------------------------------------------------------------------------


def test_product_create_has_stripe_shape_and_event(api: support.Api) -> None:
    # GIVEN an account
    # WHEN a product is created
    product = make_product(api, description="Tokens", unit_label="token", metadata={"tier": "a"})
    # THEN it has every field of Stripe's product (same names, same types where set)
    fixture = support.stripe_fixture("product")
    assert set(fixture) <= set(product)
    assert product["id"].startswith("prod_") and len(product["id"]) == len("prod_") + 14
    assert product["object"] == "product" and product["active"] is True
    assert (product["name"], product["description"], product["unit_label"]) == (
        "Alpaca AI tokens",
        "Tokens",
        "token",
    )
    assert product["metadata"] == {"tier": "a"}
    # AND a product.created event holds it
    events = support.stored_events(api.account.id)
    assert [e["type"] for e in events] == ["product.created"]
    assert events[0]["data"]["object"] == product


def test_product_name_is_required_and_unknown_params_rejected(api: support.Api) -> None:
    # WHEN a product is created without a name, or with an unknown param
    missing = api.post("/v1/products", {"description": "x"})
    unknown = api.post("/v1/products", {"name": "x", "colour": "red"})
    # THEN both are rejected, naming the param, and nothing is stored
    support.assert_stripe_error(missing.status, missing.json, 400, code="parameter_missing", param="name")
    support.assert_stripe_error(unknown.status, unknown.json, 400, code="parameter_unknown", param="colour")
    assert support.stored_events(api.account.id) == []


def test_product_update_and_active_filter(api: support.Api) -> None:
    # GIVEN two products
    kept = make_product(api, name="Kept")
    retired = make_product(api, name="Retired")
    # WHEN one is deactivated and renamed
    updated = ok(api.post(f"/v1/products/{retired['id']}", {"active": "false", "name": "Old"}))
    # THEN the change is returned, recorded with previous attributes, and the filter sees it
    assert (updated["active"], updated["name"]) == (False, "Old")
    event = support.stored_events(api.account.id)[0]
    assert event["type"] == "product.updated"
    assert event["data"]["previous_attributes"] == {"active": True, "name": "Retired"}
    active = ok(api.get("/v1/products", {"active": "true"}))
    inactive = ok(api.get("/v1/products", {"active": "false"}))
    assert [p["id"] for p in active["data"]] == [kept["id"]]
    assert [p["id"] for p in inactive["data"]] == [retired["id"]]
    assert ok(api.get(f"/v1/products/{retired['id']}")) == updated


def test_product_default_price_must_be_its_own(api: support.Api) -> None:
    # GIVEN two products, each with a price
    a, b = make_product(api, name="A"), make_product(api, name="B")
    price_b = ok(api.post("/v1/prices", price_params(b["id"])))
    # WHEN A's default price is set to B's price, then B's
    wrong = api.post(f"/v1/products/{a['id']}", {"default_price": price_b["id"]})
    right = api.post(f"/v1/products/{b['id']}", {"default_price": price_b["id"]})
    # THEN only the product's own price is accepted
    support.assert_stripe_error(wrong.status, wrong.json, 400, param="default_price")
    assert ok(right)["default_price"] == price_b["id"]


# --- prices: shapes ------------------------------------------------------------------------------


def test_per_unit_price_matches_stripe_shape(api: support.Api) -> None:
    # GIVEN a product
    product = make_product(api)
    # WHEN a recurring per-unit price is created with an upper-case currency
    price = ok(
        api.post(
            "/v1/prices",
            price_params(product["id"], currency="USD", recurring={"interval": "month"}, nickname="Pro"),
        )
    )
    # THEN it has Stripe's fields and types, with the currency stored lower-case
    fixture = support.stripe_fixture("price")
    assert set(price) == set(fixture)
    for name, value in fixture.items():
        if price[name] is not None and value is not None:
            assert type(price[name]) is type(value), name
    assert price["id"].startswith("price_") and price["object"] == "price"
    assert price["currency"] == "usd" and price["type"] == "recurring"
    assert (price["unit_amount"], price["unit_amount_decimal"]) == (2000, "2000")
    assert price["recurring"] == {
        "interval": "month",
        "interval_count": 1,
        "meter": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }
    assert price["transform_quantity"] is None and price["tiers_mode"] is None
    assert ok(api.get(f"/v1/prices/{price['id']}")) == price
    assert support.stored_events(api.account.id)[0]["type"] == "price.created"


@pytest.mark.parametrize(
    ("decimal", "unit_amount", "shown"),
    [
        ("0.05", None, "0.05"),  # a fraction: no integer form
        ("2000.000", 2000, "2000"),  # whole: both forms, trailing zeros dropped
        ("0.000000000001", None, "0.000000000001"),  # 12 decimal places
    ],
)
def test_unit_amount_decimal(api: support.Api, decimal: str, unit_amount: int | None, shown: str) -> None:
    # GIVEN a product
    product = make_product(api)
    # WHEN a price is given only as a decimal
    params = {"product": product["id"], "currency": "usd", "unit_amount_decimal": decimal}
    price = ok(api.post("/v1/prices", params))
    # THEN unit_amount is its integer form (or null) and unit_amount_decimal a string
    assert (price["unit_amount"], price["unit_amount_decimal"]) == (unit_amount, shown)
    assert price["type"] == "one_time" and price["recurring"] is None


def test_product_data_creates_the_product_first(api: support.Api) -> None:
    # WHEN a price is created with inline product data
    price = ok(
        api.post(
            "/v1/prices",
            {"currency": "eur", "unit_amount": 5, "product_data": {"name": "Inline", "metadata": {"k": "v"}}},
        )
    )
    # THEN the product exists, with its own event (both events share the request's timestamp)
    product = ok(api.get(f"/v1/products/{price['product']}"))
    assert (product["name"], product["metadata"]) == ("Inline", {"k": "v"})
    types = sorted(e["type"] for e in support.stored_events(api.account.id))
    assert types == ["price.created", "product.created"]


def test_tiered_metered_price_includes_tiers(api: support.Api) -> None:
    # GIVEN a product and a meter
    product, meter = make_product(api), make_meter(api)
    # WHEN a graduated, metered price is created
    price = ok(
        api.post(
            "/v1/prices",
            {
                "product": product["id"],
                "currency": "usd",
                "billing_scheme": "tiered",
                "tiers_mode": "graduated",
                "tiers": [
                    {"up_to": 1000, "unit_amount_decimal": "0.5", "flat_amount": 100},
                    {"up_to": "inf", "unit_amount": 0},
                ],
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )
    # THEN the tiers are returned in Stripe's shape (inf as null), with no top-level unit amount
    assert price["tiers"] == [
        {
            "flat_amount": 100,
            "flat_amount_decimal": "100",
            "unit_amount": None,
            "unit_amount_decimal": "0.5",
            "up_to": 1000,
        },
        {
            "flat_amount": None,
            "flat_amount_decimal": None,
            "unit_amount": 0,
            "unit_amount_decimal": "0",
            "up_to": None,
        },
    ]
    assert (price["unit_amount"], price["unit_amount_decimal"]) == (None, None)
    assert price["recurring"]["meter"] == meter["id"]
    assert price["recurring"]["usage_type"] == "metered"


def test_transform_quantity_is_returned(api: support.Api) -> None:
    product = make_product(api)
    # WHEN a package price is created
    price = ok(
        api.post(
            "/v1/prices",
            price_params(product["id"], transform_quantity={"divide_by": 1000, "round": "up"}),
        )
    )
    # THEN transform_quantity reads back
    assert price["transform_quantity"] == {"divide_by": 1000, "round": "up"}


# --- prices: validation --------------------------------------------------------------------------

TIERS_OK = [{"up_to": 10, "unit_amount": 5}, {"up_to": "inf", "unit_amount": 1}]


def tiered(**overrides: Any) -> dict[str, Any]:
    return {
        "billing_scheme": "tiered",
        "unit_amount": None,
        "tiers_mode": "volume",
        "tiers": TIERS_OK,
        "recurring": {"interval": "month"},
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        pytest.param(
            tiered(tiers=[{"up_to": 10, "unit_amount": 5}, {"up_to": 20, "unit_amount": 1}]),
            "tiers",
            id="tiers-not-ending-in-inf",
        ),
        pytest.param(
            tiered(
                tiers=[
                    {"up_to": 20, "unit_amount": 5},
                    {"up_to": 10, "unit_amount": 3},
                    {"up_to": "inf", "unit_amount": 1},
                ]
            ),
            "tiers",
            id="tiers-out-of-order",
        ),
        pytest.param(
            tiered(tiers=[{"up_to": "inf", "unit_amount": 1}, {"up_to": "inf", "unit_amount": 1}]),
            "tiers",
            id="inf-not-last",
        ),
        pytest.param(tiered(tiers=[{"up_to": "lots", "unit_amount": 1}]), "tiers[0][up_to]", id="bad-up-to"),
        pytest.param(
            tiered(tiers=[{"up_to": 10}, {"up_to": "inf", "unit_amount": 1}]), "tiers", id="tier-no-amount"
        ),
        pytest.param(
            tiered(transform_quantity={"divide_by": 10, "round": "up"}),
            "transform_quantity",
            id="transform-with-tiers",
        ),
        pytest.param(tiered(tiers_mode=None), "tiers_mode", id="tiered-without-mode"),
        pytest.param(tiered(tiers=None), "tiers", id="tiered-without-tiers"),
        pytest.param(tiered(recurring=None), "billing_scheme", id="tiered-one-time"),
        pytest.param({"tiers_mode": "volume"}, "tiers_mode", id="mode-on-per-unit"),
        pytest.param({"billing_scheme": "flat"}, "billing_scheme", id="unknown-scheme"),
        pytest.param(
            {"recurring": {"interval": "month", "usage_type": "metered"}},
            "recurring[meter]",
            id="metered-without-meter",
        ),
        pytest.param(
            {"recurring": {"interval": "month", "usage_type": "metered", "meter": "mtr_missing"}},
            "recurring[meter]",
            id="unknown-meter",
        ),
        pytest.param(
            {"recurring": {"interval": "month", "meter": "mtr_missing"}},
            "recurring[meter]",
            id="licensed-with-meter",
        ),
        pytest.param(
            {"recurring": {"interval": "month", "interval_count": 37}},
            "recurring[interval_count]",
            id="interval-over-3-years",
        ),
        pytest.param({"recurring": {"interval": "fortnight"}}, "recurring[interval]", id="bad-interval"),
        pytest.param({"currency": "xyz"}, "currency", id="unknown-currency"),
        pytest.param({"currency": "us"}, "currency", id="short-currency"),
        pytest.param({"unit_amount_decimal": "20"}, "unit_amount_decimal", id="both-amount-forms"),
        pytest.param({"unit_amount": -1}, "unit_amount", id="negative-amount"),
        pytest.param({"unit_amount": 100_000_000}, "unit_amount", id="amount-too-large"),
        pytest.param(
            {"unit_amount": None, "unit_amount_decimal": "100000000"},
            "unit_amount_decimal",
            id="decimal-too-large",
        ),
        pytest.param(
            {"unit_amount": None, "unit_amount_decimal": "0.0000000000001"},
            "unit_amount_decimal",
            id="decimal-13-places",
        ),
        pytest.param({"unit_amount": None}, "unit_amount", id="no-amount"),
        pytest.param({"currency": "kwd", "unit_amount": 12345}, "unit_amount", id="three-decimal-not-0"),
        pytest.param(
            {"currency": "bhd", "unit_amount": None, "unit_amount_decimal": "100.5"},
            "unit_amount_decimal",
            id="three-decimal-fraction",
        ),
        pytest.param(
            tiered(currency="jod", tiers=[{"up_to": "inf", "flat_amount": 1005}]),
            "tiers[0][flat_amount]",
            id="three-decimal-tier",
        ),
        pytest.param(
            {"transform_quantity": {"divide_by": 0, "round": "up"}},
            "transform_quantity[divide_by]",
            id="divide-by-zero",
        ),
        pytest.param(
            {"transform_quantity": {"divide_by": 10, "round": "nearest"}},
            "transform_quantity[round]",
            id="bad-round",
        ),
        pytest.param({"product": "prod_missing"}, "product", id="unknown-product"),
        pytest.param({"product": None}, "product", id="no-product"),
        pytest.param({"product_data": {"name": "Both"}}, "product", id="product-and-product-data"),
        pytest.param({"lookup_key": "x" * 201}, "lookup_key", id="lookup-key-too-long"),
    ],
)
def test_invalid_price_is_rejected(api: support.Api, overrides: dict[str, Any], param: str) -> None:
    # GIVEN a product
    product = make_product(api)
    before = support.stored_events(api.account.id)
    # WHEN a price is created with one invalid part
    params = {k: v for k, v in {**price_params(product["id"]), **overrides}.items() if v is not None}
    response = api.post("/v1/prices", params)
    # THEN it is a 400 naming the param, and nothing is stored
    support.assert_stripe_error(
        response.status, response.json, 400, type="invalid_request_error", param=param
    )
    assert support.stored_events(api.account.id) == before


def test_unknown_product_is_resource_missing(api: support.Api) -> None:
    response = api.post("/v1/prices", price_params("prod_nope"))
    error = support.assert_stripe_error(response.status, response.json, 400, code="resource_missing")
    assert error["message"] == "No such product: 'prod_nope'"


def test_inactive_meter_is_rejected(api: support.Api) -> None:
    # GIVEN a deactivated meter
    product, meter = make_product(api), make_meter(api)
    ok(api.post(f"/v1/billing/meters/{meter['id']}/deactivate"))
    # WHEN a metered price uses it
    recurring = {"interval": "month", "usage_type": "metered", "meter": meter["id"]}
    response = api.post("/v1/prices", price_params(product["id"], recurring=recurring))
    # THEN it is rejected
    support.assert_stripe_error(response.status, response.json, 400, param="recurring[meter]")


def test_three_decimal_and_zero_decimal_amounts_accepted(api: support.Api) -> None:
    product = make_product(api)
    # WHEN amounts follow each currency's rule
    kwd = api.post("/v1/prices", price_params(product["id"], currency="KWD", unit_amount=12340))
    jpy = api.post("/v1/prices", price_params(product["id"], currency="jpy", unit_amount=1234))
    # THEN both are stored as given (minor units; JPY has none)
    assert (ok(kwd)["currency"], ok(kwd)["unit_amount"]) == ("kwd", 12340)
    assert (ok(jpy)["currency"], ok(jpy)["unit_amount"]) == ("jpy", 1234)


# --- prices: lookup keys, updates, lists ---------------------------------------------------------


def test_lookup_keys_filter_and_uniqueness(api: support.Api) -> None:
    # GIVEN three prices, two with lookup keys
    product = make_product(api)
    basic = ok(api.post("/v1/prices", price_params(product["id"], lookup_key="basic")))
    pro = ok(api.post("/v1/prices", price_params(product["id"], lookup_key="pro")))
    ok(api.post("/v1/prices", price_params(product["id"])))
    # WHEN prices are listed by lookup key
    found = ok(api.get("/v1/prices", {"lookup_keys": ["basic", "pro", "absent"]}))
    # THEN exactly the keyed prices come back, newest first
    assert [p["id"] for p in found["data"]] == [pro["id"], basic["id"]]
    assert found["url"] == "/v1/prices" and found["has_more"] is False
    # AND a second price cannot take a used key
    taken = api.post("/v1/prices", price_params(product["id"], lookup_key="basic"))
    error = support.assert_stripe_error(taken.status, taken.json, 400, param="lookup_key")
    assert basic["id"] in error["message"]


def test_transfer_lookup_key_moves_it(api: support.Api) -> None:
    # GIVEN a price holding a lookup key
    product = make_product(api)
    old = ok(api.post("/v1/prices", price_params(product["id"], lookup_key="current")))
    # WHEN a new price takes it with transfer_lookup_key
    new = ok(
        api.post(
            "/v1/prices",
            price_params(product["id"], unit_amount=2500, lookup_key="current", transfer_lookup_key="true"),
        )
    )
    # THEN the new price holds it and the old one lost it
    assert new["lookup_key"] == "current"
    assert ok(api.get(f"/v1/prices/{old['id']}"))["lookup_key"] is None
    found = ok(api.get("/v1/prices", {"lookup_keys": ["current"]}))
    assert [p["id"] for p in found["data"]] == [new["id"]]


def test_price_update_changes_only_mutable_fields(api: support.Api) -> None:
    # GIVEN a price with a lookup key
    product = make_product(api)
    price = ok(api.post("/v1/prices", price_params(product["id"], lookup_key="a")))
    # WHEN it is deactivated, renamed and re-keyed
    updated = ok(
        api.post(
            f"/v1/prices/{price['id']}",
            {"active": "false", "nickname": "Legacy", "lookup_key": "b", "metadata": {"x": "1"}},
        )
    )
    # THEN those fields change and the old key is free again
    assert (updated["active"], updated["nickname"], updated["lookup_key"]) == (False, "Legacy", "b")
    assert updated["metadata"] == {"x": "1"}
    event = support.stored_events(api.account.id)[0]
    assert event["type"] == "price.updated"
    assert event["data"]["previous_attributes"] == {
        "active": True,
        "nickname": None,
        "lookup_key": "a",
        "metadata": {},
    }
    ok(api.post("/v1/prices", price_params(product["id"], lookup_key="a")))
    # AND amounts cannot be updated
    response = api.post(f"/v1/prices/{price['id']}", {"unit_amount": 1})
    support.assert_stripe_error(response.status, response.json, 400, code="parameter_unknown")


def test_price_list_filters(api: support.Api) -> None:
    # GIVEN prices of two products, currencies, types and usage types
    a, b = make_product(api, name="A"), make_product(api, name="B")
    meter = make_meter(api)
    one_time = ok(api.post("/v1/prices", price_params(a["id"])))
    monthly = ok(api.post("/v1/prices", price_params(a["id"], recurring={"interval": "month"})))
    metered = ok(
        api.post(
            "/v1/prices",
            price_params(
                b["id"],
                currency="eur",
                recurring={"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            ),
        )
    )
    ok(api.post(f"/v1/prices/{one_time['id']}", {"active": "false"}))

    def ids(**query: Any) -> list[str]:
        return [p["id"] for p in ok(api.get("/v1/prices", query))["data"]]

    # THEN each filter narrows the list
    assert ids(product=a["id"]) == [monthly["id"], one_time["id"]]
    assert ids(type="one_time") == [one_time["id"]]
    assert ids(currency="EUR") == [metered["id"]]
    assert ids(active="true") == [metered["id"], monthly["id"]]
    assert ids(recurring={"usage_type": "metered"}) == [metered["id"]]
    assert ids(limit=1) == [metered["id"]]


# --- events --------------------------------------------------------------------------------------


def test_events_list_and_retrieve(api: support.Api) -> None:
    # GIVEN a product and a price (three events)
    product = make_product(api)
    price = ok(api.post("/v1/prices", price_params(product["id"])))
    ok(api.post(f"/v1/products/{product['id']}", {"name": "Renamed"}))
    # WHEN events are listed, all and by type
    every = ok(api.get("/v1/events"))
    products = ok(api.get("/v1/events", {"type": "product.*"}))
    prices = ok(api.get("/v1/events", {"type": "price.created"}))
    several = ok(api.get("/v1/events", {"types": ["price.created", "product.updated"]}))
    # THEN they come newest first, filtered by exact type or trailing wildcard
    assert [e["type"] for e in every["data"]] == ["product.updated", "price.created", "product.created"]
    assert every["url"] == "/v1/events" and every["object"] == "list"
    assert [e["type"] for e in products["data"]] == ["product.updated", "product.created"]
    assert [e["data"]["object"]["id"] for e in prices["data"]] == [price["id"]]
    assert [e["type"] for e in several["data"]] == ["product.updated", "price.created"]
    # AND one event reads back by id with Stripe's event fields
    event = ok(api.get(f"/v1/events/{prices['data'][0]['id']}"))
    assert set(support.stripe_fixture("event")) <= set(event)
    assert event["id"].startswith("evt_") and event["object"] == "event"


def test_events_pagination_and_created_filter(api: support.Api) -> None:
    # GIVEN three events
    for name in ("a", "b", "c"):
        make_product(api, name=name)
    first = ok(api.get("/v1/events", {"limit": 2}))
    # WHEN the next page is requested
    rest = ok(api.get("/v1/events", {"limit": 2, "starting_after": first["data"][-1]["id"]}))
    # THEN pages chain without overlap
    assert first["has_more"] is True and rest["has_more"] is False
    assert len(first["data"]) == 2 and len(rest["data"]) == 1
    created = first["data"][0]["created"]
    assert len(ok(api.get("/v1/events", {"created": {"gte": created}}))["data"]) >= 1
    assert ok(api.get("/v1/events", {"created": {"gt": created + 1000}}))["data"] == []


@pytest.mark.parametrize("pattern", ["*.created", "cust*omer.*"])
def test_event_type_wildcard_only_trailing(api: support.Api, pattern: str) -> None:
    response = api.get("/v1/events", {"type": pattern})
    support.assert_stripe_error(response.status, response.json, 400, param="type")


def test_events_are_per_account(api: support.Api, other_account: support.Account) -> None:
    # GIVEN an event in one account
    make_product(api)
    event_id = ok(api.get("/v1/events"))["data"][0]["id"]
    other = api.as_(other_account)
    # THEN another account neither lists nor reads it
    assert ok(other.get("/v1/events"))["data"] == []
    response = other.get(f"/v1/events/{event_id}")
    support.assert_stripe_error(response.status, response.json, 404, code="resource_missing")


def test_events_expire_after_30_days(api: support.Api) -> None:
    # GIVEN an event written 31 days ago
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(days=31), tick=False):
        make_product(api)
        event_id = ok(api.get("/v1/events"))["data"][0]["id"]
    # WHEN it is read or listed today
    response = api.get(f"/v1/events/{event_id}")
    listed = ok(api.get("/v1/events"))
    # THEN it is gone, whether or not DynamoDB's TTL removed it yet
    support.assert_stripe_error(response.status, response.json, 404, code="resource_missing")
    assert listed["data"] == []
