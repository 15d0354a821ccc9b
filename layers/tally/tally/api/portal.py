"""The customer portal's data routes (`/portal/api/…`), read by the portal page (`tally.web`).

Each takes a portal link's token (`Authorization: Bearer <token>`, `Route.portal_auth`) instead of
an API key, and reads only the customer that token names: the token's account and customer come
from its verified signature (`tally.billing.portal_sessions`), never from a parameter. An invoice
of another customer is the same 404 as one that does not exist.

Credits: the credit grants API is built on other branches. `bind` hands this module the API's route
table; the credits route answers `{"available": false}` until `GET /v1/billing/credit_grants` is in
it, then the customer's grants (and balance summary, when that route answers) as those routes do.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tally.api.http import Request
from tally.api.routing import Route, Routes
from tally.billing import portal
from tally.domain.portal import PortalSession
from tally.errors import StripeError
from tally.presenters.invoices import invoice as present_invoice
from tally.presenters.portal import meter_usage
from tally.settings import settings

routes = Routes()
_table: dict[str, Route] = {}

CREDIT_GRANTS = "GET /v1/billing/credit_grants"
CREDIT_BALANCE = "GET /v1/billing/credit_balance_summary"


def bind(table: dict[str, Route]) -> None:
    """Give the credits route the API's route table (functions/api/app.py, once at import)."""
    _table.clear()
    _table.update(table)


def _session(request: Request) -> PortalSession:
    assert request.portal is not None  # portal routes are portal_auth: the pipeline verified it
    request.params().done()  # no parameters (a `expand` is the pipeline's)
    return request.portal


@routes.route("GET /portal/api/overview", portal_auth=True)
def overview(request: Request) -> dict[str, Any]:
    """Who the customer is, the current period's usage per meter and the next invoice's preview."""
    session = _session(request)
    shown = portal.overview(session.account, session.customer, request.clock)
    c = shown.customer
    return {
        "object": "tally.portal_overview",
        "livemode": settings().livemode,
        "customer": {
            "id": c.id,
            "name": c.name,
            "email": c.email,
            "balance": c.balance,
            "currency": c.currency,
        },
        "return_url": session.return_url,
        "locale": session.locale,
        "expires_at": session.expires_at,
        "now": shown.now,
        "usage": [meter_usage(u) for u in shown.usage],
        "upcoming_invoice": present_invoice(shown.upcoming) if shown.upcoming else None,
    }


@routes.route("GET /portal/api/invoices", portal_auth=True)
def invoices(request: Request) -> dict[str, Any]:
    """The customer's past invoices (finalized, newest first) with their lines."""
    session = _session(request)
    found = portal.history(session.account, session.customer, request.clock)
    return {
        "object": "list",
        "data": [present_invoice(inv) for inv in found],
        "has_more": False,
        "url": "/portal/api/invoices",
    }


@routes.route("GET /portal/api/invoices/{id}", portal_auth=True)
def invoice(request: Request) -> dict[str, Any]:
    """One of the customer's invoices (the printable view)."""
    session = _session(request)
    return present_invoice(
        portal.invoice(session.account, session.customer, request.path_params["id"], request.clock)
    )


def _call(route: Route, request: Request, data: dict[str, Any]) -> dict[str, Any] | None:
    try:
        answer: dict[str, Any] = route.handler(replace(request, route_key=route.key, data=data, portal=None))
    except StripeError:
        return None
    return answer


@routes.route("GET /portal/api/credits", portal_auth=True)
def credits(request: Request) -> dict[str, Any]:
    """The customer's credit grants and balance, when the credits API exists; else unavailable."""
    session = _session(request)
    grants_route = _table.get(CREDIT_GRANTS)
    grants = (
        _call(grants_route, request, {"customer": session.customer, "limit": "100"}) if grants_route else None
    )
    if grants is None:
        return {"object": "tally.portal_credits", "available": False}
    balance_route = _table.get(CREDIT_BALANCE)
    scope = {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}}
    summary = (
        _call(balance_route, request, {"customer": session.customer, "filter": scope})
        if balance_route
        else None
    )
    return {"object": "tally.portal_credits", "available": True, "grants": grants, "balance_summary": summary}
