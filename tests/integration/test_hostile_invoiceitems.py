"""Hostile input on one-off invoices and invoice items (`POST /v1/invoices`, `/v1/invoiceitems`,
`POST /v1/invoices/{id}/add_lines`): every row gets a Stripe error envelope with its 4xx and changes
nothing (the listing and the account's event log are the same before and after). The generic rows
and the machinery are tests/integration/test_hostile_input.py's; the rows here are these routes'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import support
from test_hostile_input import SEEDS as BASE_SEEDS
from test_hostile_input import Row, Target, _snapshot, form, get_cases, post_cases

pytestmark = pytest.mark.usefixtures("moto_tables")

ITEMS = "/v1/invoiceitems"
ITEM = ITEMS + "/{pending_item}"
INVOICES = "/v1/invoices"
ADD = "/v1/invoices/{one_off_draft}/add_lines"
MAX_AMOUNT = 999_999_999_999_999


def _buyer(api: support.Api, get: Callable[[str], str]) -> str:
    """A customer invoiced in usd (its first invoice item fixed nothing; its balance adjustment did)."""
    customer = api.post("/v1/customers", {"name": "buyer"}).json["id"]
    made = api.post(f"/v1/customers/{customer}/balance_transactions", {"amount": 100, "currency": "usd"})
    assert made.status == 200, made.text
    return str(customer)


def _ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


def _finalized_item(api: support.Api, get: Callable[[str], str]) -> str:
    """An item on a finalized one-off invoice (of a customer of its own)."""
    owner = _buyer(api, get)  # its own customer: including its items takes none of the buyer's
    item = _ok(api.post(ITEMS, {"customer": owner, "amount": 400, "currency": "usd"}))["id"]
    inv = _ok(api.post(INVOICES, {"customer": owner, "pending_invoice_items_behavior": "include"}))
    _ok(api.post(f"{INVOICES}/{inv['id']}/finalize"))
    return str(item)


SEEDS: dict[str, Callable[[support.Api, Callable[[str], str]], str]] = {
    **BASE_SEEDS,
    "buyer": _buyer,
    "pending_item": lambda api, get: _ok(
        api.post(ITEMS, {"customer": get("buyer"), "amount": 250, "currency": "usd"})
    )["id"],
    "other_item": lambda api, get: _ok(
        api.post(ITEMS, {"customer": get("customer"), "amount": 250, "currency": "usd"})
    )["id"],
    "finalized_item": _finalized_item,
    "one_off_draft": lambda api, get: (
        get("pending_item"),
        _ok(api.post(INVOICES, {"customer": get("buyer")})),
    )[1]["id"],
    "open_one_off": lambda api, get: _ok(
        api.post(f"{INVOICES}/{_ok(api.post(INVOICES, {'customer': get('buyer')}))['id']}/finalize")
    )["id"],
    "one_time_price": lambda api, get: _ok(
        api.post("/v1/prices", {"currency": "usd", "unit_amount": 700, "product": get("product")})
    )["id"],
    "big_price": lambda api, get: _ok(
        api.post("/v1/prices", {"currency": "usd", "unit_amount": 99_999_999, "product": get("product")})
    )["id"],
    "eur_price": lambda api, get: _ok(
        api.post("/v1/prices", {"currency": "eur", "unit_amount": 700, "product": get("product")})
    )["id"],
}

VALID_ITEM = {"customer": "{buyer}", "amount": 500, "currency": "usd"}
VALID_INVOICE = {"customer": "{buyer}"}
VALID_ADD = {"lines": [{"amount": 300, "description": "Extra"}]}


def _row(name: str, method: str, path: str, status: int = 400, *, listing: str = ITEMS, **kw: Any) -> Row:
    return Row(f"{method} {path} {name}", method, path, status, listing=listing, **kw)


def _item(name: str, body: dict[str, Any], status: int = 400, **kw: Any) -> Row:
    return _row(name, "POST", ITEMS, status, body=form(body), **kw)


def _invoice(name: str, body: dict[str, Any], status: int = 400, **kw: Any) -> Row:
    return _row(name, "POST", INVOICES, status, body=form(body), listing=INVOICES, **kw)


def _add(name: str, body: dict[str, Any], status: int = 400, path: str = ADD, **kw: Any) -> Row:
    return _row(name, "POST", path, status, body=form(body), listing=INVOICES, **kw)


TARGETS = [
    Target(ITEMS, valid=VALID_ITEM, string_param="currency", listing=ITEMS),
    Target(ITEM, valid={"description": "Setup"}, string_param="description", listing=ITEMS),
    Target(INVOICES, valid=VALID_INVOICE, string_param="customer", listing=INVOICES),
    Target(ADD, valid=VALID_ADD, string_param=None, listing=INVOICES),
]
V = VALID_ITEM
ROWS: list[Row] = [
    *(row for target in TARGETS for row in post_cases(target)),
    *get_cases(ITEMS),
    # -- POST /v1/invoiceitems -----------------------------------------------------------------
    _item("customer missing", {"amount": 5, "currency": "usd"}, code="parameter_missing", param="customer"),
    _item("unknown customer", {**V, "customer": "cus_nope"}, code="resource_missing", param="customer"),
    _item("no amount nor price", {"customer": "{buyer}", "currency": "usd"}, code="parameter_missing"),
    _item("amount without currency", {"customer": "{buyer}", "amount": 5}, param="currency"),
    _item("amount as a float", {**V, "amount": "1.5"}, code="parameter_invalid_integer", param="amount"),
    _item("amount as a hash", {**V, "amount": {"x": "1"}}, param="amount"),
    _item(
        "amount beyond the limit", {**V, "amount": MAX_AMOUNT + 1}, code="amount_too_large", param="amount"
    ),
    _item("amount below minus the limit", {**V, "amount": -MAX_AMOUNT - 1}, code="amount_too_large"),
    _item("amount beyond int64", {**V, "amount": 2**63}, param="amount"),
    _item("unknown currency", {**V, "currency": "xyz"}, param="currency"),
    _item("another currency than the customer's", {**V, "currency": "eur"}, param="currency"),
    _item("amount and price", {**V, "price": "{one_time_price}"}, param="price"),
    _item(
        "unknown price",
        {"customer": "{buyer}", "price": "price_nope"},
        code="resource_missing",
        param="price",
    ),
    _item(
        "unknown pricing[price]",
        {"customer": "{buyer}", "pricing": {"price": "price_nope"}},
        code="resource_missing",
        param="pricing[price]",
    ),
    _item(
        "price and pricing[price]",
        {"customer": "{buyer}", "price": "{one_time_price}", "pricing": {"price": "{one_time_price}"}},
        param="pricing[price]",
    ),
    _item("a recurring price", {"customer": "{buyer}", "price": "{price}"}, param="price"),
    _item("a price in another currency", {"customer": "{buyer}", "price": "{eur_price}"}, param="price"),
    _item(
        "pricing with an unknown key",
        {"customer": "{buyer}", "pricing": {"price": "{one_time_price}", "nope": "1"}},
        code="parameter_unknown",
        param="pricing[nope]",
    ),
    _item("negative quantity", {"customer": "{buyer}", "price": "{one_time_price}", "quantity": -1}),
    _item("quantity with an amount", {**V, "quantity": 2}, param="quantity"),
    _item(
        "quantity beyond the amount limit",
        {"customer": "{buyer}", "price": "{big_price}", "quantity": 999_999_999_999},
        code="amount_too_large",
        param="quantity",
    ),
    _item("period end before start", {**V, "period": {"start": 200, "end": 100}}, param="period[end]"),
    _item(
        "period without end", {**V, "period": {"start": 100}}, code="parameter_missing", param="period[end]"
    ),
    _item("period as a string", {**V, "period": "soon"}, param="period"),
    _item("unknown invoice", {**V, "invoice": "in_nope"}, code="resource_missing", param="invoice"),
    _item("a finalized invoice", {**V, "invoice": "{open_one_off}"}, code="invoice_not_editable"),
    _item("discountable not a boolean", {**V, "discountable": "maybe"}, code="parameter_invalid_boolean"),
    _item("description over 1,500", {**V, "description": "d" * 1501}, param="description"),
    _item("51 metadata keys", {**V, "metadata": {f"k{i}": "v" for i in range(51)}}),
    _item("price_data", {**V, "price_data": {"currency": "usd"}}, code="parameter_unknown"),
    _item("subscription", {**V, "subscription": "{subscription}"}, code="parameter_unknown"),
    _item("tax_rates", {**V, "tax_rates": ["txr_1"]}, code="parameter_unknown"),
    # -- POST/DELETE/GET /v1/invoiceitems/{id} -------------------------------------------------
    _row("update an unknown one", "POST", ITEMS + "/ii_nope", 404, body=form({"description": "x"})),
    _row("update the currency", "POST", ITEM, body=form({"currency": "eur"}), code="parameter_unknown"),
    _row(
        "update the customer", "POST", ITEM, body=form({"customer": "{customer}"}), code="parameter_unknown"
    ),
    _row("update quantity of an amount", "POST", ITEM, body=form({"quantity": 3}), param="quantity"),
    _row("update to a recurring price", "POST", ITEM, body=form({"price": "{price}"}), param="price"),
    _row("update a negative period", "POST", ITEM, body=form({"period": {"start": 9, "end": 1}})),
    _row(
        "update one on a finalized invoice",
        "POST",
        ITEMS + "/{finalized_item}",
        body=form({"amount": 1}),
        code="invoice_not_editable",
    ),
    _row("delete an unknown one", "DELETE", ITEMS + "/ii_nope", 404),
    _row(
        "delete one on a finalized invoice",
        "DELETE",
        ITEMS + "/{finalized_item}",
        code="invoice_not_editable",
    ),
    _row("delete with a param", "DELETE", ITEM, body=form({"nope": "1"}), code="parameter_unknown"),
    _row("retrieve an unknown one", "GET", ITEMS + "/ii_nope", 404),
    _row("retrieve with an id of 5,000 chars", "GET", ITEMS + "/" + "x" * 5000, 404),
    _row("list with pending not a boolean", "GET", ITEMS, query="pending=maybe"),
    _row("list with customer as a hash", "GET", ITEMS, query="customer[x]=1"),
    _row("list with an over-long invoice", "GET", ITEMS, query="invoice=" + "i" * 300),
    # -- POST /v1/invoices ---------------------------------------------------------------------
    _invoice("customer missing", {}, code="parameter_missing", param="customer"),
    _invoice("unknown customer", {"customer": "cus_nope"}, code="resource_missing", param="customer"),
    _invoice("unknown collection_method", {**VALID_INVOICE, "collection_method": "cash"}),
    _invoice(
        "days_until_due when charging automatically",
        {**VALID_INVOICE, "days_until_due": 30},
        param="days_until_due",
    ),
    _invoice(
        "negative days_until_due",
        {**VALID_INVOICE, "collection_method": "send_invoice", "days_until_due": -1},
        param="days_until_due",
    ),
    _invoice(
        "due_date in the past",
        {**VALID_INVOICE, "collection_method": "send_invoice", "due_date": 1_000},
        param="due_date",
    ),
    _invoice(
        "due_date and days_until_due",
        {
            **VALID_INVOICE,
            "collection_method": "send_invoice",
            "due_date": 4_000_000_000,
            "days_until_due": 3,
        },
        param="due_date",
    ),
    _invoice(
        "unknown pending_invoice_items_behavior", {**VALID_INVOICE, "pending_invoice_items_behavior": "all"}
    ),
    _invoice("another currency than the customer's", {**VALID_INVOICE, "currency": "eur"}, param="currency"),
    _invoice("unknown currency", {**VALID_INVOICE, "currency": "zzz"}, param="currency"),
    _invoice("auto_advance not a boolean", {**VALID_INVOICE, "auto_advance": "yes"}),
    _invoice("subscription", {**VALID_INVOICE, "subscription": "{subscription}"}, code="parameter_unknown"),
    _invoice("discounts", {**VALID_INVOICE, "discounts": [{"coupon": "x"}]}, code="parameter_unknown"),
    # -- POST /v1/invoices/{id}/add_lines ------------------------------------------------------
    _add("lines missing", {}, code="parameter_missing", param="lines"),
    _add("lines not a list", {"lines": "many"}, param="lines"),
    _add("16 lines", {"lines": [{"amount": 1}] * 16}, param="lines"),
    _add("a line without amount nor price", {"lines": [{"description": "x"}]}, param="lines[0][amount]"),
    _add("a line with a currency", {"lines": [{"amount": 1, "currency": "usd"}]}, code="parameter_unknown"),
    _add(
        "a line with a recurring price",
        {"lines": [{"pricing": {"price": "{price}"}}]},
        param="lines[0][pricing][price]",
    ),
    _add(
        "a line naming an unknown item",
        {"lines": [{"invoice_item": "ii_nope"}]},
        code="resource_missing",
        param="lines[0][invoice_item]",
    ),
    _add(
        "a line naming another customer's item",
        {"lines": [{"invoice_item": "{other_item}"}]},
        param="lines[0][invoice_item]",
    ),
    _add(
        "a line naming an item already on an invoice",
        {"lines": [{"invoice_item": "{finalized_item}"}]},
        param="lines[0][invoice_item]",
    ),
    _add(
        "the same item twice",
        {"lines": [{"invoice_item": "{pending_item}"}, {"invoice_item": "{pending_item}"}]},
        param="lines[1][invoice_item]",
    ),
    _add("an amount beyond the limit", {"lines": [{"amount": MAX_AMOUNT + 1}]}, code="amount_too_large"),
    _add(
        "an open invoice",
        VALID_ADD,
        path="/v1/invoices/{open_one_off}/add_lines",
        code="invoice_not_editable",
    ),
    _add("an unknown invoice", VALID_ADD, 404, path="/v1/invoices/in_nope/add_lines"),
]


class Seeds:
    """The seeds of test_hostile_input, plus this file's, created on first use."""

    def __init__(self, api: support.Api) -> None:
        self.api = api
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str:
        if name not in self.values:
            self.values[name] = SEEDS[name](self.api, self.get)
        return self.values[name]

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            for name in SEEDS:
                if "{" + name + "}" in value:
                    value = value.replace("{" + name + "}", self.get(name))
            return value
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value


