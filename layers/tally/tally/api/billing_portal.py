"""POST /v1/billing_portal/sessions: a short-lived link to the customer portal for one customer
(`tally.billing.portal_sessions`). The portal's own pages and data routes: `tally.api.portal`."""

from __future__ import annotations

import re
from typing import Any

from tally.api.http import Request
from tally.api.routing import Routes
from tally.billing import portal_sessions
from tally.errors import invalid
from tally.presenters.portal import session as present
from tally.settings import settings

routes = Routes()

_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
_LOCAL = ("127.0.0.1", "localhost", "[::1]")


def base_url(request: Request) -> str:
    """Where the portal page is served: TALLY_PUBLIC_URL, else this request's own host (https,
    but http for a loopback host: `make run`)."""
    configured = settings().public_url
    if configured:
        return configured
    host = request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        host = "localhost"
    local = host.rsplit(":", 1)[0] in _LOCAL or host.startswith("[::1]")
    proto = request.headers.get("x-forwarded-proto", "")
    scheme = proto if proto in ("http", "https") else ("http" if local else "https")
    return f"{scheme}://{host}"


@routes.route("POST /v1/billing_portal/sessions")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    customer = params.str("customer", required=True, max_length=255)
    return_url = params.str("return_url", max_length=5000)
    configuration = params.str("configuration", max_length=255)
    locale = params.str("locale", max_length=20)
    if params.has("flow_data"):
        raise invalid(
            "flow_data",
            "Tally's customer portal has no flows (no subscription update or cancel, no payment "
            "method): omit flow_data.",
        )
    params.done()
    if configuration is not None and configuration != portal_sessions.CONFIGURATION:
        raise invalid(
            "configuration",
            f"No such configuration: '{configuration}' (Tally has one portal configuration, "
            f"'{portal_sessions.CONFIGURATION}').",
            code="resource_missing",
        )
    assert customer is not None
    session, token = portal_sessions.create(request.account, customer, return_url, locale, request.clock)
    url = f"{base_url(request)}/portal#session={token}"
    return present(session, portal_sessions.CONFIGURATION, url, settings().livemode)
