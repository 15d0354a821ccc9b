"""/v1/invoices: the preview of the next invoice (computed, never stored), and the invoices the
scheduled close stored (retrieve, list).

See `tally.billing.invoices` for which subscription and period a preview shows,
`tally.billing.cycles` for when an invoice is created, and `tally.domain.invoices` for how lines
are priced: one line per subscription item (tiers are not split into lines); a line's `quantity`
is what is billed (seats, or usage after `transform_quantity`, as Stripe shows it; the raw usage is
in the description).
"""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.routing import Routes
from tally.billing import invoices
from tally.billing.invoices import INVOICE_STATUSES
from tally.presenters.invoices import invoice as present

routes = Routes()


@routes.route("POST /v1/invoices/create_preview")
def create_preview(request: Request) -> dict[str, Any]:
    params = request.params()
    subscription_id = params.str("subscription", max_length=255)
    customer_id = params.str("customer", max_length=255)
    params.expand()
    params.done()
    return present(invoices.preview(request.account, subscription_id, customer_id, request.clock))


@routes.route("GET /v1/invoices/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(invoices.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("GET /v1/invoices")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params)
    customer = params.str("customer", max_length=255)
    subscription = params.str("subscription", max_length=255)
    status = params.str("status", choices=INVOICE_STATUSES)
    params.done()
    page = invoices.list_(
        request.account, window, request.clock, customer=customer, subscription=subscription, status=status
    )
    return envelope("/v1/invoices", page, present)
