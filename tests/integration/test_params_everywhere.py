"""Parameters in every place Stripe reads them, on every route of template.yaml (table-driven).

Every route has a valid request in VALID (a new route in template.yaml fails
`test_every_route_has_a_valid_request` until it gets one). From it, each route is checked to:
- refuse an unknown parameter (400 `parameter_unknown` naming it) wherever it is sent: the body
  (form; JSON on /v2) and the query string, for GET, POST and DELETE alike, changing nothing;
- refuse a nonsense `expand[]` path (v1: 400 "This property cannot be expanded", `expand[0]`; v2,
  which has no `expand`: `parameter_unknown`), changing nothing;
- succeed as sent (so the refusals above are for the extra parameter only).
EXPANDS lists, per route answering an object with an expandable field, a path that must expand.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

EVENT_NAME = "walk_tokens"
CLOCKS = "/v1/test_helpers/test_clocks"
FROZEN = 1_900_000_000
NOW = int(time.time())
START, END = (NOW - 86400) // 60 * 60, (NOW // 60 + 10) * 60
UNKNOWN = "definitely_not_a_param"
NONSENSE = "nonsense_path"


@dataclass(frozen=True)
class Req:
    path: str  # `{seed}` placeholders are filled by Seeds
    params: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()  # seeds to create first (so a list has something to expand)
    bearer: str | None = None  # a seed sent as the bearer credential instead of the API key


SUB = "/v1/subscriptions/{subscription}"
ALERT = {
    "alert_type": "usage_threshold",
    "title": "walk",
    "usage_threshold": {"meter": "{meter}", "gte": 10, "recurrence": "one_time"},
}
EVENT = {"event_name": EVENT_NAME, "payload": {"stripe_customer_id": "{customer}", "value": "5"}}
GRANT = {  # branch grants
    "customer": "{customer}",
    "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 1000}},
    "applicability_config": {"scope": {"price_type": "metered"}},
}
CANCEL = {"event_name": EVENT_NAME, "type": "cancel", "cancel": {"identifier": "{event}"}}
LICENSE_FEE = {
    "currency": "usd",
    "display_name": "Fee",
    "licensed_item": "{licensed_item}",
    "service_interval": "month",
    "service_interval_count": 1,
    "tax_behavior": "exclusive",
    "unit_amount": "2000",
}
SERVICE_ACTION = {
    "service_interval": "month",
    "service_interval_count": 1,
    "type": "credit_grant",
    "credit_grant": {
        "name": "Monthly",
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 500}},
        "applicability_config": {"scope": {"price_type": "metered"}},
        "expiry_config": {"type": "end_of_service_period"},
    },
}
PLAN = {"currency": "usd", "display_name": "Pro", "tax_behavior": "exclusive"}
INTENT = {
    "currency": "usd",
    "cadence": "{cadence}",
    "actions": [
        {
            "type": "subscribe",
            "subscribe": {"pricing_plan_subscription_details": {"pricing_plan": "{live_plan}"}},
        }
    ],
}
RATE_CARD = {
    "currency": "usd",
    "display_name": "Rates",
    "service_interval": "month",
    "service_interval_count": 1,
    "tax_behavior": "exclusive",
}

VALID: dict[str, Req] = {
    # customers
    "POST /v1/customers": Req("/v1/customers", {"name": "Ada"}),
    "GET /v1/customers": Req("/v1/customers"),
    "GET /v1/customers/search": Req("/v1/customers/search", {"query": "name:'Ada'"}),
    "GET /v1/customers/{id}": Req("/v1/customers/{customer}"),
    "POST /v1/customers/{id}": Req("/v1/customers/{customer}", {"name": "Ada B"}),
    "DELETE /v1/customers/{id}": Req("/v1/customers/{customer}"),
    # products and prices
    "POST /v1/products": Req("/v1/products", {"name": "Tokens"}),
    "GET /v1/products": Req("/v1/products"),
    "GET /v1/products/search": Req("/v1/products/search", {"query": "name:'Tokens'"}),
    "GET /v1/products/{id}": Req("/v1/products/{product}"),
    "POST /v1/products/{id}": Req("/v1/products/{product}", {"name": "Seats"}),
    "DELETE /v1/products/{id}": Req("/v1/products/{bare_product}"),
    "POST /v1/prices": Req("/v1/prices", {"currency": "usd", "unit_amount": 4, "product": "{product}"}),
    "GET /v1/prices": Req("/v1/prices"),
    "GET /v1/prices/search": Req("/v1/prices/search", {"query": "currency:'usd'"}, ("price",)),
    "GET /v1/prices/{id}": Req("/v1/prices/{price}"),
    "POST /v1/prices/{id}": Req("/v1/prices/{price}", {"nickname": "Standard"}),
    # meters and meter events
    "POST /v1/billing/meters": Req(
        "/v1/billing/meters",
        {"display_name": "Other", "event_name": "walk_other", "default_aggregation": {"formula": "sum"}},
    ),
    "GET /v1/billing/meters": Req("/v1/billing/meters"),
    "GET /v1/billing/meters/{id}": Req("/v1/billing/meters/{meter}"),
    "POST /v1/billing/meters/{id}": Req("/v1/billing/meters/{meter}", {"display_name": "Renamed"}),
    "POST /v1/billing/meters/{id}/deactivate": Req("/v1/billing/meters/{meter}/deactivate"),
    "POST /v1/billing/meters/{id}/reactivate": Req("/v1/billing/meters/{inactive_meter}/reactivate"),
    "GET /v1/billing/meters/{id}/event_summaries": Req(
        "/v1/billing/meters/{meter}/event_summaries",
        {"customer": "{customer}", "start_time": START, "end_time": END},
    ),
    "POST /v1/billing/meter_events": Req("/v1/billing/meter_events", {**EVENT}, ("meter",)),
    "POST /v1/billing/meter_event_adjustments": Req("/v1/billing/meter_event_adjustments", {**CANCEL}),
    "POST /v2/billing/meter_event_stream": Req(
        "/v2/billing/meter_event_stream", {"events": [{**EVENT}]}, ("meter",)
    ),
    "POST /v2/billing/meter_event_session": Req("/v2/billing/meter_event_session"),
    "POST /v2/billing/meter_events": Req("/v2/billing/meter_events", {**EVENT}, ("meter",)),
    "POST /v2/billing/meter_event_adjustments": Req("/v2/billing/meter_event_adjustments", {**CANCEL}),
    # v2 catalog (branch catalog)
    "POST /v2/billing/metered_items": Req(
        "/v2/billing/metered_items", {"display_name": "M", "meter": "{meter}"}
    ),
    "GET /v2/billing/metered_items": Req("/v2/billing/metered_items"),
    "GET /v2/billing/metered_items/{id}": Req("/v2/billing/metered_items/{metered_item}"),
    "POST /v2/billing/metered_items/{id}": Req(
        "/v2/billing/metered_items/{metered_item}", {"display_name": "N"}
    ),
    "POST /v2/billing/licensed_items": Req("/v2/billing/licensed_items", {"display_name": "Seats"}),
    "GET /v2/billing/licensed_items": Req("/v2/billing/licensed_items"),
    "GET /v2/billing/licensed_items/{id}": Req("/v2/billing/licensed_items/{licensed_item}"),
    "POST /v2/billing/licensed_items/{id}": Req(
        "/v2/billing/licensed_items/{licensed_item}", {"unit_label": "seat"}
    ),
    "POST /v2/billing/rate_cards": Req("/v2/billing/rate_cards", RATE_CARD),
    "GET /v2/billing/rate_cards": Req("/v2/billing/rate_cards"),
    "GET /v2/billing/rate_cards/{id}": Req("/v2/billing/rate_cards/{rate_card}"),
    "POST /v2/billing/rate_cards/{id}": Req("/v2/billing/rate_cards/{rate_card}", {"display_name": "R"}),
    "POST /v2/billing/rate_cards/{id}/modify_rates": Req(
        "/v2/billing/rate_cards/{rate_card}/modify_rates",
        {"rates_to_create": [{"metered_item": "{metered_item}", "unit_amount": "1"}]},
    ),
    "GET /v2/billing/rate_cards/{id}/versions": Req("/v2/billing/rate_cards/{rate_card}/versions"),
    "GET /v2/billing/rate_cards/{id}/versions/{version_id}": Req(
        "/v2/billing/rate_cards/{rate_card}/versions/{rate_card_version}"
    ),
    "GET /v2/billing/rate_cards/{id}/rates": Req("/v2/billing/rate_cards/{rate_card}/rates"),
    "POST /v2/billing/rate_cards/{id}/rates": Req(
        "/v2/billing/rate_cards/{rate_card}/rates", {"metered_item": "{metered_item}", "unit_amount": "2"}
    ),
    "GET /v2/billing/rate_cards/{id}/rates/{rate_id}": Req("/v2/billing/rate_cards/{rate_card}/rates/{rate}"),
    "DELETE /v2/billing/rate_cards/{id}/rates/{rate_id}": Req(
        "/v2/billing/rate_cards/{rate_card}/rates/{rate}"
    ),
    "POST /v2/billing/license_fees": Req("/v2/billing/license_fees", {**LICENSE_FEE}),
    "GET /v2/billing/license_fees": Req("/v2/billing/license_fees"),
    "GET /v2/billing/license_fees/{id}": Req("/v2/billing/license_fees/{license_fee}"),
    "POST /v2/billing/license_fees/{id}": Req("/v2/billing/license_fees/{license_fee}", {"unit_amount": "7"}),
    "GET /v2/billing/license_fees/{id}/versions": Req("/v2/billing/license_fees/{license_fee}/versions"),
    "GET /v2/billing/license_fees/{id}/versions/{version_id}": Req(
        "/v2/billing/license_fees/{license_fee}/versions/{license_fee_version}"
    ),
    "POST /v2/billing/service_actions": Req("/v2/billing/service_actions", SERVICE_ACTION),
    "GET /v2/billing/service_actions/{id}": Req("/v2/billing/service_actions/{service_action}"),
    "POST /v2/billing/service_actions/{id}": Req(
        "/v2/billing/service_actions/{service_action}", {"credit_grant": {"name": "Renamed"}}
    ),
    "POST /v2/billing/pricing_plans": Req("/v2/billing/pricing_plans", PLAN),
    "GET /v2/billing/pricing_plans": Req("/v2/billing/pricing_plans"),
    "GET /v2/billing/pricing_plans/{id}": Req("/v2/billing/pricing_plans/{pricing_plan}"),
    "POST /v2/billing/pricing_plans/{id}": Req(
        "/v2/billing/pricing_plans/{pricing_plan}", {"display_name": "P"}
    ),
    "GET /v2/billing/pricing_plans/{id}/versions": Req("/v2/billing/pricing_plans/{pricing_plan}/versions"),
    "GET /v2/billing/pricing_plans/{id}/versions/{version_id}": Req(
        "/v2/billing/pricing_plans/{pricing_plan}/versions/{pricing_plan_version}"
    ),
    "GET /v2/billing/pricing_plans/{id}/components": Req(
        "/v2/billing/pricing_plans/{pricing_plan}/components"
    ),
    "POST /v2/billing/pricing_plans/{id}/components": Req(
        "/v2/billing/pricing_plans/{pricing_plan}/components",
        {"type": "license_fee", "license_fee": {"id": "{license_fee}"}},
    ),
    "GET /v2/billing/pricing_plans/{id}/components/{component_id}": Req(
        "/v2/billing/pricing_plans/{pricing_plan}/components/{component}"
    ),
    "POST /v2/billing/pricing_plans/{id}/components/{component_id}": Req(
        "/v2/billing/pricing_plans/{pricing_plan}/components/{component}", {"lookup_key": "c"}
    ),
    "DELETE /v2/billing/pricing_plans/{id}/components/{component_id}": Req(
        "/v2/billing/pricing_plans/{pricing_plan}/components/{component}"
    ),
    "POST /v2/billing/profiles": Req("/v2/billing/profiles", {"customer": "{customer}"}),
    "GET /v2/billing/profiles": Req("/v2/billing/profiles"),
    "GET /v2/billing/profiles/{id}": Req("/v2/billing/profiles/{billing_profile}"),
    "POST /v2/billing/profiles/{id}": Req("/v2/billing/profiles/{billing_profile}", {"display_name": "P"}),
    "POST /v2/billing/cadences": Req(
        "/v2/billing/cadences",
        {"billing_cycle": {"type": "month"}, "payer": {"billing_profile": "{billing_profile}"}},
    ),
    "GET /v2/billing/cadences": Req("/v2/billing/cadences"),
    "GET /v2/billing/cadences/{id}": Req("/v2/billing/cadences/{cadence}"),
    "POST /v2/billing/cadences/{id}": Req("/v2/billing/cadences/{cadence}", {"lookup_key": "c1"}),
    "POST /v2/billing/cadences/{id}/cancel": Req("/v2/billing/cadences/{cadence}/cancel"),
    "POST /v2/billing/intents": Req("/v2/billing/intents", INTENT),
    "GET /v2/billing/intents": Req("/v2/billing/intents"),
    "GET /v2/billing/intents/{id}": Req("/v2/billing/intents/{intent}"),
    "POST /v2/billing/intents/{id}/reserve": Req("/v2/billing/intents/{intent}/reserve"),
    "POST /v2/billing/intents/{id}/release_reservation": Req(
        "/v2/billing/intents/{reserved_intent}/release_reservation"
    ),
    "POST /v2/billing/intents/{id}/commit": Req("/v2/billing/intents/{reserved_intent}/commit"),
    "POST /v2/billing/intents/{id}/cancel": Req("/v2/billing/intents/{intent}/cancel"),
    "GET /v2/billing/intents/{id}/actions": Req("/v2/billing/intents/{intent}/actions"),
    "GET /v2/billing/intents/{id}/actions/{action_id}": Req(
        "/v2/billing/intents/{intent}/actions/{intent_action}"
    ),
    "GET /v2/billing/pricing_plan_subscriptions": Req("/v2/billing/pricing_plan_subscriptions"),
    "GET /v2/billing/pricing_plan_subscriptions/{id}": Req(
        "/v2/billing/pricing_plan_subscriptions/{plan_subscription}"
    ),
    "POST /v2/billing/pricing_plan_subscriptions/{id}": Req(
        "/v2/billing/pricing_plan_subscriptions/{plan_subscription}", {"metadata": {"a": "b"}}
    ),
    # alerts
    "POST /v1/billing/alerts": Req("/v1/billing/alerts", ALERT),
    "GET /v1/billing/alerts": Req("/v1/billing/alerts"),
    "GET /v1/billing/alerts/{id}": Req("/v1/billing/alerts/{alert}"),
    "POST /v1/billing/alerts/{id}/activate": Req("/v1/billing/alerts/{inactive_alert}/activate"),
    "POST /v1/billing/alerts/{id}/deactivate": Req("/v1/billing/alerts/{alert}/deactivate"),
    "POST /v1/billing/alerts/{id}/archive": Req("/v1/billing/alerts/{alert}/archive"),
    # subscriptions and their items
    "POST /v1/subscriptions": Req(
        "/v1/subscriptions", {"customer": "{customer}", "items": [{"price": "{price}"}]}
    ),
    "GET /v1/subscriptions": Req("/v1/subscriptions", needs=("subscription",)),
    "GET /v1/subscriptions/search": Req(
        "/v1/subscriptions/search", {"query": "status:'active'"}, ("subscription",)
    ),
    "GET /v1/subscriptions/{id}": Req(SUB),
    "POST /v1/subscriptions/{id}": Req(SUB, {"metadata": {"k": "v"}}),
    "DELETE /v1/subscriptions/{id}": Req(SUB),
    "GET /v1/subscription_items": Req("/v1/subscription_items", {"subscription": "{subscription}"}),
    "GET /v1/subscription_items/{id}": Req("/v1/subscription_items/{subscription_item}"),
    "POST /v1/subscription_items": Req(
        "/v1/subscription_items", {"subscription": "{subscription}", "price": "{other_price}"}
    ),
    "POST /v1/subscription_items/{id}": Req("/v1/subscription_items/{subscription_item}", {"quantity": 2}),
    "DELETE /v1/subscription_items/{id}": Req("/v1/subscription_items/{second_item}"),
    # customer balance
    "POST /v1/customers/{id}/balance_transactions": Req(
        "/v1/customers/{customer}/balance_transactions", {"amount": -500, "currency": "usd"}
    ),
    "GET /v1/customers/{id}/balance_transactions": Req("/v1/customers/{customer}/balance_transactions"),
    "GET /v1/customers/{id}/balance_transactions/{transaction}": Req(
        "/v1/customers/{customer}/balance_transactions/{balance_transaction}"
    ),
    "POST /v1/customers/{id}/balance_transactions/{transaction}": Req(
        "/v1/customers/{customer}/balance_transactions/{balance_transaction}", {"description": "x"}
    ),
    # billing credits (branch grants)
    "POST /v1/billing/credit_grants": Req("/v1/billing/credit_grants", GRANT),
    "GET /v1/billing/credit_grants": Req("/v1/billing/credit_grants", {"customer": "{customer}"}),
    "GET /v1/billing/credit_grants/{id}": Req("/v1/billing/credit_grants/{credit_grant}"),
    "POST /v1/billing/credit_grants/{id}": Req(
        "/v1/billing/credit_grants/{credit_grant}", {"metadata": {"a": "b"}}
    ),
    "POST /v1/billing/credit_grants/{id}/expire": Req("/v1/billing/credit_grants/{credit_grant}/expire"),
    "POST /v1/billing/credit_grants/{id}/void": Req("/v1/billing/credit_grants/{credit_grant}/void"),
    "GET /v1/billing/credit_balance_summary": Req(
        "/v1/billing/credit_balance_summary",
        {"customer": "{customer}", "filter": {"type": "credit_grant", "credit_grant": "{credit_grant}"}},
    ),
    "GET /v1/billing/credit_balance_transactions": Req(
        "/v1/billing/credit_balance_transactions", {"customer": "{customer}"}, ("credit_grant",)
    ),
    "GET /v1/billing/credit_balance_transactions/{id}": Req(
        "/v1/billing/credit_balance_transactions/{credit_balance_transaction}"
    ),
    # invoices
    "POST /v1/invoices/create_preview": Req(
        "/v1/invoices/create_preview", {"subscription": "{subscription}"}
    ),
    "GET /v1/invoices": Req("/v1/invoices", needs=("open_invoice",)),
    "GET /v1/invoices/{id}": Req("/v1/invoices/{open_invoice}"),
    "GET /v1/invoices/search": Req("/v1/invoices/search", {"query": "status:'open'"}, ("open_invoice",)),
    "POST /v1/invoices/{id}": Req("/v1/invoices/{draft_invoice}", {"description": "Thanks"}),
    "GET /v1/invoices/{id}/lines": Req("/v1/invoices/{open_invoice}/lines"),
    "POST /v1/invoices/{id}/finalize": Req("/v1/invoices/{draft_invoice}/finalize"),
    "POST /v1/invoices/{id}/pay": Req("/v1/invoices/{open_invoice}/pay", {"paid_out_of_band": "true"}),
    "POST /v1/invoices/{id}/void": Req("/v1/invoices/{open_invoice}/void"),
    "POST /v1/invoices/{id}/mark_uncollectible": Req("/v1/invoices/{open_invoice}/mark_uncollectible"),
    # oneoff (issue 13 point 5): one-off invoices and invoice items
    "POST /v1/invoices": Req("/v1/invoices", {"customer": "{customer}"}),
    "POST /v1/invoices/{id}/add_lines": Req(
        "/v1/invoices/{one_off_draft}/add_lines", {"lines": [{"amount": 250, "description": "Extra"}]}
    ),
    "POST /v1/invoiceitems": Req(
        "/v1/invoiceitems", {"customer": "{customer}", "amount": 500, "currency": "usd"}
    ),
    "GET /v1/invoiceitems": Req("/v1/invoiceitems", needs=("invoice_item",)),
    "GET /v1/invoiceitems/{id}": Req("/v1/invoiceitems/{invoice_item}"),
    "POST /v1/invoiceitems/{id}": Req("/v1/invoiceitems/{invoice_item}", {"description": "Setup"}),
    "DELETE /v1/invoiceitems/{id}": Req("/v1/invoiceitems/{invoice_item}"),
    # topups (issue 13 points 6 and 7): credit-balance alerts are POST /v1/billing/alerts (above);
    # automatic top-up rules
    "POST /v1/tally/credit_top_up_rules": Req(
        "/v1/tally/credit_top_up_rules",
        {"customer": "{customer}", "currency": "usd", "threshold": 0, "amount": 1000},
    ),
    "GET /v1/tally/credit_top_up_rules": Req("/v1/tally/credit_top_up_rules", needs=("top_up_rule",)),
    "GET /v1/tally/credit_top_up_rules/{id}": Req("/v1/tally/credit_top_up_rules/{top_up_rule}"),
    "DELETE /v1/tally/credit_top_up_rules/{id}": Req("/v1/tally/credit_top_up_rules/{top_up_rule}"),
    # events
    "GET /v1/events": Req("/v1/events"),
    "GET /v1/events/{id}": Req("/v1/events/{event_id}"),
    # test clocks
    f"POST {CLOCKS}": Req(CLOCKS, {"frozen_time": FROZEN}),
    f"GET {CLOCKS}": Req(CLOCKS),
    f"GET {CLOCKS}/{{id}}": Req(CLOCKS + "/{test_clock}"),
    f"POST {CLOCKS}/{{id}}/advance": Req(CLOCKS + "/{test_clock}/advance", {"frozen_time": FROZEN + 3600}),
    f"DELETE {CLOCKS}/{{id}}": Req(CLOCKS + "/{test_clock}"),
    # account settings
    "GET /v1/tally/account_settings": Req("/v1/tally/account_settings"),
    "POST /v1/tally/account_settings": Req("/v1/tally/account_settings", {"invoice_grace_period": 7200}),
    # revenue recognition (branch revrec, issue 16 point 5)
    "POST /v1/reporting/report_runs": Req(
        "/v1/reporting/report_runs",
        {
            "report_type": "revenue_recognition.debit_credit_summary.1",
            "parameters": {"interval_start": 1735689600, "interval_end": 1738368000},
        },
    ),
    "GET /v1/reporting/report_runs": Req("/v1/reporting/report_runs"),
    "GET /v1/reporting/report_runs/{id}": Req("/v1/reporting/report_runs/{report_run}"),
    "GET /v1/files/{id}": Req("/v1/files/{report_file}"),
    "GET /v1/files/{id}/contents": Req("/v1/files/{report_file}/contents"),
    "GET /v1/tally/revenue_recognition": Req(
        "/v1/tally/revenue_recognition", {"interval_start": 1735689600, "interval_end": 1738368000}
    ),
    "GET /v1/reporting/report_types": Req("/v1/reporting/report_types"),
    "GET /v1/reporting/report_types/{id}": Req(
        "/v1/reporting/report_types/revenue_recognition.debit_credit_summary.1"
    ),
    # webhook endpoints
    "POST /v1/webhook_endpoints": Req(
        "/v1/webhook_endpoints", {"url": "https://hooks.example.com/walk", "enabled_events": ["*"]}
    ),
    "GET /v1/webhook_endpoints": Req("/v1/webhook_endpoints"),
    "GET /v1/webhook_endpoints/{id}": Req("/v1/webhook_endpoints/{webhook_endpoint}"),
    "POST /v1/webhook_endpoints/{id}": Req("/v1/webhook_endpoints/{webhook_endpoint}", {"description": "x"}),
    "DELETE /v1/webhook_endpoints/{id}": Req("/v1/webhook_endpoints/{webhook_endpoint}"),
    "GET /v1/webhook_endpoints/{id}/attempts": Req("/v1/webhook_endpoints/{webhook_endpoint}/attempts"),
    # notification subscriptions
    "POST /v1/notification_subscriptions": Req(
        "/v1/notification_subscriptions",
        {"protocol": "email", "endpoint": "{email}", "event_types": ["*"]},
    ),
    "GET /v1/notification_subscriptions": Req("/v1/notification_subscriptions"),
    "GET /v1/notification_subscriptions/{id}": Req(
        "/v1/notification_subscriptions/{notification_subscription}"
    ),
    "DELETE /v1/notification_subscriptions/{id}": Req(
        "/v1/notification_subscriptions/{notification_subscription}"
    ),
    # branch portal: the customer portal's session route, and its data routes (a portal link's
    # token is their credential, never the API key)
    "POST /v1/billing_portal/sessions": Req("/v1/billing_portal/sessions", {"customer": "{customer}"}),
    "GET /portal/api/overview": Req("/portal/api/overview", bearer="portal_token"),
    "GET /portal/api/invoices": Req("/portal/api/invoices", bearer="portal_token"),
    "GET /portal/api/invoices/{id}": Req("/portal/api/invoices/{open_invoice}", bearer="portal_token"),
    "GET /portal/api/credits": Req("/portal/api/credits", bearer="portal_token"),
}

# Per route answering an object with an expandable field: a path that expands to an object.
EXPANDS: dict[str, str] = {
    "GET /v1/subscriptions/{id}": "customer",
    "POST /v1/subscriptions/{id}": "customer",
    "DELETE /v1/subscriptions/{id}": "customer",
    "GET /v1/subscriptions": "data.customer",
    "GET /v1/subscriptions/search": "data.customer",
    "GET /v1/subscription_items": "data.price.product",
    "GET /v1/subscription_items/{id}": "price.product",
    "GET /v1/prices/{id}": "product",
    "GET /v1/prices/search": "data.product",
    "GET /v1/invoices/{id}": "customer",
    "GET /v1/invoices": "data.customer",
    "GET /v1/invoices/{id}/lines": "data.pricing.price_details.price",
    "POST /v1/invoices/{id}": "customer",
    "POST /v1/invoices/{id}/finalize": "customer",
    "POST /v1/invoices/{id}/pay": "subscription",
    "POST /v1/invoices/{id}/void": "customer",
    "POST /v1/invoices/{id}/mark_uncollectible": "customer",
    "GET /v1/billing/alerts/{id}": "usage_threshold.meter",
    # oneoff (issue 13 point 5)
    "POST /v1/invoices": "customer",
    "POST /v1/invoices/{id}/add_lines": "customer",
    "POST /v1/invoiceitems": "customer",
    "GET /v1/invoiceitems": "data.customer",
    "GET /v1/invoiceitems/{id}": "customer",
    "POST /v1/invoiceitems/{id}": "customer",
}


# -- seeds -------------------------------------------------------------------------------------------
def _subscription(api: support.Api, get: Callable[[str], str]) -> dict[str, Any]:
    response = api.post(
        "/v1/subscriptions", {"customer": get("customer"), "items": [{"price": get("price")}]}
    )
    assert response.status == 200, response.text
    return response.json


def _draft_invoice(api: support.Api, get: Callable[[str], str]) -> str:
    """A draft: the seeded subscription's first period, billed at its end."""
    from tally.billing import cycles
    from tally.clock import Clock
    from tally.domain.records import Subscription
    from tally.store import objects

    sub = objects.get(api.account.id, get("subscription"), Subscription, Clock.system())
    end = sub.unbilled_period[1]
    billed = cycles.bill_period(api.account.id, sub.id, end, Clock.at(end))
    assert billed.invoice is not None
    return billed.invoice.id


