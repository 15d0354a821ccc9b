"""docs/API.md "Not supported yet", as a table: every request a Stripe Billing user may try that Tally
does not serve, and exactly what Tally answers today.

Each `Entry` is one request; `doc` is the text of its row's first cell in docs/API.md (several
entries may share one row, e.g. the three alert actions). `test_doc_and_table_agree` keeps the two
in step both ways: a doc row without an entry, an entry without a doc row, or an answer cell that
no longer names the status/code/param fails. So when a route or param becomes supported, its row
fails here, and the doc has to change with the code.

Adding a row: write it in docs/API.md, then add an `Entry` (usually `url(...)` for a route Tally
does not have, or `unknown(...)` for a param of a route it has) with the same first cell.
Placeholders like `{customer}` in paths and params are filled with objects of SEEDS.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

DOC = support.REPO_ROOT / "docs" / "API.md"
SECTION = "## Not supported yet"
EVENT_NAME = "nsy_tokens"
UNRECOGNIZED = "Unrecognized request URL"

Check = Callable[[support.Api, Any], None]


@dataclass(frozen=True)
class Entry:
    doc: str  # the first cell of its row in docs/API.md
    method: str
    path: str
    status: int
    params: dict[str, Any] = field(default_factory=dict)
    code: str | None = None
    param: str | None = None
    json: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    check: Check | None = None  # for a 200: what shows the request was taken but not honoured


def url(request: str, path: str | None = None, doc: str | None = None, **params: Any) -> Entry:
    """A route Tally does not serve: 404 "Unrecognized request URL" (the $default route)."""
    method, doc_path = request.split(" ", 1)
    real = path or re.sub(r"\{id\}", "x_123", doc_path)
    return Entry(doc or f"`{request}`", method, real, 404, params, json=doc_path.startswith("/v2/"))


# Valid requests of routes Tally serves: `unknown` adds one unsupported param to one of them, so
# the param is the only thing wrong (test_base_requests_succeed keeps them valid).
BASE: dict[str, tuple[str, dict[str, Any]]] = {
    "POST /v1/customers": ("/v1/customers", {"name": "Ada"}),
    "POST /v1/customers/{id}": ("/v1/customers/{customer}", {"name": "Ada"}),
    "GET /v1/customers": ("/v1/customers", {}),
    "POST /v1/products": ("/v1/products", {"name": "Tokens"}),
    "GET /v1/products": ("/v1/products", {}),
    "POST /v1/prices": (
        "/v1/prices",
        {"currency": "usd", "unit_amount": 4, "product": "{product}", "recurring": {"interval": "month"}},
    ),
    "POST /v1/prices/{id}": ("/v1/prices/{price}", {"nickname": "Standard"}),
    "POST /v1/billing/meters": (
        "/v1/billing/meters",
        {"display_name": "Other", "event_name": "nsy_other", "default_aggregation": {"formula": "sum"}},
    ),
    "POST /v1/billing/meter_event_adjustments": (
        "/v1/billing/meter_event_adjustments",
        {"event_name": EVENT_NAME, "type": "cancel", "cancel": {"identifier": "{event}"}},
    ),
    "POST /v1/subscriptions": (
        "/v1/subscriptions",
        {"customer": "{customer}", "items": [{"price": "{price}"}]},
    ),
    "GET /v1/subscriptions": ("/v1/subscriptions", {}),
    "DELETE /v1/subscriptions/{id}": ("/v1/subscriptions/{subscription}", {}),
    "POST /v1/subscriptions/{id}": ("/v1/subscriptions/{subscription}", {"metadata": {"k": "v"}}),
    "POST /v1/invoices/create_preview": ("/v1/invoices/create_preview", {"subscription": "{subscription}"}),
    "GET /v1/invoices": ("/v1/invoices", {}),
    "POST /v1/invoices": ("/v1/invoices", {"customer": "{customer}"}),  # oneoff
    "POST /v1/invoiceitems": (
        "/v1/invoiceitems",
        {"customer": "{customer}", "amount": 100, "currency": "usd"},
    ),
    "GET /v1/events": ("/v1/events", {}),
}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = [
                _merge(a, b) if isinstance(a, dict) and isinstance(b, dict) else b
                for a, b in zip(out[key], value, strict=True)
            ]
        else:
            out[key] = value
    return out


def unknown(
    request: str, extra: dict[str, Any], param: str, doc: str | None = None, without: tuple[str, ...] = ()
) -> Entry:
    """A param Tally does not take on a route it serves: 400 `parameter_unknown` naming it."""
    doc = doc or f"`{request}` with `{param}`"
    return rejected(request, extra, param, "parameter_unknown", doc=doc, without=without)


def rejected(
    request: str, extra: dict[str, Any], param: str, code: str, *, doc: str, without: tuple[str, ...] = ()
) -> Entry:
    """One of BASE's valid requests with `extra` merged in (and the `without` params left out)."""
    method, _ = request.split(" ", 1)
    path, base = BASE[request]
    params = {k: v for k, v in _merge(base, extra).items() if k not in without}
    return Entry(doc, method, path, 400, params, code=code, param=param)


