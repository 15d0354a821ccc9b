"""`expand[]` on every route that answers an object Tally can expand (`tally.billing.expansion`).

The pipeline reads the paths and checks them against the route's answer before the handler runs
(a bad path changes nothing), then expands the handler's answer. Handlers still take `expand` from
their params (so `done()` accepts it); routes not listed here keep their own rule for it.
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
    "billing/meters": "billing.meter",
    "billing/alerts": "billing.alert",
}
# routeKey → the type of its answer (`list:<object>` for lists).
ANSWERS: dict[str, str] = {
    "POST /v1/invoices/create_preview": "invoice",
    "GET /v1/invoices/{id}": "invoice",
    "GET /v1/invoices": "list:invoice",
    "GET /v1/events/{id}": "event",
    "GET /v1/events": "list:event",
    "DELETE /v1/subscriptions/{id}": "subscription",
    "POST /v1/billing/meters/{id}/deactivate": "billing.meter",
    "POST /v1/billing/meters/{id}/reactivate": "billing.meter",
    "GET /v1/billing/meters/{id}/event_summaries": "list:billing.meter_event_summary",
    "POST /v1/customers/{id}/balance_transactions": "customer_balance_transaction",
    "GET /v1/customers/{id}/balance_transactions": "list:customer_balance_transaction",
    "GET /v1/customers/{id}/balance_transactions/{transaction}": "customer_balance_transaction",
    "POST /v1/customers/{id}/balance_transactions/{transaction}": "customer_balance_transaction",
}
for _path, _kind in _OBJECTS.items():
    ANSWERS[f"POST /v1/{_path}"] = _kind
    ANSWERS[f"GET /v1/{_path}/{{id}}"] = _kind
    ANSWERS[f"GET /v1/{_path}"] = f"list:{_kind}"
    for _action in ("activate", "deactivate", "archive") if _kind == "billing.alert" else ():
        ANSWERS[f"POST /v1/{_path}/{{id}}/{_action}"] = _kind
    if _kind not in ("subscription", "billing.alert"):  # neither is updated (docs/API.md)
        ANSWERS[f"POST /v1/{_path}/{{id}}"] = _kind


def paths(route_key: str, data: dict[str, Any]) -> list[list[str]]:
    """The checked expand paths of a request ([] when none, or the route expands nothing)."""
    kind = ANSWERS.get(route_key)
    if kind is None or "expand" not in data:
        return []
    return expansion.check(kind, Params({"expand": data["expand"]}).expand())


def apply(account: str, clock: Clock, body: dict[str, Any], steps: list[list[str]]) -> dict[str, Any]:
    return expansion.Expander(account, clock).expand(body, steps) if steps else body
