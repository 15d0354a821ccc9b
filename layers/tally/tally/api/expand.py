"""`expand[]` on every v1 route (`tally.billing.expansion`).

The pipeline reads the paths and checks them against the route's answer before the handler runs
(a bad path changes nothing), then expands the handler's answer. A route whose answer has nothing
to expand (a deleted object, a test clock, a webhook endpoint…) refuses every path, as Stripe
does: no route ignores `expand`. ANSWERS names each route's answer, so a list's paths get the
`data.` hint; a route not named is taken to answer an object with nothing to expand.
"""

from __future__ import annotations

from typing import Any

from tally.api.params import Params
from tally.billing import expansion
from tally.clock import Clock

_OBJECTS = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "subscriptions": "subscription",
    "subscription_items": "subscription_item",
    "billing/meters": "billing.meter",
    "billing/alerts": "billing.alert",
    "billing/credit_grants": "billing.credit_grant",
    "test_helpers/test_clocks": "test_helpers.test_clock",
    "webhook_endpoints": "webhook_endpoint",
    "notification_subscriptions": "notification_subscription",
    "invoiceitems": "invoiceitem",  # oneoff (issue 13 point 5)
}
_INVOICE_ACTIONS = ("finalize", "pay", "void", "mark_uncollectible")
# routeKey → the type of its answer (`list:<object>` for lists and search results).
ANSWERS: dict[str, str] = {
    "POST /v1/invoices/create_preview": "invoice",
    "GET /v1/invoices/{id}": "invoice",
    "POST /v1/invoices/{id}": "invoice",
    **{f"POST /v1/invoices/{{id}}/{action}": "invoice" for action in _INVOICE_ACTIONS},
    "GET /v1/invoices": "list:invoice",
    "GET /v1/invoices/search": "list:invoice",
    "GET /v1/invoices/{id}/lines": "list:line_item",
    "POST /v1/invoices": "invoice",  # oneoff: a one-off invoice
    "POST /v1/invoices/{id}/add_lines": "invoice",
    "GET /v1/events/{id}": "event",
    "GET /v1/events": "list:event",
    "DELETE /v1/subscriptions/{id}": "subscription",
    "POST /v1/billing/meters/{id}/deactivate": "billing.meter",
    "POST /v1/billing/meters/{id}/reactivate": "billing.meter",
    "GET /v1/billing/meters/{id}/event_summaries": "list:billing.meter_event_summary",
    "POST /v1/billing/meter_events": "billing.meter_event",
    "POST /v1/billing/meter_event_adjustments": "billing.meter_event_adjustment",
    "POST /v1/test_helpers/test_clocks/{id}/advance": "test_helpers.test_clock",
    "GET /v1/webhook_endpoints/{id}/attempts": "list:webhook_endpoint.attempt",
    "GET /v1/tally/account_settings": "tally.account_settings",
    "POST /v1/tally/account_settings": "tally.account_settings",
    "POST /v1/subscription_items": "subscription_item",
    "POST /v1/subscription_items/{id}": "subscription_item",
    "POST /v1/customers/{id}/balance_transactions": "customer_balance_transaction",
    "GET /v1/customers/{id}/balance_transactions": "list:customer_balance_transaction",
    "GET /v1/customers/{id}/balance_transactions/{transaction}": "customer_balance_transaction",
    # billing credits (branch grants)
    **{
        f"POST /v1/billing/credit_grants/{{id}}/{action}": "billing.credit_grant"
        for action in ("expire", "void")
    },
    "GET /v1/billing/credit_balance_summary": "billing.credit_balance_summary",
    "GET /v1/billing/credit_balance_transactions": "list:billing.credit_balance_transaction",
    "GET /v1/billing/credit_balance_transactions/{id}": "billing.credit_balance_transaction",
    "POST /v1/customers/{id}/balance_transactions/{transaction}": "customer_balance_transaction",
}
for _path, _kind in _OBJECTS.items():
    ANSWERS[f"POST /v1/{_path}"] = _kind
    ANSWERS[f"GET /v1/{_path}/{{id}}"] = _kind
    ANSWERS[f"POST /v1/{_path}/{{id}}"] = _kind
    ANSWERS[f"GET /v1/{_path}"] = f"list:{_kind}"
    ANSWERS[f"GET /v1/{_path}/search"] = f"list:{_kind}"
    for _action in ("activate", "deactivate", "archive") if _kind == "billing.alert" else ():
        ANSWERS[f"POST /v1/{_path}/{{id}}/{_action}"] = _kind


def paths(route_key: str, data: dict[str, Any]) -> list[list[str]]:
    """The request's expand paths, each checked against the route's answer ([] when none sent);
    raises InvalidRequest (400, `expand[i]`) for a path the answer cannot expand."""
    if "expand" not in data:
        return []
    kind = ANSWERS.get(route_key, "")  # "": an object with nothing to expand (every path refused)
    return expansion.check(kind, Params({"expand": data["expand"]}).expand())


def apply(account: str, clock: Clock, body: dict[str, Any], steps: list[list[str]]) -> dict[str, Any]:
    return expansion.Expander(account, clock).expand(body, steps) if steps else body