def ignored(doc: str, method: str, path: str, check: Check, **kwargs: Any) -> Entry:
    return Entry(doc, method, path, 200, check=check, **kwargs)


# -- checks for what is accepted and ignored -------------------------------------------------------
def _created_in_own_account(api: support.Api, body: Any) -> None:
    assert api.get(f"/v1/customers/{body['id']}").status == 200


SUB = "/v1/subscriptions/{subscription}"
CUS = "/v1/customers/{customer}"
PREVIEW = "POST /v1/invoices/create_preview"

ENTRIES: list[Entry] = [
    # -- invoices ----------------------------------------------------------------------------------
    url("DELETE /v1/invoices/{id}"),
    url("POST /v1/invoices/{id}/send"),
    Entry(
        "`GET /v1/invoices/upcoming`",
        "GET",
        "/v1/invoices/upcoming",
        404,
        code="resource_missing",
        param="id",
    ),
    Entry(
        "`GET /v1/invoices/upcoming/lines`",
        "GET",
        "/v1/invoices/upcoming/lines",
        404,
        {"customer": "{customer}"},
        code="resource_missing",
        param="id",
    ),
    unknown("POST /v1/invoices", {"subscription": "{subscription}"}, "subscription"),
    unknown(
        "POST /v1/invoices", {"from_invoice": {"action": "revision", "invoice": "in_123"}}, "from_invoice"
    ),
    unknown(
        "POST /v1/invoiceitems", {"price_data": {"currency": "usd", "product": "{product}"}}, "price_data"
    ),
    unknown("POST /v1/invoiceitems", {"subscription": "{subscription}"}, "subscription"),
    unknown("POST /v1/invoiceitems", {"unit_amount_decimal": "12.5"}, "unit_amount_decimal"),
    url("POST /v1/credit_notes", invoice="in_123"),
    unknown(PREVIEW, {"subscription_details": {"items": [{"price": "{price}"}]}}, "subscription_details"),
    unknown(PREVIEW, {"subscription_items": [{"price": "{price}"}]}, "subscription_items"),
    unknown(PREVIEW, {"invoice_items": [{"amount": 100, "currency": "usd"}]}, "invoice_items"),
    unknown(PREVIEW, {"preview_mode": "recurring"}, "preview_mode"),
    unknown(PREVIEW, {"schedule": "sub_sched_123"}, "schedule"),
    # -- subscriptions -----------------------------------------------------------------------------
    unknown("POST /v1/subscriptions/{id}", {"billing_cycle_anchor": "now"}, "billing_cycle_anchor"),
    unknown("POST /v1/subscriptions/{id}", {"pause_collection": {"behavior": "void"}}, "pause_collection"),
    url("POST /v1/subscriptions/{id}/resume", SUB + "/resume"),
    url("POST /v1/subscription_schedules", customer="{customer}"),
    url("GET /v1/subscription_schedules"),
    unknown("POST /v1/subscriptions", {"proration_behavior": "none"}, "proration_behavior"),
    unknown(
        "POST /v1/subscriptions",
        {"collection_method": "send_invoice", "days_until_due": 30},
        "collection_method",
        doc="`POST /v1/subscriptions` with `collection_method=send_invoice`",
    ),
    unknown("POST /v1/subscriptions", {"days_until_due": 30}, "days_until_due"),
    unknown("POST /v1/subscriptions", {"billing_mode": {"type": "flexible"}}, "billing_mode"),
    unknown("POST /v1/subscriptions", {"billing_thresholds": {"amount_gte": 10000}}, "billing_thresholds"),
    unknown("POST /v1/subscriptions", {"add_invoice_items": [{"price": "{price}"}]}, "add_invoice_items"),
    unknown(
        "POST /v1/subscriptions",
        {"items": [{"price_data": {"currency": "usd"}}]},
        "items[0][price_data]",
    ),
    unknown(
        "DELETE /v1/subscriptions/{id}", {"cancellation_details": {"comment": "x"}}, "cancellation_details"
    ),
    unknown("GET /v1/subscriptions", {"collection_method": "send_invoice"}, "collection_method"),
    # -- customers ---------------------------------------------------------------------------------
    unknown("POST /v1/customers", {"balance": -500}, "balance"),
    unknown("POST /v1/customers/{id}", {"balance": -500}, "balance"),
    unknown("POST /v1/customers", {"address": {"line1": "1 Main St"}}, "address"),
    unknown("POST /v1/customers", {"shipping": {"name": "Ada"}}, "shipping"),
    unknown("POST /v1/customers", {"preferred_locales": ["fr"]}, "preferred_locales"),
    unknown("POST /v1/customers", {"invoice_prefix": "ADA"}, "invoice_prefix"),
    # -- products and prices -----------------------------------------------------------------------
    unknown("POST /v1/products", {"id": "tokens"}, "id"),
    unknown(
        "POST /v1/products",
        {"default_price_data": {"currency": "usd", "unit_amount": 4}},
        "default_price_data",
    ),
    unknown("POST /v1/products", {"images": ["https://example.com/a.png"]}, "images"),
    unknown("POST /v1/products", {"marketing_features": [{"name": "Fast"}]}, "marketing_features"),
    unknown("POST /v1/products", {"statement_descriptor": "TOKENS"}, "statement_descriptor"),
    unknown("POST /v1/products", {"url": "https://example.com"}, "url"),
    unknown("GET /v1/products", {"ids": ["prod_123"]}, "ids"),
    url("GET /v1/products/{id}/features", "/v1/products/{product}/features"),
    unknown("POST /v1/prices", {"currency_options": {"eur": {"unit_amount": 4}}}, "currency_options"),
    unknown(
        "POST /v1/prices",
        {"custom_unit_amount": {"enabled": "true"}},
        "custom_unit_amount",
        without=("unit_amount",),
    ),
    unknown("POST /v1/prices", {"recurring": {"trial_period_days": 14}}, "recurring[trial_period_days]"),
    unknown(
        "POST /v1/prices",
        {"product_data": {"name": "Tokens", "tax_code": "txcd_10000000"}},
        "product_data[tax_code]",
        without=("product",),
    ),
    unknown("POST /v1/prices/{id}", {"currency_options": {"eur": {"unit_amount": 4}}}, "currency_options"),
    Entry(
        "`POST /v1/prices` with `billing_scheme=tiered` and no `recurring`",
        "POST",
        "/v1/prices",
        400,
        {
            "currency": "usd",
            "product": "{product}",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [{"up_to": "inf", "unit_amount": 4}],
        },
        code="parameter_invalid",
        param="billing_scheme",
    ),
    # -- meters and meter events -------------------------------------------------------------------
    rejected(
        "POST /v1/billing/meters",
        {"customer_mapping": {"type": "by_email", "event_payload_key": "email"}},
        "customer_mapping[type]",
        "parameter_invalid",
        doc="`POST /v1/billing/meters` with `customer_mapping[type]` other than `by_id`",
    ),
    rejected(
        "POST /v1/billing/meter_event_adjustments",
        {"type": "replace"},
        "type",
        "parameter_invalid",
        doc="`POST /v1/billing/meter_event_adjustments` with `type` other than `cancel`",
    ),
    # -- billing credits ---------------------------------------------------------------------------
    # (credit grants, the balance summary and the ledger are served: branch grants)
    unknown("GET /v1/events", {"delivery_success": "false"}, "delivery_success"),
    # -- discounts and tax -------------------------------------------------------------------------
    url("POST /v1/coupons", percent_off=10, duration="once"),
    url("POST /v1/promotion_codes", promotion={"type": "coupon", "coupon": "co_123"}),
    unknown("POST /v1/subscriptions", {"discounts": [{"coupon": "co_123"}]}, "discounts"),
    unknown(PREVIEW, {"discounts": [{"coupon": "co_123"}]}, "discounts"),
    url("DELETE /v1/customers/{id}/discount", CUS + "/discount"),
    url("DELETE /v1/subscriptions/{id}/discount", SUB + "/discount"),
    url("POST /v1/tax_rates", display_name="VAT", percentage=20, inclusive="false"),
    unknown("POST /v1/subscriptions", {"default_tax_rates": ["txr_123"]}, "default_tax_rates"),
    unknown("POST /v1/subscriptions", {"items": [{"tax_rates": ["txr_123"]}]}, "items[0][tax_rates]"),
    unknown("POST /v1/subscriptions", {"automatic_tax": {"enabled": "true"}}, "automatic_tax"),
    unknown(PREVIEW, {"automatic_tax": {"enabled": "true"}}, "automatic_tax"),
    unknown("POST /v1/customers", {"tax_exempt": "exempt"}, "tax_exempt"),
    unknown(
        "POST /v1/customers", {"tax_id_data": [{"type": "eu_vat", "value": "DE123456789"}]}, "tax_id_data"
    ),
    url("POST /v1/customers/{id}/tax_ids", CUS + "/tax_ids", type="eu_vat", value="DE123456789"),
    unknown("POST /v1/products", {"tax_code": "txcd_10000000"}, "tax_code"),
    unknown("POST /v1/prices/{id}", {"tax_behavior": "exclusive"}, "tax_behavior"),
    # -- payments, Checkout ----------------------------------------------------------------------
    url("POST /v1/payment_methods", type="card"),
    url("POST /v1/payment_methods/{id}/attach", customer="{customer}"),
    url("GET /v1/customers/{id}/payment_methods", CUS + "/payment_methods"),
    url("POST /v1/setup_intents", customer="{customer}"),
    url("POST /v1/payment_intents", amount=100, currency="usd"),
    url("POST /v1/checkout/sessions", mode="subscription", line_items=[{"price": "{price}", "quantity": 1}]),
    unknown("POST /v1/customers", {"payment_method": "pm_card_visa"}, "payment_method"),
    unknown(
        "POST /v1/customers",
        {"invoice_settings": {"default_payment_method": "pm_card_visa"}},
        "invoice_settings",
    ),
    unknown("POST /v1/subscriptions", {"default_payment_method": "pm_card_visa"}, "default_payment_method"),
    unknown("POST /v1/subscriptions", {"payment_behavior": "default_incomplete"}, "payment_behavior"),
    # -- legacy and preview APIs -------------------------------------------------------------------
    url("POST /v1/plans", amount=100, currency="usd", interval="month", product="{product}"),
    url("POST /v1/subscription_items/{id}/usage_records", quantity=5),
    url("GET /v1/subscription_items/{id}/usage_record_summaries"),
    unknown(
        "POST /v1/prices",
        {"recurring": {"usage_type": "metered", "meter": "{meter}", "aggregate_usage": "sum"}},
        "recurring[aggregate_usage]",
    ),
    url("POST /v2/billing/custom_pricing_units", display_name="Tokens"),
    url("POST /v2/billing/one_time_items", display_name="Setup"),
    # -- accepted and ignored ----------------------------------------------------------------------
    ignored(
        "`Stripe-Account` header",
        "POST",
        "/v1/customers",
        _created_in_own_account,
        params={"name": "Connected"},
        headers={"Stripe-Account": "acct_1Nv0FGQ9RKHgCVdK"},
    ),
]


