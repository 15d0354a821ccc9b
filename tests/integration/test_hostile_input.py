"""Hostile input, as a table: every row must get a Stripe error envelope with a 4xx (never a 5xx)
and must change nothing (what the route's `listing` shows, and the account's event log, are the
same before and after).

Each POST route is a `Target`: a request that succeeds, plus where a success would show. Every
generic row is that valid request with one hostile change, so a route that let the hostile part
through would succeed and change the listing: the row would fail. `test_each_target_request_succeeds`
keeps the valid requests honest. The rows share one account and its seeds: a rejected request
changes nothing, and each row compares its own before and after.

Adding an endpoint:
- POST: add a `Target(path, valid={...}, string_param="a string param of it", listing="GET path")`
  to TARGETS. Placeholders like `{customer}`, `{meter}`, `{price}` in the path, the valid body or
  the listing are filled by SEEDS (add one there if the route needs another object). Use
  `string_param=None` when the body has no top-level string (NUL/type rows are then left out),
  `form=False` for JSON-only endpoints (v2), `stores=False` for a route that never stores
  (create_preview).
- GET (lists): add `*get_cases("/v1/…")` to ROWS.
- Route-specific rows (that route's own numbers, enums, limits): `Row(...)` in ROWS with
  `body=form({...})` / `json_body({...})`.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MIB = 1024 * 1024

Fill = Callable[[Any], Any]  # replaces {seed} placeholders in strings, recursively
Body = Callable[[Fill], tuple[bytes, str]]  # → (body, content type)


def form(data: dict[str, Any], extra: bytes = b"") -> Body:
    """A form body (Stripe brackets), optionally followed by raw `&`-joined bytes."""

    def build(fill: Fill) -> tuple[bytes, str]:
        encoded = support.form_encode(fill(data)).encode()
        return b"&".join(part for part in (encoded, extra) if part), FORM

    return build


def json_body(data: Any) -> Body:
    return lambda fill: (json.dumps(fill(data)).encode(), JSON)


def raw(body: bytes, content_type: str = FORM) -> Body:
    return lambda fill: (body, content_type)


def json_with(data: dict[str, Any], name: str, raw_value: bytes) -> Body:
    """A JSON body whose `name` holds raw (possibly invalid) JSON text."""

    def build(fill: Fill) -> tuple[bytes, str]:
        text = json.dumps({**fill(data), name: "@@"}).encode()
        return text.replace(b'"@@"', raw_value), JSON

    return build


@dataclass(frozen=True)
class Row:
    id: str
    method: str
    path: str
    status: int
    body: Body | None = None
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    code: str | None = None
    param: str | None = None
    listing: str = "/v1/customers"


@dataclass(frozen=True)
class Target:
    path: str
    valid: dict[str, Any]
    string_param: str | None
    listing: str
    form: bool = True  # False: a JSON-only (v2) endpoint
    stores: bool = True  # False: success changes nothing either (a preview)


def _deep(levels: int) -> Any:
    node: Any = "v"
    for _ in range(levels):
        node = {"k": node}
    return node


def post_cases(target: Target) -> list[Row]:
    """Rows every POST route must reject the same way, each the valid request with one change."""
    path, valid, p = target.path, target.valid, target.string_param

    def row(name: str, body: Body, status: int = 400, **kwargs: Any) -> Row:
        return Row(f"POST {path} {name}", "POST", path, status, body, listing=target.listing, **kwargs)

    rest = {k: v for k, v in valid.items() if k != p}
    rows = [
        row("JSON body over 1 MiB", json_body({**valid, "pad": "a" * MIB}), 413),
        row("invalid JSON", raw(json.dumps(valid).encode()[:-1] + b",", JSON)),
        row("JSON array body", json_body([valid])),
        row("JSON NaN", json_with(valid, "n", b"NaN")),
        row("JSON integer of 5000 digits", json_with(valid, "n", b"9" * 5000)),
        row("JSON nested too deep", json_body({**valid, "deep": _deep(10)})),
        row("JSON nested 100k deep", raw(b"[" * 100_000 + b"]" * 100_000, JSON)),
        row(
            "JSON unknown param",
            json_body({**valid, "definitely_not_a_param": "1"}),
            code="parameter_unknown",
        ),
        row("Idempotency-Key over 255 chars", json_body(valid), headers={"Idempotency-Key": "k" * 256}),
    ]
    if p is not None:
        rows += [
            row("JSON lone surrogate", json_with(rest, p, b'"\\ud800"')),
            row("JSON bool for a string", json_body({**rest, p: True})),
            row("JSON object for a string", json_body({**rest, p: {"x": "1"}})),
            row("JSON NUL in a string", json_body({**rest, p: "a\x00b"})),
        ]
    if not target.form:
        return rows
    rows += [
        row("form body over 1 MiB", form({**valid, "pad": "a" * MIB}), 413),
        row("10k params", form(valid, "&".join(f"p{i}=1" for i in range(10_000)).encode())),
        row(
            "10k values for one list", form(valid, "&".join(f"expand[]=x{i}" for i in range(10_000)).encode())
        ),
        row("unknown param", form({**valid, "definitely_not_a_param": "1"}), code="parameter_unknown"),
        row("NUL byte in a name", form(valid, b"definitely%00=1")),
        row("form nested too deep", form(valid, b"deep" + b"[k]" * 10 + b"=v")),
        row("index gap", form(valid, b"expand[0]=a&expand[5]=b")),
        row("expand as a string", form({**valid, "expand": "customer"})),
        row("malformed param name", form(valid, b"deep[=a")),
        row("stray closing bracket in a name", form(valid, b"deep]x=a")),
        row(
            "multipart body",
            raw(
                b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--b--",
                "multipart/form-data; boundary=b",
            ),
        ),
    ]
    if p is not None:
        rows += [
            row("raw invalid UTF-8", form(rest, p.encode() + b"=\xff\xfe\xfd")),
            row("percent-encoded invalid UTF-8", form(rest, p.encode() + b"=%FF%FE")),
            row("overlong UTF-8 encoding of '/'", form(rest, p.encode() + b"=\xc0\xaf")),
            row("NUL byte in a value (raw)", form(rest, p.encode() + b"=a\x00b")),
            row("NUL byte in a value (encoded)", form({**rest, p: "a\x00b"})),
            row("duplicate param", form(valid, p.encode() + b"=again")),
            row("hash and value under one name", form(valid, p.encode() + b"[x]=b")),
            row("hash for a string", form({**rest, p: {"x": "1"}})),
            row("list for a string", form({**rest, p: ["a", "b"]})),
            row("string of 100k chars", form({**rest, p: "x" * 100_000})),
        ]
    return rows


def get_cases(path: str, base: str = "") -> list[Row]:
    """Rows every GET (list) route must reject the same way (`base`: the query it needs to be valid)."""
    listing = f"{path}?{base}" if base else path

    def row(name: str, query: str, status: int = 400, **kwargs: Any) -> Row:
        query = f"{base}&{query}" if base else query
        return Row(f"GET {path} {name}", "GET", path, status, query=query, listing=listing, **kwargs)

    return [
        row("huge limit", "limit=" + "9" * 40, code="parameter_invalid_integer"),
        row("limit beyond int64", f"limit={2**63}", code="parameter_invalid_integer"),
        row("limit as a float", "limit=1.5", code="parameter_invalid_integer"),
        row("limit as a hash", "limit[x]=1"),
        row("negative limit", "limit=-1"),
        row("unknown param", "nope=1", code="parameter_unknown"),
        row("10k params", "&".join(f"p{i}=1" for i in range(10_000))),
        row("nested too deep", "created" + "[k]" * 10 + "=1"),
        row("invalid UTF-8 in the query", "ending_before=%FF%FE"),
        row("NUL in a cursor", "starting_after=x_%00"),
        row("over-long cursor", "starting_after=" + "x" * 5000),
    ]


def search_cases(path: str, valid: str) -> list[Row]:
    """Rows every search route must reject: each is the valid query `valid` with one hostile part."""
    listing = path.rsplit("/", 1)[0]
    q = "query=" + quote(valid)

    def row(name: str, query: str, status: int = 400, **kwargs: Any) -> Row:
        return Row(f"GET {path} {name}", "GET", path, status, query=query, listing=listing, **kwargs)

    forged = base64.urlsafe_b64encode(b'{"p":"000000000000001#x","q":"0000000000000000"}').decode()
    return [
        row("no query", "limit=3", code="parameter_missing", param="query"),
        row("empty query", "query=", code="parameter_invalid_empty", param="query"),
        row("query as a hash", "query[x]=1", param="query"),
        row("NUL in the query", "query=" + quote(valid[:-1] + "\x00'"), param="query"),
        row("over-long query", "query=" + quote(valid + " AND name~'" + "x" * 5000 + "'"), param="query"),
        row("invalid UTF-8 in the query", "query=%FF%FE"),
        row("unclosed quote", "query=" + quote(valid[:-1]), param="query"),
        row("AND mixed with OR", "query=" + quote(f"{valid} AND {valid} OR {valid}"), param="query"),
        row("11 clauses", "query=" + quote(" AND ".join([valid] * 11)), param="query"),
        row("unknown field", "query=" + quote("address:'x'"), param="query"),
        row("parentheses", "query=" + quote(f"({valid})"), param="query"),
        row("huge limit", q + "&limit=" + "9" * 40, code="parameter_invalid_integer"),
        row("limit 0", q + "&limit=0", code="parameter_invalid_integer"),
        row("limit 101", q + "&limit=101", code="parameter_invalid_integer"),
        row("garbage page", q + "&page=%%%", param="page"),
        row("forged page", q + "&page=" + forged, param="page"),
        row("page as a hash", q + "&page[x]=1", param="page"),
        row("over-long page", q + "&page=" + "x" * 5000, param="page"),
        row("a list cursor", q + "&starting_after=cus_x", code="parameter_unknown"),
        row("10k params", q + "&" + "&".join(f"p{i}=1" for i in range(10_000))),
    ]


EVENT_NAME = "hostile_tokens"
CLOCKS = "/v1/test_helpers/test_clocks"
SETTINGS = "/v1/tally/account_settings"
NOW = int(time.time())
FROZEN = 1_900_000_000  # the seed clock's frozen time
SUB_PATH = "/v1/subscriptions/{subscription}"
NSUB = "/v1/notification_subscriptions"
HOOKS = "/v1/webhook_endpoints"
SUMMARIES = "/v1/billing/meters/{meter}/event_summaries?customer={customer}&start_time={start}&end_time={end}"
ALERTS = "/v1/billing/alerts"
ALERT = {
    "alert_type": "usage_threshold",
    "title": "Hostile",
    "usage_threshold": {"meter": "{meter}", "gte": 10, "recurrence": "one_time"},
}
TARGETS = [
    Target("/v1/customers", {"name": "Hostile", "metadata": {"k": "v"}}, "name", "/v1/customers"),
    Target("/v1/customers/{customer}", {"name": "Renamed"}, "name", "/v1/customers"),
    Target(
        "/v1/billing/meters",
        {"display_name": "Tokens", "event_name": "other_tokens", "default_aggregation": {"formula": "sum"}},
        "display_name",
        "/v1/billing/meters",
    ),
    Target("/v1/billing/meters/{meter}", {"display_name": "Renamed"}, "display_name", "/v1/billing/meters"),
    Target(
        "/v1/billing/meter_events",
        {"event_name": EVENT_NAME, "payload": {"stripe_customer_id": "{customer}", "value": "5"}},
        "event_name",
        SUMMARIES,
    ),
    Target(
        "/v1/billing/meter_event_adjustments",
        {"event_name": EVENT_NAME, "type": "cancel", "cancel": {"identifier": "{event}"}},
        "event_name",
        SUMMARIES,
    ),
    Target("/v1/products", {"name": "Hostile"}, "name", "/v1/products"),
    Target("/v1/products/{product}", {"name": "Renamed"}, "name", "/v1/products"),
    Target(
        "/v1/prices",
        {"currency": "usd", "unit_amount": 4, "product": "{product}", "nickname": "Hostile"},
        "nickname",
        "/v1/prices",
    ),
    Target("/v1/prices/{price}", {"nickname": "Renamed"}, "nickname", "/v1/prices"),
    Target(
        "/v1/subscriptions",
        {"customer": "{customer}", "items": [{"price": "{price}"}], "description": "Hostile"},
        "description",
        "/v1/subscriptions",
    ),
    Target(
        "/v1/subscriptions/{subscription}", {"description": "Renamed"}, "description", "/v1/subscriptions"
    ),
    Target(
        "/v1/invoices/create_preview",
        {"subscription": "{subscription}"},
        "subscription",
        "/v1/subscriptions",
        stores=False,
    ),
    Target(SETTINGS, {"invoice_grace_period": 7200}, None, "/v1/events"),
    Target(CLOCKS, {"frozen_time": FROZEN, "name": "Hostile"}, "name", CLOCKS),
    Target(CLOCKS + "/{test_clock}/advance", {"frozen_time": FROZEN + 86400}, None, CLOCKS),
    Target("/v1/invoices/{invoice}", {"description": "Hostile"}, "description", "/v1/invoices"),
    Target("/v1/billing/alerts", ALERT, "title", ALERTS),
    Target(ALERTS + "/{alert}/deactivate", {}, None, ALERTS),
    Target(ALERTS + "/{inactive_alert}/activate", {}, None, ALERTS),
    Target(ALERTS + "/{alert}/archive", {}, None, ALERTS),
    Target(
        NSUB,
        {"protocol": "email", "endpoint": "ops@example.com", "event_types": ["invoice.*"]},
        "endpoint",
        NSUB,
    ),
    Target(
        "/v2/billing/meter_event_stream",
        {
            "events": [
                {"event_name": EVENT_NAME, "payload": {"stripe_customer_id": "{customer}", "value": "5"}}
            ]
        },
        None,
        SUMMARIES,
        form=False,
    ),
    Target(
        HOOKS,
        {"url": "https://hooks.example.com/h", "enabled_events": ["*"], "description": "Hostile"},
        "description",
        HOOKS,
    ),
    Target(HOOKS + "/{webhook_endpoint}", {"description": "Renamed"}, "description", HOOKS),
]


def _seed_meter(api: support.Api, get: Callable[[str], str]) -> str:
    meter = {"display_name": "Hostile", "event_name": EVENT_NAME, "default_aggregation": {"formula": "sum"}}
    return api.post("/v1/billing/meters", meter).json["id"]


def _seed_event(api: support.Api, get: Callable[[str], str]) -> str:
    payload = {"stripe_customer_id": get("customer"), "value": "7"}
    api.post(
        "/v1/billing/meter_events", {"event_name": EVENT_NAME, "payload": payload, "identifier": "seed-1"}
    )
    return "seed-1"


def _seed_invoice(api: support.Api, get: Callable[[str], str]) -> str:
    """A draft invoice: the seeded subscription's first period, billed at its end."""
    from tally.billing import cycles
    from tally.clock import Clock
    from tally.domain.records import Subscription
    from tally.store import objects

    sub = objects.get(api.account.id, get("subscription"), Subscription, Clock.system())
    end = sub.unbilled_period[1]
    billed = cycles.bill_period(api.account.id, sub.id, end, Clock.at(end))
    assert billed.invoice is not None
    return billed.invoice.id


