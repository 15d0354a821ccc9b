"""Hostile input to credit-balance alerts (`POST /v1/billing/alerts` with
`alert_type=credit_balance_threshold`) and automatic top-up rules (`/v1/tally/credit_top_up_rules`):
each bad request gets Stripe's error shape with the right status naming the parameter, and
changes nothing (no alert, rule, invoice or event is written)."""

from __future__ import annotations

from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

ALERTS = "/v1/billing/alerts"
RULES = "/v1/tally/credit_top_up_rules"
CBT = "credit_balance_threshold"


def _alert(cus: str, **over: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "filters": [{"type": "customer", "customer": cus}],
        "lte": {"balance_type": "monetary", "monetary": {"currency": "usd", "value": 500}},
    }
    rule.update(over)
    return {"alert_type": CBT, "title": "Low", CBT: rule}


def _money(**over: Any) -> dict[str, Any]:
    return {"balance_type": "monetary", "monetary": {"currency": "usd", "value": 500, **over}}


# (name, body given the customer id, status, code, param)
ALERT_CASES: list[tuple[str, Any, int, str | None, str]] = [
    (
        "no credit_balance_threshold",
        lambda c: {"alert_type": CBT, "title": "t"},
        400,
        "parameter_missing",
        CBT,
    ),
    ("no filters", lambda c: _alert(c, filters=None), 400, "parameter_missing", f"{CBT}[filters]"),
    (
        "two filters",
        lambda c: _alert(c, filters=[{"type": "customer", "customer": c}] * 2),
        400,
        None,
        f"{CBT}[filters]",
    ),
    (
        "a tenant filter",
        lambda c: _alert(c, filters=[{"type": "tenant", "customer": c}]),
        400,
        None,
        f"{CBT}[filters][0][type]",
    ),
    (
        "an unknown customer",
        lambda c: _alert(c, filters=[{"type": "customer", "customer": "cus_nope"}]),
        400,
        "resource_missing",
        f"{CBT}[filters][0][customer]",
    ),
    (
        "a customer id of 3000 chars",
        lambda c: _alert(c, filters=[{"type": "customer", "customer": "c" * 3000}]),
        400,
        None,
        f"{CBT}[filters][0][customer]",
    ),
    ("no lte", lambda c: _alert(c, lte=None), 400, "parameter_missing", f"{CBT}[lte]"),
    (
        "custom pricing units",
        lambda c: _alert(c, lte={"balance_type": "custom_pricing_unit"}),
        400,
        None,
        f"{CBT}[lte][balance_type]",
    ),
    (
        "a negative value",
        lambda c: _alert(c, lte=_money(value=-1)),
        400,
        "parameter_invalid_integer",
        f"{CBT}[lte][monetary][value]",
    ),
    (
        "a value past 2^63",
        lambda c: _alert(c, lte=_money(value=2**63)),
        400,
        "parameter_invalid_integer",
        f"{CBT}[lte][monetary][value]",
    ),
    (
        "a float value",
        lambda c: _alert(c, lte=_money(value="5.5")),
        400,
        "parameter_invalid_integer",
        f"{CBT}[lte][monetary][value]",
    ),
    (
        "an unknown currency",
        lambda c: _alert(c, lte=_money(currency="xxx")),
        400,
        None,
        f"{CBT}[lte][monetary][currency]",
    ),
    (
        "an unknown nested param",
        lambda c: _alert(c, lte={**_money(), "gte": 1}),
        400,
        "parameter_unknown",
        f"{CBT}[lte][gte]",
    ),
    (
        "usage_threshold beside it",
        lambda c: {**_alert(c), "usage_threshold": {"gte": 1}},
        400,
        None,
        "usage_threshold",
    ),
    (
        "credit_balance_threshold on a usage alert",
        lambda c: {**_alert(c), "alert_type": "usage_threshold"},
        400,
        None,
        CBT,
    ),
    ("filters as a string", lambda c: _alert(c, filters="customer"), 400, None, f"{CBT}[filters]"),
]


def _rule(cus: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"customer": cus, "currency": "usd", "threshold": 500, "amount": 2000}
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


