"""Hostile input on the billing credit routes (issue 13 points 1 and 3): every refused request gets
Stripe's error envelope with the right status, code and param, and changes nothing — no grant, no
ledger entry, no balance moved, no event."""

from __future__ import annotations

import time
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

GRANTS = "/v1/billing/credit_grants"
SUMMARY = "/v1/billing/credit_balance_summary"
LEDGER = "/v1/billing/credit_balance_transactions"
NOW = int(time.time())
METERED_SCOPE = {"scope": {"price_type": "metered"}}


def ok(response: support.Response) -> Any:
    assert response.status == 200, response.text
    return response.json


@pytest.fixture
def world(api: support.Api) -> dict[str, str]:
    """A customer with one grant of 10.00; a metered USD price, a licensed one, a metered EUR one."""
    customer = ok(api.post("/v1/customers", {"name": "H"}))["id"]
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "T", "event_name": "hostile_credit", "default_aggregation": {"formula": "sum"}},
        )
    )["id"]

    def price(currency: str, **recurring: Any) -> str:
        params = {
            "currency": currency,
            "unit_amount": 1,
            "product_data": {"name": "T"},
            "recurring": {"interval": "month", **recurring},
        }
        return str(ok(api.post("/v1/prices", params))["id"])

    g = ok(api.post(GRANTS, _grant(customer)))["id"]
    return {
        "customer": customer,
        "grant": g,
        "metered": price("usd", usage_type="metered", meter=meter),
        "licensed": price("usd"),
        "eur_metered": price("eur", usage_type="metered", meter=meter),
    }


def _grant(customer: str, over: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    return {
        "customer": customer,
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 1000}},
        "applicability_config": METERED_SCOPE,
        **(over or {}),
        **more,
    }


def _state(api: support.Api, customer: str) -> tuple[Any, ...]:
    grants = ok(api.get(GRANTS, {"customer": customer, "limit": 100}))["data"]
    ledger = ok(api.get(LEDGER, {"customer": customer, "limit": 100}))["data"]
    return (grants, ledger, len(support.stored_events(api.account.id)))


def _refused(
    api: support.Api, world: dict[str, str], response: support.Response, status: int, **want: Any
) -> None:
    support.assert_stripe_error(response.status, response.json, status, **want)


def _amount(value: Any, currency: Any = "usd", kind: Any = "monetary") -> dict[str, Any]:
    return {"type": kind, "monetary": {"currency": currency, "value": value}}