def _ok(response: support.Response) -> dict[str, Any]:
    assert 200 <= response.status < 300, response.text
    return response.json


def _top_up_rule(api: support.Api, get: Callable[[str], str]) -> str:
    """topups: a rule on a customer of its own, its first top-up (started at creation: the balance
    is 0) voided, so the rule can be deleted."""
    from tally.domain.credit_watch import invoice_id

    cus = _ok(api.post("/v1/customers", {"name": "Topped"}))["id"]
    rule = _ok(
        api.post(
            "/v1/tally/credit_top_up_rules",
            {"customer": cus, "currency": "usd", "threshold": 0, "amount": 1000},
        )
    )["id"]
    _ok(api.post(f"/v1/invoices/{invoice_id(rule, 1)}/void"))
    return str(rule)


def _meter(api: support.Api, event_name: str) -> str:
    body = {"display_name": "Tokens", "event_name": event_name, "default_aggregation": {"formula": "sum"}}
    return _ok(api.post("/v1/billing/meters", body))["id"]


def _event(api: support.Api, get: Callable[[str], str]) -> str:
    """The identifier of an event of the seeded meter (for the adjustments)."""
    get("meter")
    payload = {"stripe_customer_id": get("customer"), "value": "5"}
    body = {"event_name": EVENT_NAME, "payload": payload, "identifier": "walk-1"}
    return _ok(api.post("/v1/billing/meter_events", body))["identifier"]


