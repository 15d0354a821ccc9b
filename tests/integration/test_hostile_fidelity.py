"""Hostile input to what issue 12 points 9 and 10 added: `/v1/subscription_items` create, update
and delete, `GET /v1/invoices/search`, the `Stripe-Version` header, and the `api_version` of
account settings and webhook endpoints. Every row gets a Stripe error envelope with a 4xx (never a
5xx) naming its param, and changes nothing: the subscription, the account settings, the webhook
endpoints and the account's event log read the same before and after."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

ITEMS = "/v1/subscription_items"


@dataclass(frozen=True)
class Row:
    id: str
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    param: str | None = None
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)
    query: str | None = None  # a raw query string (GET/DELETE)


def ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


@pytest.fixture(scope="module")
def seeds(functions) -> dict[str, Any]:
    """One account: a subscription with one licensed item (seats) and one metered item, prices in
    another currency and a metered one, a canceled subscription's item; another account's item."""
    api = support.Api(functions, support.new_account())
    other = support.Api(functions, support.new_account())

    def price(a: support.Api, **extra: Any) -> str:
        body = {"currency": "usd", "unit_amount": 100, "recurring": {"interval": "month"}, **extra}
        return ok(a.post("/v1/prices", {"product_data": {"name": "P"}, **body}))["id"]

    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "T", "event_name": "hostile_fid", "default_aggregation": {"formula": "sum"}},
        )
    )["id"]
    metered = price(api, recurring={"interval": "month", "usage_type": "metered", "meter": meter})
    seats, eur = price(api), price(api, currency="eur")
    customer = ok(api.post("/v1/customers", {"name": "H"}))["id"]
    sub = ok(api.post("/v1/subscriptions", {"customer": customer, "items": [{"price": seats}]}))
    gone = ok(api.post("/v1/subscriptions", {"customer": customer, "items": [{"price": seats}]}))
    ok(api.delete(f"/v1/subscriptions/{gone['id']}"))
    theirs_customer = ok(other.post("/v1/customers", {"name": "O"}))["id"]
    theirs = ok(
        other.post("/v1/subscriptions", {"customer": theirs_customer, "items": [{"price": price(other)}]})
    )
    return {
        "api": api,
        "sub": sub["id"],
        "item": sub["items"]["data"][0]["id"],
        "seats": seats,
        "eur": eur,
        "metered": metered,
        "gone_item": gone["items"]["data"][0]["id"],
        "their_sub": theirs["id"],
        "their_item": theirs["items"]["data"][0]["id"],
    }


ROWS = [
    # -- POST /v1/subscription_items ---------------------------------------------------------------
    Row("create: no subscription", "POST", ITEMS, {"price": "{eur}"}, "subscription"),
    Row("create: no price", "POST", ITEMS, {"subscription": "{sub}"}, "price"),
    Row(
        "create: price_data",
        "POST",
        ITEMS,
        {"subscription": "{sub}", "price": "{metered}", "price_data": {"currency": "usd"}},
        "price_data",
    ),
    Row(
        "create: tax_rates",
        "POST",
        ITEMS,
        {"subscription": "{sub}", "price": "{metered}", "tax_rates": ["txr_1"]},
        "tax_rates",
    ),
    Row("create: other currency", "POST", ITEMS, {"subscription": "{sub}", "price": "{eur}"}, "price"),
    Row("create: price twice", "POST", ITEMS, {"subscription": "{sub}", "price": "{seats}"}, "price"),
    Row(
        "create: metered with quantity",
        "POST",
        ITEMS,
        {"subscription": "{sub}", "price": "{metered}", "quantity": 2},
        "quantity",
    ),
    Row(
        "create: negative quantity",
        "POST",
        ITEMS,
        {"subscription": "{sub}", "price": "{metered}", "quantity": -1},
        "quantity",
    ),
    Row(
        "create: huge quantity",
        "POST",
        ITEMS,
        {"subscription": "{sub}", "price": "{metered}", "quantity": 10**13},
        "quantity",
    ),
    Row(
        "create: quantity text",
        "POST",
        ITEMS,
        {"subscription": "{sub}", "price": "{metered}", "quantity": "two"},
        "quantity",
    ),
    Row(
        "create: bad behavior",
        "POST",
        ITEMS,
        {"subscription": "{sub}", "price": "{metered}", "proration_behavior": "later"},
        "proration_behavior",
    ),
    Row(
        "create: proration_date in 1999",
        "POST",
        ITEMS,
        {"subscription": "{sub}", "price": "{metered}", "proration_date": 915148800},
        "proration_date",
    ),
    Row("create: unknown price", "POST", ITEMS, {"subscription": "{sub}", "price": "price_nope"}, "price"),
    Row(
        "create: another account's subscription",
        "POST",
        ITEMS,
        {"subscription": "{their_sub}", "price": "{metered}"},
        "subscription",
    ),
    Row(
        "create: a 3000-character subscription",
        "POST",
        ITEMS,
        {"subscription": "sub_" + "x" * 3000, "price": "{metered}"},
        "subscription",
    ),
    Row(
        "create: canceled subscription",
        "POST",
        ITEMS,
        {"subscription": "{gone_sub}", "price": "{metered}"},
        "id",
    ),
    Row(
        "create: metadata key too long",
        "POST",
        ITEMS,
        {"subscription": "{sub}", "price": "{metered}", "metadata": {"k" * 41: "v"}},
        "metadata[" + "k" * 41 + "]",
    ),
    # -- POST /v1/subscription_items/{id} ----------------------------------------------------------
    Row("update: unknown item", "POST", ITEMS + "/si_nope", {"quantity": 2}, "id", 404),
    Row("update: another account's item", "POST", ITEMS + "/{their_item}", {"quantity": 2}, "id", 404),
    Row("update: a removed subscription's item", "POST", ITEMS + "/{gone_item}", {"quantity": 2}, "id"),
    Row("update: negative quantity", "POST", ITEMS + "/{item}", {"quantity": -5}, "quantity"),
    Row("update: other currency", "POST", ITEMS + "/{item}", {"price": "{eur}"}, "price"),
    Row("update: unknown param", "POST", ITEMS + "/{item}", {"deleted": "true"}, "deleted"),
    Row("update: subscription param", "POST", ITEMS + "/{item}", {"subscription": "{sub}"}, "subscription"),
    # -- DELETE /v1/subscription_items/{id} --------------------------------------------------------
    Row("delete: the last item", "DELETE", ITEMS + "/{item}", param="id"),
    Row(
        "delete: clear_usage=maybe",
        "DELETE",
        ITEMS + "/{item}",
        query="clear_usage=maybe",
        param="clear_usage",
    ),
    Row(
        "delete: clear_usage on licensed",
        "DELETE",
        ITEMS + "/{item}",
        query="clear_usage=true",
        param="clear_usage",
    ),
    Row(
        "delete: bad behavior",
        "DELETE",
        ITEMS + "/{item}",
        query="proration_behavior=x",
        param="proration_behavior",
    ),
    Row("delete: unknown param", "DELETE", ITEMS + "/{item}", query="invoice_now=true", param="invoice_now"),
    Row("delete: another account's item", "DELETE", ITEMS + "/{their_item}", param="id", status=404),
    # -- GET /v1/invoices/search -------------------------------------------------------------------
    Row("search: no query", "GET", "/v1/invoices/search", param="query"),
    Row(
        "search: 5001 characters",
        "GET",
        "/v1/invoices/search",
        {"query": "status:'" + "a" * 4993 + "'"},
        "query",
    ),
    Row("search: NUL", "GET", "/v1/invoices/search", {"query": "number:'a\x00b'"}, "query"),
    Row("search: open quote", "GET", "/v1/invoices/search", {"query": "status:'paid"}, "query"),
    Row("search: unknown field", "GET", "/v1/invoices/search", {"query": "email:'a@b.c'"}, "query"),
    Row("search: substring on status", "GET", "/v1/invoices/search", {"query": "status~'pai'"}, "query"),
    Row("search: total as text", "GET", "/v1/invoices/search", {"query": "total>'ten'"}, "query"),
    Row(
        "search: total beyond int64",
        "GET",
        "/v1/invoices/search",
        {"query": "total>99999999999999999999"},
        "query",
    ),
    Row("search: limit 0", "GET", "/v1/invoices/search", {"query": "status:'paid'", "limit": 0}, "limit"),
    Row("search: limit 101", "GET", "/v1/invoices/search", {"query": "status:'paid'", "limit": 101}, "limit"),
    Row(
        "search: forged page",
        "GET",
        "/v1/invoices/search",
        {"query": "status:'paid'", "page": "eyJwIjoieCJ9"},
        "page",
    ),
    Row(
        "search: unknown param",
        "GET",
        "/v1/invoices/search",
        {"query": "status:'paid'", "status": "paid"},
        "status",
    ),
    # -- API versions ------------------------------------------------------------------------------
    Row(
        "header: 1000 characters",
        "POST",
        "/v1/customers",
        {"name": "V"},
        "Stripe-Version",
        headers={"Stripe-Version": "2025-02-24." + "a" * 989},
    ),
    Row(
        "header: NUL",
        "POST",
        "/v1/customers",
        {"name": "V"},
        "Stripe-Version",
        headers={"Stripe-Version": "2025-02-24.acacia\x00"},
    ),
    Row(
        "header: wide digits",
        "POST",
        "/v1/customers",
        {"name": "V"},
        "Stripe-Version",
        headers={"Stripe-Version": "２０２５-02-24.acacia"},
    ),
    Row(
        "header: wrong release",
        "POST",
        "/v1/customers",
        {"name": "V"},
        "Stripe-Version",
        headers={"Stripe-Version": "2025-02-24.clover"},
    ),
    Row(
        "header: too old",
        "POST",
        "/v1/customers",
        {"name": "V"},
        "Stripe-Version",
        headers={"Stripe-Version": "2001-01-01"},
    ),
    Row(
        "header: empty",
        "POST",
        "/v1/customers",
        {"name": "V"},
        "Stripe-Version",
        headers={"Stripe-Version": ""},
    ),
    Row(
        "settings: api_version nonsense",
        "POST",
        "/v1/tally/account_settings",
        {"api_version": "newest"},
        "api_version",
    ),
    Row(
        "settings: api_version object",
        "POST",
        "/v1/tally/account_settings",
        {"api_version": {"a": "b"}},
        "api_version",
    ),
    Row(
        "settings: api_version 65 chars",
        "POST",
        "/v1/tally/account_settings",
        {"api_version": "2" * 65},
        "api_version",
    ),
    Row(
        "endpoint: api_version 2025-13-01.basil",
        "POST",
        "/v1/webhook_endpoints",
        {"url": "https://h.example.com/", "enabled_events": ["*"], "api_version": "2025-13-01.basil"},
        "api_version",
    ),
]


def _fill(value: Any, seeds: dict[str, Any]) -> Any:
    if isinstance(value, str):
        names = {**seeds, "gone_sub": "sub_gone"}
        for name, seeded in names.items():
            if isinstance(seeded, str):
                value = value.replace("{" + name + "}", seeded)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, seeds) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, seeds) for v in value]
    return value


def _state(api: support.Api, seeds: dict[str, Any]) -> tuple[Any, ...]:
    return (
        ok(api.get(f"/v1/subscriptions/{seeds['sub']}")),
        {k: v for k, v in ok(api.get("/v1/tally/account_settings")).items() if k != "updated"},
        ok(api.get("/v1/webhook_endpoints")),
        ok(api.get("/v1/customers", {"limit": 100})),
        len(support.stored_events(api.account.id)),
    )


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_hostile_input_is_a_4xx_that_changes_nothing(seeds, row):
    api: support.Api = seeds["api"]
    if row.id == "create: canceled subscription":
        gone_sub = ok(api.get(f"{ITEMS}/{seeds['gone_item']}"))["subscription"]
        row = Row(row.id, row.method, row.path, {**row.params, "subscription": gone_sub}, row.param)
    before = _state(api, seeds)
    path, params = _fill(row.path, seeds), _fill(row.params, seeds)
    if row.method == "POST":
        response = api.post(path, params, headers=row.headers)
    else:
        query = row.query if row.query is not None else support.form_encode(params)
        response = api.request(row.method, path, query=query, headers=row.headers)
    support.assert_stripe_error(response.status, response.json, row.status, param=row.param)
    assert _state(api, seeds) == before