# -- seeds -----------------------------------------------------------------------------------------
def _meter(api: support.Api, get: Callable[[str], str]) -> str:
    body = {"display_name": "Tokens", "event_name": EVENT_NAME, "default_aggregation": {"formula": "sum"}}
    return api.post("/v1/billing/meters", body).json["id"]


def _event(api: support.Api, get: Callable[[str], str]) -> str:
    get("meter")
    payload = {"stripe_customer_id": get("customer"), "value": "7"}
    identifier = f"nsy-{time.time_ns()}"
    response = api.post(
        "/v1/billing/meter_events", {"event_name": EVENT_NAME, "payload": payload, "identifier": identifier}
    )
    assert response.status == 200, response.text
    return identifier


SEEDS: dict[str, Callable[[support.Api, Callable[[str], str]], str]] = {
    "customer": lambda api, get: api.post("/v1/customers", {"name": "Seed"}).json["id"],
    "product": lambda api, get: api.post("/v1/products", {"name": "Seed"}).json["id"],
    "price": lambda api, get: api.post(
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 100,
            "product": get("product"),
            "recurring": {"interval": "month"},
        },
    ).json["id"],
    "meter": _meter,
    "event": _event,
    "subscription": lambda api, get: api.post(
        "/v1/subscriptions", {"customer": get("customer"), "items": [{"price": get("price")}]}
    ).json["id"],
}