def _event_id(api: support.Api, get: Callable[[str], str]) -> str:
    """The id of the account's latest event (creating the customer wrote one)."""
    get("customer")
    return _ok(api.get("/v1/events", {"limit": 1}))["data"][0]["id"]


def _fill_intent(get: Callable[[str], str]) -> dict[str, Any]:
    details = {"pricing_plan": get("live_plan")}
    action = {"type": "subscribe", "subscribe": {"pricing_plan_subscription_details": details}}
    return {"currency": "usd", "cadence": get("cadence"), "actions": [action]}


def _live_plan(api: support.Api, get: Callable[[str], str]) -> str:
    plan = _ok(api.post("/v2/billing/pricing_plans", json=PLAN))["id"]
    _ok(api.post(f"/v2/billing/pricing_plans/{plan}", json={"live_version": "latest"}))
    return plan


def _plan_subscription(api: support.Api, get: Callable[[str], str]) -> str:
    intent = _ok(api.post("/v2/billing/intents", json=_fill_intent(get)))["id"]
    _ok(api.post(f"/v2/billing/intents/{intent}/reserve", json={}))
    _ok(api.post(f"/v2/billing/intents/{intent}/commit", json={}))
    action = _ok(api.get(f"/v2/billing/intents/{intent}/actions"))["data"][0]
    return action["subscribe"]["pricing_plan_subscription_details"]["pricing_plan_subscription"]