CREATE_CASES: list[tuple[str, Any, str, str | None]] = [
    # (what, params over a valid create (or a function of the world), code, param)
    ("no customer", {"customer": None}, "parameter_missing", "customer"),
    ("unknown customer", {"customer": "cus_nope"}, "resource_missing", "customer"),
    ("customer_account", {"customer_account": "acct_1"}, "parameter_invalid", "customer_account"),
    ("no amount", {"amount": None}, "parameter_missing", "amount"),
    ("amount not a hash", {"amount": "1000"}, "parameter_invalid", "amount"),
    ("zero value", {"amount": _amount(0)}, "parameter_invalid_integer", "amount[monetary][value]"),
    ("negative value", {"amount": _amount(-5)}, "parameter_invalid_integer", "amount[monetary][value]"),
    ("float value", {"amount": _amount("10.5")}, "parameter_invalid_integer", "amount[monetary][value]"),
    ("huge value", {"amount": _amount(10**16)}, "parameter_invalid_integer", "amount[monetary][value]"),
    (
        "no value",
        {"amount": {"type": "monetary", "monetary": {"currency": "usd"}}},
        "parameter_missing",
        "amount[monetary][value]",
    ),
    ("no monetary", {"amount": {"type": "monetary"}}, "parameter_missing", "amount[monetary]"),
    ("bad currency", {"amount": _amount(5, "zzz")}, "parameter_invalid", "amount[monetary][currency]"),
    ("bad type", {"amount": _amount(5, kind="points")}, "parameter_invalid", "amount[type]"),
    (
        "custom pricing unit on GA",
        {"amount": {"type": "custom_pricing_unit"}},
        "parameter_invalid",
        "amount[type]",
    ),
    ("no applicability", {"applicability_config": None}, "parameter_missing", "applicability_config"),
    ("no scope", {"applicability_config": {"x": "1"}}, "parameter_missing", "applicability_config[scope]"),
    (
        "empty scope",
        {"applicability_config": {"scope": {"a": ""}}},
        "parameter_unknown",
        "applicability_config[scope][a]",
    ),
    (
        "licensed price_type",
        {"applicability_config": {"scope": {"price_type": "licensed"}}},
        "parameter_invalid",
        "applicability_config[scope][price_type]",
    ),
    (
        "billable_items on GA",
        {"applicability_config": {"scope": {"billable_items": [{"id": "bli_1"}]}}},
        "parameter_unknown",
        "applicability_config[scope][billable_items]",
    ),
    (
        "21 prices",
        {"applicability_config": {"scope": {"prices": [{"id": f"price_{i}"} for i in range(21)]}}},
        "parameter_invalid",
        "applicability_config[scope][prices]",
    ),
    (
        "unknown price",
        {"applicability_config": {"scope": {"prices": [{"id": "price_nope"}]}}},
        "resource_missing",
        "applicability_config[scope][prices][0][id]",
    ),
    ("bad category", {"category": "free"}, "parameter_invalid", "category"),
    ("priority 101", {"priority": 101}, "parameter_invalid_integer", "priority"),
    ("priority -1", {"priority": -1}, "parameter_invalid_integer", "priority"),
    ("priority text", {"priority": "high"}, "parameter_invalid_integer", "priority"),
    ("expires in the past", {"expires_at": NOW - 60}, "parameter_invalid", "expires_at"),
    (
        "expires before effective",
        {"effective_at": NOW + 7200, "expires_at": NOW + 3600},
        "parameter_invalid",
        "expires_at",
    ),
    ("expires at year 10000", {"expires_at": 253_402_300_800}, "parameter_invalid_integer", "expires_at"),
    ("effective text", {"effective_at": "tomorrow"}, "parameter_invalid_integer", "effective_at"),
    ("name of 101", {"name": "n" * 101}, "parameter_invalid", "name"),
    ("51 metadata keys", {"metadata": {f"k{i}": "v" for i in range(51)}}, "parameter_invalid", "metadata"),
    ("unknown param", {"livemode": "true"}, "parameter_unknown", "livemode"),
]


@pytest.mark.parametrize(("what", "over", "code", "param"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES])
def test_a_bad_create_is_refused_and_changes_nothing(
    api: support.Api, world: dict[str, str], what: str, over: dict[str, Any], code: str, param: str | None
) -> None:
    before = _state(api, world["customer"])
    params = {k: v for k, v in _grant(world["customer"], over).items() if v is not None}
    _refused(api, world, api.post(GRANTS, params), 400, code=code, param=param)
    assert _state(api, world["customer"]) == before


@pytest.mark.parametrize(
    ("price", "message"),
    [("licensed", "not metered"), ("eur_metered", "in eur")],
)
def test_a_price_scope_must_name_metered_prices_in_the_grants_currency(
    api: support.Api, world: dict[str, str], price: str, message: str
) -> None:
    before = _state(api, world["customer"])
    scope = {"scope": {"prices": [{"id": world["metered"]}, {"id": world[price]}]}}
    response = api.post(GRANTS, _grant(world["customer"], applicability_config=scope))
    error = support.assert_stripe_error(
        response.status, response.json, 400, param="applicability_config[scope][prices][1][id]"
    )
    assert message in error["message"]
    assert _state(api, world["customer"]) == before


@pytest.mark.parametrize(
    "scope",
    [
        {"scope": {"price_type": "metered", "prices": [{"id": "price_1"}]}},
        {"scope": {"prices": [{"id": "p"}, {"id": "p"}]}},
        {"scope": {"prices": [{"x": "p"}]}},
    ],
)
def test_a_scope_takes_one_kind_of_target(
    api: support.Api, world: dict[str, str], scope: dict[str, Any]
) -> None:
    before = _state(api, world["customer"])
    response = api.post(GRANTS, _grant(world["customer"], applicability_config=scope))
    support.assert_stripe_error(response.status, response.json, 400)
    assert _state(api, world["customer"]) == before