class Seeds:
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


def send(api: support.Api, seeds: Seeds, entry: Entry) -> support.Response:
    path, params = seeds.fill(entry.path), seeds.fill(entry.params)
    if entry.method == "POST":
        if entry.json:
            return api.post(path, json=params, headers=entry.headers)
        return api.post(path, params, headers=entry.headers)
    return api.request(entry.method, path, query=support.form_encode(params), headers=entry.headers)


@pytest.fixture(scope="module")
def shared(functions) -> tuple[support.Api, Seeds]:
    """One account and its seeds for all entries (a rejected request changes nothing)."""
    api = support.Api(functions, support.new_account())
    return api, Seeds(api)


# -- the tests -------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e.method} {e.path} {sorted(e.params)}"[:120])
def test_unsupported_request_gets_the_documented_answer(shared, entry):
    # GIVEN an account with a customer, product, price, meter, event and subscription
    api, seeds = shared
    # WHEN a Stripe client sends a request Tally does not serve
    response = send(api, seeds, entry)
    # THEN it gets exactly the answer docs/API.md promises
    if entry.status == 200:
        assert response.status == 200, response.text
        assert entry.check is not None
        entry.check(api, response.json)
        return
    error = support.assert_stripe_error(
        response.status, response.json, entry.status, type="invalid_request_error", param=entry.param
    )
    assert error.get("code") == entry.code, error
    if entry.code is None:
        assert error["message"].startswith(f"{UNRECOGNIZED} ({entry.method}: "), error