SEEDS: dict[str, Callable[[support.Api, Callable[[str], str]], str]] = {
    "top_up_rule": _top_up_rule,  # topups
    # an address of this account alone (another account's subscription to it would be refused)
    "email": lambda api, get: f"walk-{api.account.id.lower()}@example.com",
    "customer": lambda api, get: _ok(api.post("/v1/customers", {"name": "Ada"}))["id"],
    "product": lambda api, get: _ok(api.post("/v1/products", {"name": "Seats"}))["id"],
    "bare_product": lambda api, get: _ok(api.post("/v1/products", {"name": "Unused"}))["id"],
    "price": lambda api, get: _ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1000,
                "product": get("product"),
                "recurring": {"interval": "month"},
            },
        )
    )["id"],
    "meter": lambda api, get: _meter(api, EVENT_NAME),
    "inactive_meter": lambda api, get: _ok(
        api.post(f"/v1/billing/meters/{_meter(api, 'walk_off')}/deactivate")
    )["id"],
    "event": _event,
    "alert": lambda api, get: _ok(
        api.post(
            "/v1/billing/alerts",
            {**ALERT, "usage_threshold": {**ALERT["usage_threshold"], "meter": get("meter")}},
        )
    )["id"],
    "inactive_alert": lambda api, get: _ok(api.post(f"/v1/billing/alerts/{get('alert')}/deactivate"))["id"],
    "subscription": lambda api, get: _subscription(api, get)["id"],
    "subscription_item": lambda api, get: _ok(api.get(f"/v1/subscriptions/{get('subscription')}"))["items"][
        "data"
    ][0]["id"],
    "open_invoice": lambda api, get: _ok(api.get(f"/v1/subscriptions/{get('subscription')}"))[
        "latest_invoice"
    ],
    "draft_invoice": _draft_invoice,
    # revenue recognition (branch revrec): January 2025's report run and its file
    "report_run": lambda api, get: _ok(
        api.post(
            "/v1/reporting/report_runs",
            {
                "report_type": "revenue_recognition.debit_credit_summary.1",
                "parameters": {"interval_start": 1735689600, "interval_end": 1738368000},
            },
        )
    )["id"],
    "report_file": lambda api, get: _ok(api.get(f"/v1/reporting/report_runs/{get('report_run')}"))["result"][
        "id"
    ],
    "other_price": lambda api, get: _ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 500,
                "product": get("product"),
                "recurring": {"interval": "month"},
            },
        )
    )["id"],
    "second_item": lambda api, get: _ok(
        api.post(
            "/v1/subscriptions",
            {"customer": get("customer"), "items": [{"price": get("price")}, {"price": get("other_price")}]},
        )
    )["items"]["data"][1]["id"],
    "balance_transaction": lambda api, get: _ok(
        api.post(f"/v1/customers/{get('customer')}/balance_transactions", {"amount": -500, "currency": "usd"})
    )["id"],
    # billing credits (branch grants)
    "credit_grant": lambda api, get: _ok(api.post("/v1/billing/credit_grants", get_filled(GRANT, get)))["id"],
    "credit_balance_transaction": lambda api, get: _ok(  # the seeded grant's credits_granted
        api.get(
            "/v1/billing/credit_balance_transactions",
            {"customer": get("customer"), "credit_grant": get("credit_grant")},
        )
    )["data"][0]["id"],
    "event_id": _event_id,
    # branch portal: the token of a portal link for the seeded customer (the one with the open invoice)
    "portal_token": lambda api, get: _ok(
        api.post(
            "/v1/billing_portal/sessions", {"customer": get("customer"), "return_url": "https://x.example"}
        )
    )["url"].partition("#session=")[2],
    "live_plan": _live_plan,
    "intent": lambda api, get: _ok(api.post("/v2/billing/intents", json=_fill_intent(get)))["id"],
    "reserved_intent": lambda api, get: _ok(
        api.post(f"/v2/billing/intents/{get('intent')}/reserve", json={})
    )["id"],
    "intent_action": lambda api, get: _ok(api.get(f"/v2/billing/intents/{get('intent')}/actions"))["data"][0][
        "id"
    ],
    "plan_subscription": _plan_subscription,
    "billing_profile": lambda api, get: _ok(
        api.post("/v2/billing/profiles", json={"customer": get("customer")})
    )["id"],
    "cadence": lambda api, get: _ok(
        api.post(
            "/v2/billing/cadences",
            json={"billing_cycle": {"type": "month"}, "payer": {"billing_profile": get("billing_profile")}},
        )
    )["id"],
    "license_fee": lambda api, get: _ok(
        api.post("/v2/billing/license_fees", json={**LICENSE_FEE, "licensed_item": get("licensed_item")})
    )["id"],
    "license_fee_version": lambda api, get: _ok(api.get(f"/v2/billing/license_fees/{get('license_fee')}"))[
        "live_version"
    ],
    "service_action": lambda api, get: _ok(api.post("/v2/billing/service_actions", json=SERVICE_ACTION))[
        "id"
    ],
    "pricing_plan": lambda api, get: _ok(api.post("/v2/billing/pricing_plans", json=PLAN))["id"],
    "pricing_plan_version": lambda api, get: _ok(
        api.get(f"/v2/billing/pricing_plans/{get('pricing_plan')}/versions")
    )["data"][0]["id"],
    "component": lambda api, get: _ok(
        api.post(
            f"/v2/billing/pricing_plans/{get('pricing_plan')}/components",
            json={"type": "service_action", "service_action": {"id": get("service_action")}},
        )
    )["id"],
    "metered_item": lambda api, get: _ok(
        api.post("/v2/billing/metered_items", json={"display_name": "Seed", "meter": get("meter")})
    )["id"],
    "licensed_item": lambda api, get: _ok(api.post("/v2/billing/licensed_items", json={"display_name": "S"}))[
        "id"
    ],
    "rate_card": lambda api, get: _ok(api.post("/v2/billing/rate_cards", json=RATE_CARD))["id"],
    "rate_card_version": lambda api, get: _ok(api.get(f"/v2/billing/rate_cards/{get('rate_card')}"))[
        "live_version"
    ],
    "rate": lambda api, get: _ok(
        api.post(
            f"/v2/billing/rate_cards/{get('rate_card')}/rates",
            json={"metered_item": get("metered_item"), "unit_amount": "3"},
        )
    )["id"],
    # oneoff (issue 13 point 5)
    "invoice_item": lambda api, get: _ok(
        api.post("/v1/invoiceitems", {"customer": get("customer"), "amount": 500, "currency": "usd"})
    )["id"],
    "one_off_draft": lambda api, get: _ok(api.post("/v1/invoices", {"customer": get("customer")}))["id"],
    "test_clock": lambda api, get: _ok(api.post(CLOCKS, {"frozen_time": FROZEN}))["id"],
    "webhook_endpoint": lambda api, get: _ok(
        api.post("/v1/webhook_endpoints", {"url": "https://hooks.example.com/seed", "enabled_events": ["*"]})
    )["id"],
    "notification_subscription": lambda api, get: _ok(
        api.post(
            "/v1/notification_subscriptions",
            {"protocol": "email", "endpoint": f"seed-{get('email')}", "event_types": ["*"]},
        )
    )["id"],
}