def test_preview_fields_are_refused_as_not_supported_on_a_preview_version(
    api: support.Api, world: dict[str, str]
) -> None:
    before = _state(api, world["customer"])
    preview = {"Stripe-Version": "2026-08-12.preview"}
    cpu = api.post(GRANTS, _grant(world["customer"], amount={"type": "custom_pricing_unit"}), headers=preview)
    error = support.assert_stripe_error(cpu.status, cpu.json, 400, param="amount[type]")
    assert "preview" in error["message"]
    items = {"scope": {"billable_items": [{"id": "bli_1"}]}}
    bli = api.post(GRANTS, _grant(world["customer"], applicability_config=items), headers=preview)
    support.assert_stripe_error(
        bli.status, bli.json, 400, param="applicability_config[scope][billable_items]"
    )
    assert _state(api, world["customer"]) == before


def test_updates_touch_only_expiry_and_metadata(api: support.Api, world: dict[str, str]) -> None:
    before = _state(api, world["customer"])
    url = f"{GRANTS}/{world['grant']}"
    for params, code, param in [
        ({"priority": 1}, "parameter_unknown", "priority"),
        ({"amount": _amount(5)}, "parameter_unknown", "amount"),
        ({"name": "x"}, "parameter_unknown", "name"),
        ({"expires_at": NOW - 1}, "parameter_invalid", "expires_at"),
        ({"expires_at": "soon"}, "parameter_invalid_integer", "expires_at"),
        ({"metadata": {"[x]": "1"}}, "parameter_invalid", None),
    ]:
        response = api.post(url, params)
        support.assert_stripe_error(response.status, response.json, 400, code=code, param=param)
    assert _state(api, world["customer"]) == before


def test_unknown_and_ended_grants(api: support.Api, world: dict[str, str]) -> None:
    for method, path in [
        ("GET", f"{GRANTS}/credgr_nope"),
        ("POST", f"{GRANTS}/credgr_nope"),
        ("POST", f"{GRANTS}/credgr_nope/expire"),
        ("POST", f"{GRANTS}/credgr_nope/void"),
        ("GET", f"{LEDGER}/cbtxn_61nope"),
        ("GET", f"{GRANTS}/{world['customer']}"),  # an id of another kind
    ]:
        response = api.request(method, path)
        support.assert_stripe_error(response.status, response.json, 404, code="resource_missing")
    ok(api.post(f"{GRANTS}/{world['grant']}/void"))
    before = _state(api, world["customer"])
    for action, params in [("void", {}), ("expire", {}), ("", {"expires_at": NOW + 3600})]:
        url = f"{GRANTS}/{world['grant']}" + (f"/{action}" if action else "")
        response = api.post(url, params)
        support.assert_stripe_error(response.status, response.json, 400)
    assert _state(api, world["customer"]) == before


def test_another_accounts_grants_are_invisible(
    api: support.Api, world: dict[str, str], other_account: support.Account
) -> None:
    other = api.as_(other_account)
    before = _state(api, world["customer"])
    for method, path in [
        ("GET", f"{GRANTS}/{world['grant']}"),
        ("POST", f"{GRANTS}/{world['grant']}/void"),
        ("POST", f"{GRANTS}/{world['grant']}/expire"),
    ]:
        response = other.request(method, path)
        support.assert_stripe_error(response.status, response.json, 404)
    listed = other.get(GRANTS, {"customer": world["customer"]})
    support.assert_stripe_error(listed.status, listed.json, 400, code="resource_missing", param="customer")
    summary = other.get(
        SUMMARY,
        {"customer": world["customer"], "filter": {"type": "credit_grant", "credit_grant": world["grant"]}},
    )
    support.assert_stripe_error(summary.status, summary.json, 400, param="customer")
    assert _state(api, world["customer"]) == before


