"""/v1/tally/account_settings: the account's own settings (a Tally extension,
`tally.billing.account_settings`): read them, or set `invoice_grace_period` (seconds, 0 to
259200 = 72 h; `""` follows the deployment's setting again) and `api_version` (the Stripe API
version answers and webhooks follow without a `Stripe-Version` header; `""`: Tally's current)."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import account_settings
from tally.settings import MAX_GRACE_SECONDS

routes = Routes()
URL = "/v1/tally/account_settings"


@routes.route(f"GET {URL}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return account_settings.present(account_settings.retrieve(request.account, request.clock))


@routes.route(f"POST {URL}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    text = params.str("invoice_grace_period", empty_ok=True, max_length=30)
    version = params.str("api_version", empty_ok=True, max_length=64)
    params.done()
    chosen = None
    if text == "":
        chosen = account_settings.CLEAR
    elif text is not None:
        chosen = Params({"invoice_grace_period": text}).int(
            "invoice_grace_period", min=0, max=MAX_GRACE_SECONDS
        )
    return account_settings.present(
        account_settings.update(
            request.account, request.clock, invoice_grace_period=chosen, api_version=version
        )
    )