def get_filled(params: dict[str, Any], get: Callable[[str], str]) -> dict[str, Any]:
    """`params` with `{customer}` filled from the seeds (branch grants)."""
    return {**params, "customer": get("customer")}


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


def _routes() -> list[str]:
    from tally_local.template import load

    return sorted(key for fn in load().functions.values() for key in fn.routes if key != "$default")


ROUTES = _routes()


def send(
    api: support.Api, method: str, path: str, params: dict[str, Any], *, query: dict[str, Any] | None = None
) -> support.Response:
    """`params` where a client puts them (GET: the query; POST/DELETE: the body, JSON on /v2), and
    `query` always in the query string."""
    v2 = path.startswith("/v2/")
    extra = support.form_encode(query) if query else ""
    if method == "GET":
        both = "&".join(part for part in (support.form_encode(params), extra) if part)
        return api.request(method, path, query=both)
    if v2:
        import json

        body, ctype = (json.dumps(params).encode(), "application/json")
    else:
        body, ctype = support.form_encode(params).encode(), "application/x-www-form-urlencoded"
    return api.request(method, path, body=body, query=extra, content_type=ctype)


def _prepared(api: support.Api, route: str) -> tuple[str, str, dict[str, Any], support.Api]:
    """(method, path, params, the client to send them with: the route's bearer when it has one)."""
    method = route.split(" ", 1)[0]
    seeds = Seeds(api)
    req = VALID[route]
    path, params = seeds.fill(req.path), seeds.fill(req.params)
    for name in req.needs:
        seeds.get(name)
    if req.bearer:
        api = api.as_(support.Account(api.account.id, seeds.get(req.bearer)))
    return method, path, params, api