def _seed_alert(api: support.Api, get: Callable[[str], str], active: bool = True) -> str:
    rule = {"meter": get("meter"), "gte": 10, "recurrence": "one_time"}
    alert = api.post(ALERTS, {"alert_type": "usage_threshold", "title": "seed", "usage_threshold": rule})
    if not active:
        api.post(f"{ALERTS}/{alert.json['id']}/deactivate")
    return alert.json["id"]


def _alert_row(name: str, rule: dict[str, Any] | None, status: int = 400, **kwargs: Any) -> Row:
    """POST /v1/billing/alerts with `usage_threshold` replaced by `rule` (None: left out)."""
    body = {k: v for k, v in ALERT.items() if k != "usage_threshold"}
    if rule is not None:
        body["usage_threshold"] = rule
    return Row(f"POST {ALERTS} {name}", "POST", ALERTS, status, form(body), listing=ALERTS, **kwargs)


RULE = {"meter": "{meter}", "gte": 10, "recurrence": "one_time"}
ALERT_ROWS = [
    _alert_row("without usage_threshold", None, code="parameter_missing", param="usage_threshold"),
    _alert_row("usage_threshold as a string", "x", param="usage_threshold"),  # type: ignore[arg-type]
    _alert_row("without meter", {**RULE, "meter": ""}, param="usage_threshold[meter]"),
    _alert_row(
        "unknown meter",
        {**RULE, "meter": "mtr_nope"},
        code="resource_missing",
        param="usage_threshold[meter]",
    ),
    _alert_row("over-long meter id", {**RULE, "meter": "m" * 3000}, param="usage_threshold[meter]"),
    _alert_row("without gte", {k: v for k, v in RULE.items() if k != "gte"}, param="usage_threshold[gte]"),
    _alert_row("gte 0", {**RULE, "gte": 0}, code="parameter_invalid_integer", param="usage_threshold[gte]"),
    _alert_row(
        "negative gte", {**RULE, "gte": -5}, code="parameter_invalid_integer", param="usage_threshold[gte]"
    ),
    _alert_row(
        "gte as a float",
        {**RULE, "gte": "1.5"},
        code="parameter_invalid_integer",
        param="usage_threshold[gte]",
    ),
    _alert_row(
        "gte beyond int64",
        {**RULE, "gte": 2**63},
        code="parameter_invalid_integer",
        param="usage_threshold[gte]",
    ),
    _alert_row("gte as a hash", {**RULE, "gte": {"x": "1"}}, param="usage_threshold[gte]"),
    _alert_row("unknown recurrence", {**RULE, "recurrence": "weekly"}, param="usage_threshold[recurrence]"),
    _alert_row("without recurrence", {**RULE, "recurrence": ""}, param="usage_threshold[recurrence]"),
    _alert_row(
        "unknown usage_threshold param",
        {**RULE, "lte": 5},
        code="parameter_unknown",
        param="usage_threshold[lte]",
    ),
    _alert_row(
        "two filters",
        {**RULE, "filters": [{"type": "customer", "customer": "{customer}"}] * 2},
        param="usage_threshold[filters]",
    ),
    _alert_row(
        "filter of another type",
        {**RULE, "filters": [{"type": "tenant", "customer": "{customer}"}]},
        param="usage_threshold[filters][0][type]",
    ),
    _alert_row(
        "filter without customer",
        {**RULE, "filters": [{"type": "customer"}]},
        code="parameter_missing",
        param="usage_threshold[filters][0][customer]",
    ),
    _alert_row(
        "filter with an unknown customer",
        {**RULE, "filters": [{"type": "customer", "customer": "cus_nope"}]},
        code="resource_missing",
        param="usage_threshold[filters][0][customer]",
    ),
    _alert_row(
        "filter with a customer id of 3000 chars",
        {**RULE, "filters": [{"type": "customer", "customer": "c" * 3000}]},
        param="usage_threshold[filters][0][customer]",
    ),
    _alert_row("filters as a string", {**RULE, "filters": "customer"}, param="usage_threshold[filters]"),
    Row(
        f"POST {ALERTS} unknown alert_type",
        "POST",
        ALERTS,
        400,
        form({**ALERT, "alert_type": "spend_threshold"}),  # topups: credit_balance_threshold is served
        param="alert_type",
        listing=ALERTS,
    ),
    Row(
        f"POST {ALERTS} title of 257 chars",
        "POST",
        ALERTS,
        400,
        form({**ALERT, "title": "t" * 257}),
        param="title",
        listing=ALERTS,
    ),
    Row(
        f"POST {ALERTS} without title",
        "POST",
        ALERTS,
        400,
        form({k: v for k, v in ALERT.items() if k != "title"}),
        code="parameter_missing",
        param="title",
        listing=ALERTS,
    ),
    Row(
        f"GET {ALERTS} unknown alert_type",
        "GET",
        ALERTS,
        400,
        query="alert_type=spend",
        param="alert_type",
        listing=ALERTS,
    ),
    Row(
        f"GET {ALERTS} over-long meter",
        "GET",
        ALERTS,
        400,
        query="meter=" + "m" * 3000,
        param="meter",
        listing=ALERTS,
    ),
    Row(
        f"GET {ALERTS}/{{id}} unknown",
        "GET",
        ALERTS + "/alrt_nope",
        404,
        code="resource_missing",
        listing=ALERTS,
    ),
    Row(f"GET {ALERTS}/{{id}} NUL in the id", "GET", ALERTS + "/alrt_%00", 404, listing=ALERTS),
    Row(
        f"GET {ALERTS}/{{id}} unknown param",
        "GET",
        ALERTS + "/{alert}",
        400,
        query="nope=1",
        code="parameter_unknown",
        listing=ALERTS,
    ),
    *(
        Row(
            f"POST {ALERTS}/{{id}}/{action} {name}",
            "POST",
            f"{ALERTS}/{target}/{action}",
            status,
            form(body),
            code=code,
            listing=ALERTS,
        )
        for action in ("activate", "deactivate", "archive")
        for name, target, body, status, code in (
            ("unknown alert", "alrt_nope", {}, 404, "resource_missing"),
            ("over-long id", "a" * 3000, {}, 404, None),
            ("unknown param", "{alert}", {"title": "x"}, 400, "parameter_unknown"),
        )
    ),
    *(
        Row(
            f"POST {ALERTS}/{{id}}/{action} of an archived alert",
            "POST",
            f"{ALERTS}/{{archived_alert}}/{action}",
            400,
            form({}),
            listing=ALERTS,
        )
        for action in ("activate", "deactivate")
    ),
]