RULE_CASES: list[tuple[str, Any, int, str | None, str]] = [
    ("no customer", lambda c: _rule(c, customer=None), 400, "parameter_missing", "customer"),
    ("an unknown customer", lambda c: _rule("cus_nope"), 400, "resource_missing", "customer"),
    ("a customer of 3000 chars", lambda c: _rule("c" * 3000), 400, None, "customer"),
    ("no currency", lambda c: _rule(c, currency=None), 400, "parameter_missing", "currency"),
    ("an unknown currency", lambda c: _rule(c, currency="zzz"), 400, None, "currency"),
    ("no threshold", lambda c: _rule(c, threshold=None), 400, "parameter_missing", "threshold"),
    ("a negative threshold", lambda c: _rule(c, threshold=-1), 400, "parameter_invalid_integer", "threshold"),
    ("a huge threshold", lambda c: _rule(c, threshold=10**20), 400, "parameter_invalid_integer", "threshold"),
    (
        "a decimal threshold",
        lambda c: _rule(c, threshold="1.5"),
        400,
        "parameter_invalid_integer",
        "threshold",
    ),
    ("neither amount nor target", lambda c: _rule(c, amount=None), 400, None, "target_balance"),
    ("both amount and target", lambda c: _rule(c, target_balance=9000), 400, None, "amount"),
    ("a zero amount", lambda c: _rule(c, amount=0), 400, "parameter_invalid_integer", "amount"),
    (
        "an amount past the maximum",
        lambda c: _rule(c, amount=10**15),
        400,
        "parameter_invalid_integer",
        "amount",
    ),
    (
        "a target at the threshold",
        lambda c: _rule(c, amount=None, target_balance=500),
        400,
        None,
        "target_balance",
    ),
    (
        "max_per_period 0",
        lambda c: _rule(c, max_per_period=0),
        400,
        "parameter_invalid_integer",
        "max_per_period",
    ),
    (
        "max_per_period 101",
        lambda c: _rule(c, max_per_period=101),
        400,
        "parameter_invalid_integer",
        "max_per_period",
    ),
    ("a period of a year", lambda c: _rule(c, period="year"), 400, None, "period"),
    (
        "an unknown collection method",
        lambda c: _rule(c, collection_method="card"),
        400,
        None,
        "collection_method",
    ),
    ("days_until_due when charging", lambda c: _rule(c, days_until_due=5), 400, None, "days_until_due"),
    (
        "negative days_until_due",
        lambda c: _rule(c, collection_method="send_invoice", days_until_due=-1),
        400,
        "parameter_invalid_integer",
        "days_until_due",
    ),
    (
        "an unknown param",
        lambda c: _rule(c, grant_category="promotional"),
        400,
        "parameter_unknown",
        "grant_category",
    ),
    ("metadata as a string", lambda c: _rule(c, metadata="x"), 400, None, "metadata"),
    (
        "metadata with 51 keys",
        lambda c: _rule(c, metadata={f"k{i}": "v" for i in range(51)}),
        400,
        None,
        "metadata",
    ),
]


def _snapshot(api: support.Api) -> tuple[int, list[str], list[str]]:
    """(events, alert ids, rule ids): what a refused request must not change."""
    alerts = api.get(ALERTS, {"limit": 100}).json["data"]
    rules = api.get(RULES, {"limit": 100}).json["data"]
    return len(support.stored_events(api.account.id)), [a["id"] for a in alerts], [r["id"] for r in rules]


@pytest.mark.parametrize(
    ("name", "body", "status", "code", "param"), ALERT_CASES, ids=[c[0] for c in ALERT_CASES]
)
def test_a_bad_credit_alert_is_refused_and_changes_nothing(api, name, body, status, code, param):
    # GIVEN a customer
    cus = api.post("/v1/customers", {"name": "Hostile"}).json["id"]
    before = _snapshot(api)
    # WHEN a bad credit-balance alert is created
    response = api.post(ALERTS, body(cus))
    # THEN Stripe's error naming the parameter, and nothing written
    support.assert_stripe_error(
        response.status, response.json, status, param=param, **({"code": code} if code else {})
    )
    assert _snapshot(api) == before