def _events(api: support.Api) -> int:
    return len(support.stored_events(api.account.id))


# -- the tests ---------------------------------------------------------------------------------------
def test_every_route_has_a_valid_request():
    # GIVEN the routes of template.yaml WHEN compared with VALID THEN each one has its request
    # (VALID may also name routes that other branches of issue 12 add, ready for when they land)
    missing = sorted(set(ROUTES) - set(VALID))
    assert not missing, f"add a valid request to VALID for: {missing}"


@pytest.mark.parametrize("route", ROUTES)
def test_the_valid_request_succeeds(api, route):
    # GIVEN a route's valid request WHEN sent THEN it succeeds (so the refusals below are for the
    # extra parameter only)
    method, path, params, api = _prepared(api, route)
    response = send(api, method, path, params)
    assert 200 <= response.status < 300, response.text


@pytest.mark.parametrize("place", ["body", "query"])
@pytest.mark.parametrize("route", ROUTES)
def test_an_unknown_parameter_is_refused_wherever_it_is_sent(api, route, place):
    # GIVEN a route's valid request with one unknown parameter, in the body or in the query string
    method, path, params, api = _prepared(api, route)
    before = _events(api)
    if place == "body":
        response = send(api, method, path, {**params, UNKNOWN: "1"})
    else:
        response = send(api, method, path, params, query={UNKNOWN: "1"})
    # THEN 400 parameter_unknown naming it, and nothing changed
    support.assert_stripe_error(response.status, response.json, 400, code="parameter_unknown", param=UNKNOWN)
    assert _events(api) == before