SUMMARY_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "no customer",
        {"filter": {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}}},
        "parameter_missing",
        "customer",
    ),
    ("no filter", {"customer": "{customer}"}, "parameter_missing", "filter"),
    (
        "bad filter type",
        {"customer": "{customer}", "filter": {"type": "everything"}},
        "parameter_invalid",
        "filter[type]",
    ),
    (
        "scope missing",
        {"customer": "{customer}", "filter": {"type": "applicability_scope"}},
        "parameter_missing",
        "filter[applicability_scope]",
    ),
    (
        "grant missing",
        {"customer": "{customer}", "filter": {"type": "credit_grant"}},
        "parameter_missing",
        "filter[credit_grant]",
    ),
    (
        "unknown grant",
        {"customer": "{customer}", "filter": {"type": "credit_grant", "credit_grant": "credgr_x"}},
        "resource_missing",
        "filter[credit_grant]",
    ),
    (
        "both scopes",
        {
            "customer": "{customer}",
            "filter": {
                "type": "applicability_scope",
                "applicability_scope": {"price_type": "metered", "prices": [{"id": "p"}]},
            },
        },
        "parameter_invalid",
        "filter[applicability_scope]",
    ),
    (
        "unknown customer",
        {"customer": "cus_nope", "filter": {"type": "credit_grant", "credit_grant": "credgr_x"}},
        "resource_missing",
        "customer",
    ),
]


@pytest.mark.parametrize(
    ("what", "params", "code", "param"), SUMMARY_CASES, ids=[c[0] for c in SUMMARY_CASES]
)
def test_a_bad_summary_request_is_refused(
    api: support.Api, world: dict[str, str], what: str, params: dict[str, Any], code: str, param: str
) -> None:
    filled = support_fill(params, world)
    response = api.get(SUMMARY, filled)
    support.assert_stripe_error(response.status, response.json, 400, code=code, param=param)


def test_a_grant_of_another_customer_is_not_in_a_summary(api: support.Api, world: dict[str, str]) -> None:
    someone = ok(api.post("/v1/customers", {"name": "S"}))["id"]
    response = api.get(
        SUMMARY, {"customer": someone, "filter": {"type": "credit_grant", "credit_grant": world["grant"]}}
    )
    support.assert_stripe_error(
        response.status, response.json, 400, code="resource_missing", param="filter[credit_grant]"
    )


def test_bad_ledger_requests(api: support.Api, world: dict[str, str]) -> None:
    for params, status, code, param in [
        ({}, 400, "parameter_missing", "customer"),
        ({"customer": "cus_nope"}, 400, "resource_missing", "customer"),
        ({"customer": world["customer"], "limit": 101}, 400, "parameter_invalid_integer", "limit"),
        (
            {"customer": world["customer"], "customer_account": "a"},
            400,
            "parameter_invalid",
            "customer_account",
        ),
        ({"customer": world["customer"], "type": "credit"}, 400, "parameter_unknown", "type"),
    ]:
        response = api.get(LEDGER, params)
        support.assert_stripe_error(response.status, response.json, status, code=code, param=param)


def support_fill(params: dict[str, Any], world: dict[str, str]) -> dict[str, Any]:
    return {k: (world["customer"] if v == "{customer}" else v) for k, v in params.items()}


def test_a_customers_credits_in_one_currency_stay_within_max_amount(
    api: support.Api, world: dict[str, str]
) -> None:
    from tally.domain.limits import MAX_AMOUNT

    # GIVEN the world's grant of 1,000 WHEN a grant would take the USD credits past MAX_AMOUNT
    before = _state(api, world["customer"])
    response = api.post(GRANTS, _grant(world["customer"], amount=_amount(MAX_AMOUNT)))
    # THEN 400 amount_too_large, and one that reaches it exactly is taken
    support.assert_stripe_error(
        response.status, response.json, 400, code="amount_too_large", param="amount[monetary][value]"
    )
    assert _state(api, world["customer"]) == before
    ok(api.post(GRANTS, _grant(world["customer"], amount=_amount(MAX_AMOUNT - 1000))))