@pytest.fixture(scope="module")
def shared(functions: support.Functions) -> tuple[support.Api, Seeds]:
    api = support.Api(functions, support.new_account())
    return api, Seeds(api)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id[:120])
def test_hostile_invoice_item_input_gets_a_4xx_stripe_error_and_changes_nothing(
    shared: tuple[support.Api, Seeds], row: Row
) -> None:
    # GIVEN a customer with pending and invoiced items, and a snapshot of the listing and event log
    api, seeds = shared
    path, listing, query = seeds.fill(row.path), seeds.fill(row.listing), seeds.fill(row.query)
    body, ctype = row.body(seeds.fill) if row.body else (b"", "application/x-www-form-urlencoded")
    before = _snapshot(api, listing)
    # WHEN the hostile request is sent
    response = api.request(row.method, path, body=body, query=query, content_type=ctype, headers=row.headers)
    # THEN a Stripe error with the expected 4xx, and nothing stored or changed
    assert 400 <= response.status < 500, (response.status, response.text[:500])
    support.assert_stripe_error(response.status, response.json, row.status, code=row.code, param=row.param)
    assert _snapshot(api, listing) == before


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.path)
def test_each_valid_request_succeeds(api: support.Api, target: Target) -> None:
    # GIVEN a target's valid request WHEN sent THEN it succeeds and something changes, so the rows
    # above fail for their hostile part only
    seeds = Seeds(api)
    path, listing = seeds.fill(target.path), seeds.fill(target.listing)
    body, ctype = form(target.valid)(seeds.fill)
    before = _snapshot(api, listing)
    response = api.request("POST", path, body=body, content_type=ctype)
    assert response.status == 200, response.text
    assert _snapshot(api, listing) != before