@pytest.mark.parametrize("route", ROUTES)
def test_a_nonsense_expand_path_is_refused(api, route):
    # GIVEN a route's valid request asking to expand a path its answer does not have
    method, path, params, api = _prepared(api, route)
    before = _events(api)
    response = send(api, method, path, {**params, "expand": [NONSENSE]})
    # THEN 400 (v1: "cannot be expanded" naming expand[0]; v2 has no expand: unknown), nothing changed
    if path.startswith("/v2/"):
        support.assert_stripe_error(
            response.status, response.json, 400, code="parameter_unknown", param="expand"
        )
    else:
        error = support.assert_stripe_error(response.status, response.json, 400, param="expand[0]")
        assert error["message"].startswith(f"This property cannot be expanded ({NONSENSE})."), error
    assert _events(api) == before


def _at(value: Any, steps: list[str]) -> list[Any]:
    """The values at a dotted path (through lists' `data`)."""
    if not steps:
        return [value]
    if isinstance(value, list):
        return [found for item in value for found in _at(item, steps)]
    if not isinstance(value, dict):
        return []
    return _at(value.get(steps[0]), steps[1:])


@pytest.mark.parametrize("route", sorted(EXPANDS))
def test_an_expandable_path_expands(api, route):
    # GIVEN a route's valid request with a path its answer can expand
    method, path, params, api = _prepared(api, route)
    response = send(api, method, path, {**params, "expand": [EXPANDS[route]]})
    # THEN the field holds the object, not its id
    assert response.status == 200, response.text
    found = _at(response.json, EXPANDS[route].split("."))
    assert found and all(isinstance(v, dict) and v.get("id") for v in found), found