SEEDS: dict[str, Callable[[support.Api, Callable[[str], str]], str]] = {
    "alert": _seed_alert,
    "inactive_alert": lambda api, get: _seed_alert(api, get, active=False),
    "archived_alert": lambda api, get: (lambda alert: (api.post(f"{ALERTS}/{alert}/archive"), alert)[1])(
        _seed_alert(api, get)
    ),
    "customer": lambda api, get: api.post("/v1/customers", {"name": "seed", "metadata": {"k": "v"}}).json[
        "id"
    ],
    "meter": _seed_meter,
    "event": lambda api, get: (get("meter"), _seed_event(api, get))[1],
    "product": lambda api, get: api.post("/v1/products", {"name": "seed"}).json["id"],
    "price": lambda api, get: api.post(
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 100,
            "product": get("product"),
            "recurring": {"interval": "month"},
        },
    ).json["id"],
    "priced_product": lambda api, get: (get("price"), get("product"))[1],
    "subscription": lambda api, get: api.post(
        "/v1/subscriptions", {"customer": get("customer"), "items": [{"price": get("price")}]}
    ).json["id"],
    "test_clock": lambda api, get: api.post(CLOCKS, {"frozen_time": FROZEN}).json["id"],
    "invoice": _seed_invoice,
    "webhook_endpoint": lambda api, get: api.post(
        HOOKS, {"url": "https://hooks.example.com/seed", "enabled_events": ["*"]}
    ).json["id"],
    "start": lambda api, get: str((int(time.time()) - 30 * 86400) // 60 * 60),
    "end": lambda api, get: str((int(time.time()) // 60 + 10) * 60),
}

ROWS: list[Row] = [
    *(row for target in TARGETS for row in post_cases(target)),
    *get_cases("/v1/customers"),
    *get_cases("/v1/billing/meters"),
    *get_cases("/v1/products"),
    *get_cases("/v1/prices"),
    *get_cases("/v1/subscriptions"),
    *get_cases("/v1/events"),
    *get_cases(ALERTS),
    *ALERT_ROWS,
    *get_cases(CLOCKS),
    *get_cases(NSUB),
    *[
        Row(
            f"POST {NSUB} {name}",
            "POST",
            NSUB,
            400,
            form(
                {
                    k: v
                    for k, v in {
                        "protocol": "email",
                        "endpoint": "ops@example.com",
                        "event_types": ["invoice.*"],
                        **change,
                    }.items()
                    if v is not None
                }
            ),
            code=code,
            param=param,
            listing=NSUB,
        )
        for name, change, code, param in [
            (
                "unknown protocol",
                {"protocol": "sms", "endpoint": "+15555550100"},
                "parameter_invalid",
                "protocol",
            ),
            ("lambda protocol", {"protocol": "lambda"}, "parameter_invalid", "protocol"),
            ("missing protocol", {"protocol": None}, "parameter_missing", "protocol"),
            ("missing endpoint", {"endpoint": None}, "parameter_missing", "endpoint"),
            ("email without @", {"endpoint": "ops.example.com"}, "parameter_invalid", "endpoint"),
            ("email with a space", {"endpoint": "ops @example.com"}, "parameter_invalid", "endpoint"),
            (
                "email with a newline",
                {"endpoint": "ops@example.com\nBcc: x@y.z"},
                "parameter_invalid",
                "endpoint",
            ),
            ("https with an email", {"protocol": "https"}, "parameter_invalid", "endpoint"),
            (
                "http to another host",
                {"protocol": "https", "endpoint": "http://example.com/hook"},
                "parameter_invalid",
                "endpoint",
            ),
            (
                "https with a space",
                {"protocol": "https", "endpoint": "https://exa mple.com/"},
                "parameter_invalid",
                "endpoint",
            ),
            (
                "ftp URL",
                {"protocol": "https", "endpoint": "ftp://example.com/"},
                "parameter_invalid",
                "endpoint",
            ),
            (
                "sqs with a URL",
                {"protocol": "sqs", "endpoint": "https://sqs.us-east-1.amazonaws.com/1/q"},
                "parameter_invalid",
                "endpoint",
            ),
            (
                "sqs in another region",
                {"protocol": "sqs", "endpoint": "arn:aws:sqs:eu-west-1:123456789012:q"},
                "parameter_invalid",
                "endpoint",
            ),
            (
                "sqs in another AWS account",
                {"protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:999999999999:q"},
                "parameter_invalid",
                "endpoint",
            ),
            ("no event types", {"event_types": None}, "parameter_missing", "event_types"),
            (
                "event type with spaces",
                {"event_types": ["invoice paid"]},
                "parameter_invalid",
                "event_types[0]",
            ),
            (
                "event type wildcard inside",
                {"event_types": ["in*.paid"]},
                "parameter_invalid",
                "event_types[0]",
            ),
            (
                "21 event types",
                {"event_types": [f"t{i}.x" for i in range(21)]},
                "parameter_invalid",
                "event_types",
            ),
            ("event types as a string", {"event_types": "invoice.*"}, "parameter_invalid", "event_types"),
            ("unknown customer", {"customer": "cus_nope"}, "resource_missing", "customer"),
            (
                "endpoint over 2048 chars",
                {"protocol": "https", "endpoint": "https://e.com/" + "a" * 2100},
                "parameter_invalid",
                "endpoint",
            ),
        ]
    ],
    Row("GET an unknown notification subscription", "GET", NSUB + "/nsub_nope", 404, listing=NSUB),
    Row("DELETE an unknown notification subscription", "DELETE", NSUB + "/nsub_nope", 404, listing=NSUB),
    Row("GET a notification subscription by a customer id", "GET", NSUB + "/{customer}", 404, listing=NSUB),
    *get_cases(HOOKS),
    *get_cases(HOOKS + "/{webhook_endpoint}/attempts"),
    *(
        Row(f"POST {HOOKS} {name}", "POST", HOOKS, 400, form(data), code=code, param=param, listing=HOOKS)
        for name, data, code, param in (
            ("without url", {"enabled_events": ["*"]}, "parameter_missing", "url"),
            (
                "without enabled_events",
                {"url": "https://h.example.com/"},
                "parameter_missing",
                "enabled_events",
            ),
            (
                "unknown event type",
                {"url": "https://h.example.com/", "enabled_events": ["nope.x"]},
                None,
                "enabled_events",
            ),
            (
                "a prefix wildcard",
                {"url": "https://h.example.com/", "enabled_events": ["invoice.*"]},
                None,
                "enabled_events",
            ),
            (
                "101 event types",
                {"url": "https://h.example.com/", "enabled_events": ["*"] * 101},
                None,
                "enabled_events",
            ),
            (
                "an empty event type",
                {"url": "https://h.example.com/", "enabled_events": [""]},
                None,
                "enabled_events[0]",
            ),
            (
                "enabled_events as a hash",
                {"url": "https://h.example.com/", "enabled_events": {"a": "*"}},
                None,
                "enabled_events",
            ),
            (
                "url over 2048 chars",
                {"url": "https://h.example.com/" + "a" * 2100, "enabled_events": ["*"]},
                None,
                "url",
            ),
            (
                "javascript: url",
                {"url": "javascript:alert(1)", "enabled_events": ["*"]},
                "url_invalid",
                "url",
            ),
            ("file: url", {"url": "file:///etc/passwd", "enabled_events": ["*"]}, "url_invalid", "url"),
            (
                "url with CRLF",
                {"url": "https://h.example.com/\r\nX-Evil: 1", "enabled_events": ["*"]},
                "url_invalid",
                "url",
            ),
            (
                "url with a bad port",
                {"url": "https://h.example.com:99999/", "enabled_events": ["*"]},
                "url_invalid",
                "url",
            ),
            (
                "url with user info",
                {"url": "https://u:p@h.example.com/", "enabled_events": ["*"]},
                "url_invalid",
                "url",
            ),
            (
                "metadata endpoint url",
                {"url": "https://169.254.169.254/", "enabled_events": ["*"]},
                "url_invalid",
                "url",
            ),
            (
                "private address url",
                {"url": "https://10.0.0.1/", "enabled_events": ["*"]},
                "url_invalid",
                "url",
            ),
            ("IPv6 loopback url", {"url": "https://[::1]/", "enabled_events": ["*"]}, "url_invalid", "url"),
            (
                "http to a public host",
                {"url": "http://h.example.com/", "enabled_events": ["*"]},
                "url_invalid",
                "url",
            ),
            (
                "a secret",
                {"url": "https://h.example.com/", "enabled_events": ["*"], "secret": "whsec_x"},
                "parameter_unknown",
                "secret",
            ),
            (
                "an unknown api_version",
                {"url": "https://h.example.com/", "enabled_events": ["*"], "api_version": "x"},
                None,
                "api_version",
            ),
        )
    ),
    *(
        Row(
            f"POST {HOOKS}/{{id}} {name}",
            "POST",
            HOOKS + "/{webhook_endpoint}",
            400,
            form(data),
            code=code,
            param=param,
            listing=HOOKS,
        )
        for name, data, code, param in (
            ("disabled not a boolean", {"disabled": "maybe"}, "parameter_invalid_boolean", "disabled"),
            ("unknown event type", {"enabled_events": ["nope.x"]}, None, "enabled_events"),
            ("private address url", {"url": "https://192.168.0.1/"}, "url_invalid", "url"),
            ("a status", {"status": "disabled"}, "parameter_unknown", "status"),
        )
    ),
    Row(
        f"GET {HOOKS}/{{id}} unknown id",
        "GET",
        HOOKS + "/we_nope",
        404,
        code="resource_missing",
        listing=HOOKS,
    ),
    Row(f"GET {HOOKS}/{{id}} NUL in the id", "GET", HOOKS + "/we_%00", 404, listing=HOOKS),
    Row(f"GET {HOOKS}/{{id}} over-long id", "GET", HOOKS + "/" + "x" * 3000, 404, listing=HOOKS),
    Row(f"GET {HOOKS}/{{id}}/attempts unknown id", "GET", HOOKS + "/we_nope/attempts", 404, listing=HOOKS),
    Row(
        f"POST {HOOKS}/{{id}} unknown id",
        "POST",
        HOOKS + "/we_nope",
        404,
        form({"description": "x"}),
        code="resource_missing",
        listing=HOOKS,
    ),
    Row(
        f"DELETE {HOOKS}/{{id}} with a param",
        "DELETE",
        HOOKS + "/{webhook_endpoint}",
        400,
        query="x=1",
        code="parameter_unknown",
        listing=HOOKS,
    ),
    Row(f"DELETE {HOOKS}/{{id}} over-long id", "DELETE", HOOKS + "/" + "x" * 3000, 404, listing=HOOKS),
    *(
        Row(
            f"GET /v1/subscriptions test_clock {name}",
            "GET",
            "/v1/subscriptions",
            400,
            query=query,
            param="test_clock",
            listing="/v1/subscriptions",
        )
        for name, query in (
            ("over-long", "test_clock=" + "c" * 3000),
            ("as a hash", "test_clock[id]=clock_1"),
            ("as an array", "test_clock[0]=clock_1"),
            ("with NUL", "test_clock=clock_%00"),
        )
    ),
    Row(
        f"POST {CLOCKS}/{{id}}/advance with status_details",
        "POST",
        CLOCKS + "/{test_clock}/advance",
        400,
        form({"frozen_time": FROZEN + 60, "status_details": {"advancing": {"target_frozen_time": 1}}}),
        code="parameter_unknown",
        param="status_details",
        listing=CLOCKS,
    ),
    *(
        Row(
            f"POST {CLOCKS}/{{id}}/advance {name}",
            "POST",
            CLOCKS + "/{test_clock}/advance",
            400,
            form({"frozen_time": value}),
            code=code,
            param="frozen_time",
            listing=CLOCKS,
        )
        for name, value, code in (
            ("backwards", FROZEN - 1, None),
            ("to the same time", FROZEN, None),
            ("beyond two years without subscriptions", FROZEN + 3 * 365 * 86400, None),
            ("as a float", "1900000001.5", "parameter_invalid_integer"),
            ("negative", -1, None),
            ("beyond int64", 2**63, "parameter_invalid_integer"),
            ("past year 3000", 10**12, None),
        )
    ),
    Row(
        f"POST {CLOCKS}/{{id}}/advance without frozen_time",
        "POST",
        CLOCKS + "/{test_clock}/advance",
        400,
        form({}),
        code="parameter_missing",
        param="frozen_time",
        listing=CLOCKS,
    ),
    Row(
        f"POST {CLOCKS}/{{id}}/advance unknown clock",
        "POST",
        CLOCKS + "/clock_nope/advance",
        404,
        form({"frozen_time": FROZEN + 60}),
        code="resource_missing",
        listing=CLOCKS,
    ),
    Row(
        f"POST {CLOCKS}/{{id}}/advance over-long id",
        "POST",
        CLOCKS + "/" + "x" * 3000 + "/advance",
        404,
        form({"frozen_time": FROZEN + 60}),
        listing=CLOCKS,
    ),
    Row(
        f"POST {CLOCKS} without frozen_time",
        "POST",
        CLOCKS,
        400,
        form({"name": "x"}),
        code="parameter_missing",
        param="frozen_time",
        listing=CLOCKS,
    ),
    Row(f"GET {CLOCKS}/{{id}} NUL in the id", "GET", CLOCKS + "/clock_%00", 404, listing=CLOCKS),
    Row(
        f"DELETE {CLOCKS}/{{id}} with a param",
        "DELETE",
        CLOCKS + "/{test_clock}",
        400,
        query="x=1",
        code="parameter_unknown",
        listing=CLOCKS,
    ),
    Row(f"DELETE {CLOCKS}/{{id}} over-long id", "DELETE", CLOCKS + "/" + "x" * 3000, 404, listing=CLOCKS),
    Row(
        "POST /v1/customers with an unknown test_clock",
        "POST",
        "/v1/customers",
        400,
        form({"name": "x", "test_clock": "clock_nope"}),
        code="resource_missing",
        param="test_clock",
    ),
    Row(
        "POST /v1/customers with an over-long test_clock",
        "POST",
        "/v1/customers",
        400,
        form({"name": "x", "test_clock": "c" * 3000}),
        param="test_clock",
    ),
    Row(
        "POST /v1/customers with a test_clock hash",
        "POST",
        "/v1/customers",
        400,
        form({"name": "x", "test_clock": {"id": "{test_clock}"}}),
        param="test_clock",
    ),
    *get_cases("/v1/invoices"),
    *get_cases("/v1/invoices/{invoice}/lines"),
    # -- /v1/invoices/{id}: the lifecycle's own rules (a draft seed; every row leaves it as it was) --
    *(
        Row(
            f"POST /v1/invoices/{{id}} {name}",
            "POST",
            f"/v1/invoices/{path}",
            status,
            form(data),
            listing="/v1/invoices",
            **more,
        )
        for name, path, status, data, more in (
            ("pay without paid_out_of_band", "{invoice}/pay", 400, {}, {"param": "paid_out_of_band"}),
            (
                "pay paid_out_of_band=false",
                "{invoice}/pay",
                400,
                {"paid_out_of_band": "false"},
                {"param": "paid_out_of_band"},
            ),
            (
                "pay paid_out_of_band not a boolean",
                "{invoice}/pay",
                400,
                {"paid_out_of_band": "maybe"},
                {"code": "parameter_invalid_boolean"},
            ),
            ("pay with a payment method", "{invoice}/pay", 400, {"payment_method": "pm_card_visa"}, {}),
            ("void a draft", "{invoice}/void", 400, {}, {"code": "invoice_not_editable"}),
            (
                "mark_uncollectible a draft",
                "{invoice}/mark_uncollectible",
                400,
                {},
                {"code": "invoice_not_editable"},
            ),
            ("finalize unknown param", "{invoice}/finalize", 400, {"x": "1"}, {"code": "parameter_unknown"}),
            ("finalize unknown invoice", "in_nope/finalize", 404, {}, {"code": "resource_missing"}),
            ("finalize over-long id", "x" * 3000 + "/finalize", 404, {}, {}),
            ("update auto_advance not a boolean", "{invoice}", 400, {"auto_advance": "maybe"}, {}),
            ("update metadata as a string", "{invoice}", 400, {"metadata": "x"}, {}),
            ("update a total", "{invoice}", 400, {"total": "1"}, {"code": "parameter_unknown"}),
        )
    ),
    *get_cases("/v1/subscription_items", base="subscription={subscription}"),
    Row(
        "GET /v1/subscription_items without subscription",
        "GET",
        "/v1/subscription_items",
        400,
        code="parameter_missing",
        param="subscription",
        listing="/v1/subscription_items?subscription={subscription}",
    ),
    Row(
        "GET /v1/subscription_items unknown subscription",
        "GET",
        "/v1/subscription_items",
        400,
        query="subscription=sub_nope",
        code="resource_missing",
        param="subscription",
        listing="/v1/subscription_items?subscription={subscription}",
    ),
    Row(
        "GET /v1/subscription_items over-long subscription",
        "GET",
        "/v1/subscription_items",
        400,
        query="subscription=" + "x" * 3000,
        listing="/v1/subscription_items?subscription={subscription}",
    ),
    Row(
        "GET /v1/subscription_items unknown cursor",
        "GET",
        "/v1/subscription_items",
        404,
        query="subscription={subscription}&starting_after=si_nope",
        code="resource_missing",
        param="starting_after",
        listing="/v1/subscription_items?subscription={subscription}",
    ),
    Row("GET /v1/subscription_items/{id} over-long id", "GET", "/v1/subscription_items/" + "x" * 3000, 404),
    Row("GET /v1/subscription_items/{id} NUL in the id", "GET", "/v1/subscription_items/si_%00", 404),
    Row(
        "GET /v1/subscription_items/{id} a subscription's id",
        "GET",
        "/v1/subscription_items/{subscription}",
        404,
        code="resource_missing",
    ),
    Row(
        "DELETE /v1/products/{id} with a param",
        "DELETE",
        "/v1/products/{product}",
        400,
        query="x=1",
        code="parameter_unknown",
        listing="/v1/products",
    ),
    Row(
        "DELETE /v1/products/{id} over-long id",
        "DELETE",
        "/v1/products/" + "x" * 3000,
        404,
        listing="/v1/products",
    ),
    Row(
        "DELETE /v1/products/{id} NUL in the id",
        "DELETE",
        "/v1/products/prod_%00",
        404,
        listing="/v1/products",
    ),
    Row(
        "DELETE /v1/products/{id} a product with prices",
        "DELETE",
        "/v1/products/{priced_product}",
        400,
        listing="/v1/products",
    ),
    *search_cases("/v1/customers/search", "email:'ada@example.com'"),
    *search_cases("/v1/products/search", "name:'seed'"),
    *search_cases("/v1/prices/search", "currency:'usd'"),
    *search_cases("/v1/subscriptions/search", "status:'active'"),
    Row(
        "DELETE /v1/subscriptions/{id} with a param",
        "DELETE",
        "/v1/subscriptions/{subscription}",
        400,
        query="x=1",
        code="parameter_unknown",
        listing="/v1/subscriptions",
    ),
    *(
        Row(
            f"DELETE /v1/subscriptions/{{id}} {name}",
            "DELETE",
            SUB_PATH,
            400,
            query=query,
            param=param,
            listing="/v1/subscriptions",
        )
        for name, query, param in [
            ("invoice_now not a boolean", "invoice_now=yes", "invoice_now"),
            ("prorate not a boolean", "invoice_now=true&prorate=1", "prorate"),
            ("prorate without invoice_now", "prorate=true", "prorate"),
        ]
    ),
    *(
        Row(
            f"POST /v1/subscriptions {name}",
            "POST",
            "/v1/subscriptions",
            400,
            form({"customer": "{customer}", "items": [{"price": "{price}"}], **extra}),
            param=param,
            listing="/v1/subscriptions",
        )
        for name, extra, param in [
            ("trial_period_days a string", {"trial_period_days": "two weeks"}, "trial_period_days"),
            ("trial_period_days over 730", {"trial_period_days": 731}, "trial_period_days"),
            ("trial_end far future", {"trial_end": 2**62}, "trial_end"),
            ("trial_end in the past", {"trial_end": 1}, "trial_end"),
            ("trial_end now", {"trial_end": "now"}, "trial_end"),
            ("backdate_start_date a string", {"backdate_start_date": "yesterday"}, "backdate_start_date"),
            ("backdate_start_date negative", {"backdate_start_date": -1}, "backdate_start_date"),
            (
                "backdate_start_date in the future",
                {"backdate_start_date": NOW + 86400},
                "backdate_start_date",
            ),
            (
                "backdate_start_date 2 months back",
                {"backdate_start_date": NOW - 62 * 86400},
                "backdate_start_date",
            ),
            (
                "backdate_start_date with a trial",
                {"backdate_start_date": NOW - 86400, "trial_period_days": 7},
                "backdate_start_date",
            ),
            ("cancel_at a string", {"cancel_at": "soon"}, "cancel_at"),
            ("cancel_at in the past", {"cancel_at": 1}, "cancel_at"),
            ("cancel_at far future", {"cancel_at": 2**62}, "cancel_at"),
            (
                "cancel_at with cancel_at_period_end",
                {"cancel_at": NOW + 86400, "cancel_at_period_end": "true"},
                "cancel_at",
            ),
            ("cancel_at_period_end not a boolean", {"cancel_at_period_end": "soon"}, "cancel_at_period_end"),
        ]
    ),
    # -- POST /v1/subscriptions/{id}: its own params ----------------------------------------------------
    *(
        Row(
            f"POST /v1/subscriptions/{{id}} {name}",
            "POST",
            SUB_PATH,
            400,
            form(body),
            param=param,
            listing="/v1/subscriptions",
        )
        for name, body, param in [
            ("proration_behavior unknown", {"proration_behavior": "sometimes"}, "proration_behavior"),
            ("proration_date a string", {"proration_date": "soon"}, "proration_date"),
            ("proration_date negative", {"proration_date": -1}, "proration_date"),
            ("proration_date far future", {"proration_date": 2**62}, "proration_date"),
            ("cancel_at_period_end not a boolean", {"cancel_at_period_end": "yes"}, "cancel_at_period_end"),
            ("trial_end not trialing", {"trial_end": "now"}, "trial_end"),
            ("trial_end a word", {"trial_end": "tomorrow"}, "trial_end"),
            ("trial_end far future", {"trial_end": 2**62}, "trial_end"),
            ("trial_end hash", {"trial_end": {"x": "1"}}, "trial_end"),
            ("cancel_at a string", {"cancel_at": "soon"}, "cancel_at"),
            ("cancel_at in the past", {"cancel_at": 1}, "cancel_at"),
            ("cancel_at far future", {"cancel_at": 2**62}, "cancel_at"),
            (
                "cancel_at with cancel_at_period_end",
                {"cancel_at": NOW + 86400, "cancel_at_period_end": "false"},
                "cancel_at",
            ),
            ("items a string", {"items": "x"}, "items"),
            ("item id too long", {"items": [{"id": "si_" + "x" * 300, "quantity": 2}]}, "items[0][id]"),
            ("item id unknown", {"items": [{"id": "si_../../x", "quantity": 2}]}, "items[0][id]"),
            (
                "item quantity over the maximum",
                {"items": [{"price": "{price}", "quantity": 10**13}]},
                "items[0][quantity]",
            ),
            (
                "item quantity negative",
                {"items": [{"price": "{price}", "quantity": -1}]},
                "items[0][quantity]",
            ),
            ("item without id or price", {"items": [{"quantity": 2}]}, "items[0][price]"),
            (
                "item deleted not a boolean",
                {"items": [{"price": "{price}", "deleted": "x"}]},
                "items[0][deleted]",
            ),
            ("item price repeated", {"items": [{"price": "{price}"}]}, "items[1][price]"),
            ("item with an unknown field", {"items": [{"price": "{price}", "plan": "x"}]}, "items[0][plan]"),
            ("21 items", {"items": [{"price": f"price_{i}"} for i in range(21)]}, "items"),
        ]
    ),
    # -- /v1/tally/account_settings ---------------------------------------------------------------------
    *(
        Row(f"POST {SETTINGS} {name}", "POST", SETTINGS, 400, form(body), param=param, listing="/v1/events")
        for name, body, param in [
            ("grace over 72 h", {"invoice_grace_period": 72 * 3600 + 1}, "invoice_grace_period"),
            ("grace negative", {"invoice_grace_period": -1}, "invoice_grace_period"),
            ("grace with a unit", {"invoice_grace_period": "3h"}, "invoice_grace_period"),
            ("grace a decimal", {"invoice_grace_period": "1.5"}, "invoice_grace_period"),
            ("grace a hash", {"invoice_grace_period": {"x": "1"}}, "invoice_grace_period"),
            ("grace huge", {"invoice_grace_period": "9" * 40}, "invoice_grace_period"),
        ]
    ),
    Row(
        f"GET {SETTINGS} with a param",
        "GET",
        SETTINGS,
        400,
        query="limit=3",
        param="limit",
        listing="/v1/events",
    ),
    # -- /v1/customers: its own params -----------------------------------------------------------------
    Row("POST /v1/customers name over 256", "POST", "/v1/customers", 400, form({"name": "x" * 257})),
    Row("POST /v1/customers email over 512", "POST", "/v1/customers", 400, form({"email": "x" * 513})),
    Row("POST /v1/customers metadata as a string", "POST", "/v1/customers", 400, form({"metadata": "x"})),
    Row(
        "POST /v1/customers metadata as a list", "POST", "/v1/customers", 400, json_body({"metadata": ["x"]})
    ),
    Row(
        "POST /v1/customers nested metadata",
        "POST",
        "/v1/customers",
        400,
        form({"metadata": {"k": {"x": "1"}}}),
    ),
    Row(
        "POST /v1/customers metadata with 51 keys",
        "POST",
        "/v1/customers",
        400,
        form({"metadata": {f"k{i}": "v" for i in range(51)}}),
    ),
    Row(
        "POST /v1/customers metadata key over 40",
        "POST",
        "/v1/customers",
        400,
        form({"metadata": {"k" * 41: "v"}}),
    ),
    Row(
        "POST /v1/customers metadata value over 500",
        "POST",
        "/v1/customers",
        400,
        form({"metadata": {"k": "v" * 501}}),
    ),
    Row(
        "POST /v1/customers NUL in a metadata value",
        "POST",
        "/v1/customers",
        400,
        form({"metadata": {"k": "a\x00b"}}),
    ),
    Row(
        "POST /v1/customers NUL in a metadata key",
        "POST",
        "/v1/customers",
        400,
        form({"metadata": {"a\x00b": "v"}}),
    ),
    Row(
        "POST /v1/customers JSON float in nested metadata",
        "POST",
        "/v1/customers",
        400,
        json_body({"metadata": {"k": {"n": 1.5}}}),
    ),
    Row(
        "GET /v1/customers created as a huge int",
        "GET",
        "/v1/customers",
        400,
        query="created[gte]=" + "9" * 30,
    ),
    Row(
        "GET /v1/customers/{id} over-long id",
        "GET",
        "/v1/customers/" + "x" * 3000,
        404,
        code="resource_missing",
    ),
    Row(
        "POST /v1/customers/{id} over-long id",
        "POST",
        "/v1/customers/" + "x" * 3000,
        404,
        form({"name": "x"}),
    ),
    Row("DELETE /v1/customers/{id} over-long id", "DELETE", "/v1/customers/" + "x" * 3000, 404),
    Row("GET /v1/customers/{id} NUL in the id", "GET", "/v1/customers/cus_%00", 404),
    Row(
        "DELETE /v1/customers/{id} with a param",
        "DELETE",
        "/v1/customers/{customer}",
        400,
        query="x=1",
        code="parameter_unknown",
    ),
    # -- meter events: their own numbers ---------------------------------------------------------------------
    *(
        Row(
            f"POST /v1/billing/meter_events value {name}",
            "POST",
            "/v1/billing/meter_events",
            400,
            form({"event_name": EVENT_NAME, "payload": {"stripe_customer_id": "{customer}", "value": value}}),
            listing=SUMMARIES,
        )
        for name, value in [
            ("beyond int64", str(2**63)),
            ("of 5000 digits", "9" * 5000),
            ("as a float", "1.5"),
            ("as an exponent", "1e3"),
            ("as a hash", {"x": "1"}),
        ]
    ),
    Row(
        "POST /v1/billing/meter_events huge timestamp",
        "POST",
        "/v1/billing/meter_events",
        400,
        form(
            {
                "event_name": EVENT_NAME,
                "payload": {"stripe_customer_id": "{customer}", "value": "1"},
                "timestamp": "9" * 30,
            }
        ),
        listing=SUMMARIES,
    ),
    Row(
        "GET event_summaries with a huge start_time",
        "GET",
        "/v1/billing/meters/{meter}/event_summaries",
        400,
        query="customer={customer}&start_time=" + "9" * 30 + "&end_time=60",
        listing="/v1/billing/meters",
    ),
    # -- routes that do not exist: the $default route answers with Stripe's 404 ----------------------------
    Row("GET unknown route", "GET", "/v1/nope", 404),
    Row("POST unknown route with a 2 MiB body", "POST", "/v1/nope", 404, raw(b"a=" + b"b" * 2 * MIB)),
    Row("PUT on a known path", "PUT", "/v1/customers", 404),
    Row("path traversal", "GET", "/v1/customers/../../etc/passwd", 404),
    Row("v2 path that does not exist", "POST", "/v2/nope", 404, json_body({"a": 1})),
]


class Seeds:
    """Objects a row needs, created on first use within one test (in the test's fresh account)."""

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


def _get(api: support.Api, listing: str) -> Any:
    path, _, query = listing.partition("?")
    response = api.get(path, query=query or "limit=100")
    assert response.status == 200, response.text
    return response.json


def _snapshot(api: support.Api, listing: str) -> tuple[Any, list[dict]]:
    return _get(api, listing), support.stored_events(api.account.id)


@pytest.fixture(scope="module")
def shared(functions) -> tuple[support.Api, Seeds]:
    """One account and its seeds for all rows: a row that is rejected changes nothing, so rows cannot
    disturb each other, and each row compares its own before and after (creating seeds per row
    would make this table the slowest test in the suite)."""
    api = support.Api(functions, support.new_account())
    return api, Seeds(api)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id[:120])
def test_hostile_input_gets_a_4xx_stripe_error_and_changes_nothing(shared, row):
    # GIVEN an account, the objects the row needs, and a snapshot of what is stored
    api, seeds = shared
    path, listing, query = seeds.fill(row.path), seeds.fill(row.listing), seeds.fill(row.query)
    body, ctype = row.body(seeds.fill) if row.body else (b"", FORM)
    before = _snapshot(api, listing)
    # WHEN the hostile request is sent
    response = api.request(row.method, path, body=body, query=query, content_type=ctype, headers=row.headers)
    # THEN a Stripe error envelope with the expected 4xx, and nothing stored or changed
    assert 400 <= response.status < 500, (response.status, response.text[:500])
    support.assert_stripe_error(response.status, response.json, row.status, code=row.code, param=row.param)
    assert _snapshot(api, listing) == before


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.path)
def test_each_target_request_succeeds(api, target):
    # GIVEN a target's valid request (in a fresh account) WHEN sent THEN it succeeds and (unless it
    # stores nothing) its listing changes, so the hostile rows fail for their hostile part only
    seeds = Seeds(api)
    path, listing = seeds.fill(target.path), seeds.fill(target.listing)
    body, ctype = (form(target.valid) if target.form else json_body(target.valid))(seeds.fill)
    before = _snapshot(api, listing)
    response = api.request("POST", path, body=body, content_type=ctype)
    assert response.status == 200, response.text
    assert (_snapshot(api, listing) != before) is target.stores