@pytest.mark.parametrize(
    ("name", "body", "status", "code", "param"), RULE_CASES, ids=[c[0] for c in RULE_CASES]
)
def test_a_bad_top_up_rule_is_refused_and_changes_nothing(api, name, body, status, code, param):
    # GIVEN a customer
    cus = api.post("/v1/customers", {"name": "Hostile"}).json["id"]
    before = _snapshot(api)
    # WHEN a bad rule is created
    response = api.post(RULES, body(cus))
    # THEN Stripe's error naming the parameter, and nothing written (no rule, no invoice, no event)
    support.assert_stripe_error(
        response.status, response.json, status, param=param, **({"code": code} if code else {})
    )
    assert _snapshot(api) == before
    assert api.get("/v1/invoices", {"customer": cus}).json["data"] == []


def test_a_second_rule_in_one_currency_is_refused_and_another_currency_is_not(api):
    # GIVEN a customer with a rule in usd (its first top-up started at creation: balance 0)
    cus = api.post("/v1/customers", {"name": "Twice"}).json["id"]
    assert api.post(RULES, _rule(cus)).status == 200
    before = _snapshot(api)
    # WHEN a second usd rule is created THEN 400 resource_already_exists naming currency, nothing written
    again = api.post(RULES, _rule(cus, threshold=100))
    support.assert_stripe_error(
        again.status, again.json, 400, code="resource_already_exists", param="currency"
    )
    assert _snapshot(api) == before


def test_a_rule_in_another_currency_than_the_customer_s_is_refused(api):
    # GIVEN a customer billed in eur (its balance set in eur)
    cus = api.post("/v1/customers", {"name": "Euro"}).json["id"]
    adjusted = api.post(f"/v1/customers/{cus}/balance_transactions", {"amount": -100, "currency": "eur"})
    assert adjusted.status == 200, adjusted.text
    before = _snapshot(api)
    # WHEN a usd rule is created THEN 400 naming currency, and nothing written
    refused = api.post(RULES, _rule(cus))
    support.assert_stripe_error(refused.status, refused.json, 400, param="currency")
    assert _snapshot(api) == before


def test_unknown_ids_are_404_and_other_accounts_cannot_see_or_delete(api, other_account):
    # GIVEN a rule of this account
    cus = api.post("/v1/customers", {"name": "Mine"}).json["id"]
    rule = api.post(RULES, _rule(cus)).json["id"]
    # THEN an unknown id is 404 resource_missing; another account's key sees nothing
    for response in (api.get(f"{RULES}/ctur_nope"), api.delete(f"{RULES}/ctur_nope")):
        support.assert_stripe_error(response.status, response.json, 404, code="resource_missing", param="id")
    other = api.as_(other_account)
    for response in (other.get(f"{RULES}/{rule}"), other.delete(f"{RULES}/{rule}")):
        support.assert_stripe_error(response.status, response.json, 404, code="resource_missing", param="id")
    assert other.get(RULES).json["data"] == []
    listed = other.get(RULES, {"customer": cus})
    support.assert_stripe_error(listed.status, listed.json, 400, code="resource_missing", param="customer")
    # AND a rule with a top-up in flight cannot be deleted: pay or void its invoice first
    refused = api.delete(f"{RULES}/{rule}")
    support.assert_stripe_error(refused.status, refused.json, 400, code="top_up_in_flight", param="id")
    assert api.get(f"{RULES}/{rule}").status == 200


def test_list_filters_tally_does_not_serve_are_refused(api):
    # GIVEN a customer WHEN alerts are listed by Stripe's preview `customer` filter, or rules by an
    # unknown one THEN 400 parameter_unknown naming it
    cus = api.post("/v1/customers", {"name": "Lists"}).json["id"]
    for path, params, param in (
        (ALERTS, {"customer": cus}, "customer"),
        (RULES, {"currency": "usd"}, "currency"),
    ):
        response = api.get(path, params)
        support.assert_stripe_error(
            response.status, response.json, 400, code="parameter_unknown", param=param
        )