def test_delete_reads_its_body(api):
    # GIVEN a subscription to 10.00 a month, just created
    seeds = Seeds(api)
    sub, creation = seeds.get("subscription"), seeds.get("open_invoice")
    # WHEN cancelled with `curl -X DELETE … -d invoice_now=true -d prorate=true`
    response = send(api, "DELETE", f"/v1/subscriptions/{sub}", {"invoice_now": "true", "prorate": "true"})
    # THEN it is canceled with a final invoice crediting the unused month (the body was read)
    assert response.status == 200, response.text
    assert response.json["status"] == "canceled"
    final = response.json["latest_invoice"]
    assert final not in (None, creation)
    assert api.get(f"/v1/invoices/{final}").json["subtotal"] < 0


def test_delete_reads_its_query_too(api):
    seeds = Seeds(api)
    sub, creation = seeds.get("subscription"), seeds.get("open_invoice")
    query = {"invoice_now": "true", "prorate": "true"}
    response = send(api, "DELETE", f"/v1/subscriptions/{sub}", {}, query=query)
    assert response.status == 200, response.text
    assert response.json["latest_invoice"] not in (None, creation)


def test_a_parameter_in_both_body_and_query_is_refused(api):
    # GIVEN a DELETE with invoice_now in the body and in the query WHEN sent THEN 400, not canceled
    seeds = Seeds(api)
    sub = seeds.get("subscription")
    response = send(
        api, "DELETE", f"/v1/subscriptions/{sub}", {"invoice_now": "true"}, query={"invoice_now": "false"}
    )
    support.assert_stripe_error(response.status, response.json, 400, param="invoice_now")
    assert api.get(f"/v1/subscriptions/{sub}").json["status"] == "active"


def test_a_known_parameter_in_a_post_query_is_read(api):
    # GIVEN `POST /v1/customers?name=Ada` (Stripe reads a POST's query string too) WHEN sent
    response = send(api, "POST", "/v1/customers", {"email": "ada@example.com"}, query={"name": "Ada"})
    # THEN both the query's and the body's parameters are taken
    assert response.status == 200, response.text
    assert (response.json["name"], response.json["email"]) == ("Ada", "ada@example.com")