@pytest.mark.parametrize("request_key", sorted(BASE))
def test_base_requests_succeed(api, request_key):
    # GIVEN the valid request each `unknown` row adds one param to WHEN sent THEN it succeeds, so
    # those rows fail only for their unsupported param
    path, params = BASE[request_key]
    method = request_key.split(" ", 1)[0]
    response = send(api, Seeds(api), Entry("", method, path, 200, params))
    assert response.status == 200, response.text


def test_unrecognized_urls_answer_404_before_authentication(api):
    # GIVEN no API key WHEN a route Tally does not serve is called THEN 404, not 401
    response = api.post("/v1/coupons", {"percent_off": "10"}, key=None)
    support.assert_stripe_error(response.status, response.json, 404)
    assert response.json["error"]["message"].startswith(UNRECOGNIZED)


def _doc_rows() -> dict[str, str]:
    """{first cell: second cell} of every table row in the "Not supported yet" section."""
    text = DOC.read_text()
    assert SECTION in text, f"docs/API.md lost its {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith(("| Request", "|---")):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        assert len(cells) == 3, f"a row of docs/API.md must have 3 cells: {line}"
        assert cells[0] not in rows, f"docs/API.md lists {cells[0]} twice"
        rows[cells[0]] = cells[1]
    return rows


def test_doc_and_table_agree():
    # GIVEN the doc's rows and this table WHEN compared THEN every row is tested, every entry
    # documented, and each answer cell names the status, code and param the test expects
    rows = _doc_rows()
    documented, tested = set(rows), {e.doc for e in ENTRIES}
    assert not documented - tested, f"documented but not tested: {sorted(documented - tested)}"
    assert not tested - documented, f"tested but not documented: {sorted(tested - documented)}"
    for entry in ENTRIES:
        answer = rows[entry.doc]
        assert answer.startswith(str(entry.status)), (entry.doc, answer)
        if entry.code is not None:
            assert f"`{entry.code}`" in answer, (entry.doc, answer)
        elif entry.status == 404:
            assert "unrecognized URL" in answer, (entry.doc, answer)
        if entry.param is not None:
            assert f"`{entry.param}`" in answer, (entry.doc, answer)
