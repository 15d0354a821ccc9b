"""/v1/invoices: the preview of the next invoice (computed, never stored), and the invoices the
scheduled close stored (retrieve, list, lines) and their lifecycle (update, finalize, pay, void,
mark_uncollectible: `tally.billing.lifecycle`).

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
from tally.billing import cadence_invoices, invoices, lifecycle, one_off_invoices
from tally.billing.invoices import INVOICE_STATUSES
from tally.clock import Clock
from tally.domain.currencies import SUPPORTED_CURRENCIES
from tally.errors import invalid
from tally.presenters.invoices import invoice as present
from tally.presenters.invoices import line as present_line

routes = Routes()


def _clock(request: Request) -> Clock:
    """An invoice of a test-clock customer changes at the clock's frozen time."""
    return invoices.clock_for_invoice(
        request.account, request.path_params["id"], request.clock, changing=True
    )


@routes.route("POST /v1/invoices/create_preview")
def create_preview(request: Request) -> dict[str, Any]:
    params = request.params()
    subscription_id = params.str("subscription", max_length=255)
    customer_id = params.str("customer", max_length=255)
    cadence_id = params.str("billing_cadence", max_length=255)  # a v2 cadence's next tick
    params.expand()
    params.done()
    if cadence_id is not None:
        if subscription_id is not None:
            raise invalid("billing_cadence", "Pass billing_cadence or subscription, not both.")
        return present(cadence_invoices.preview(request.account, cadence_id, customer_id, request.clock))
    clock = invoices.preview_clock(request.account, subscription_id, customer_id, request.clock)
    return present(invoices.preview(request.account, subscription_id, customer_id, clock))


@routes.route("POST /v1/invoices")
def create(request: Request) -> dict[str, Any]:
    """A one-off invoice (`tally.billing.one_off_invoices`)."""
    params = request.params()
    customer = params.str("customer", required=True, max_length=255)
    raw_currency = params.str("currency", max_length=3)
    if raw_currency is not None and raw_currency.lower() not in SUPPORTED_CURRENCIES:
        raise invalid("currency", f"Invalid currency: {raw_currency}. Use a supported three-letter ISO code.")
    ask = one_off_invoices.OneOff(
        customer=customer or "",
        currency=raw_currency.lower() if raw_currency else None,
        collection_method=params.str("collection_method", choices=one_off_invoices.COLLECTION_METHODS),
        days_until_due=params.int("days_until_due", min=0, max=one_off_invoices.MAX_DAYS_UNTIL_DUE),
        due_date=params.int("due_date", min=0, max=one_off_invoices.MAX_TIMESTAMP),
        auto_advance=params.bool("auto_advance"),
        pending_invoice_items_behavior=params.str(
            "pending_invoice_items_behavior", choices=one_off_invoices.BEHAVIORS
        ),
        description=params.str("description", max_length=1500),
        metadata=params.metadata(),
    )
    params.expand()
    params.done()
    clock = clocks_for_customer(request, ask.customer)
    return present(one_off_invoices.create(request.account, ask, clock))


def clocks_for_customer(request: Request, customer: str) -> Clock:
    """A one-off invoice of a test-clock customer is created at the clock's frozen time."""
    return invoices.clock_for_customer(request.account, customer, request.clock)


@routes.route("GET /v1/invoices/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(invoices.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("GET /v1/invoices")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params, created=True)
    customer = params.str("customer", max_length=255)
    subscription = params.str("subscription", max_length=255)
    status = params.str("status", choices=INVOICE_STATUSES)
    params.done()
    page = invoices.list_(
        request.account, window, request.clock, customer=customer, subscription=subscription, status=status
    )
    return envelope("/v1/invoices", page, present)


@routes.route("GET /v1/invoices/{id}/lines")
def lines(request: Request) -> dict[str, Any]:
    inv = invoices.retrieve(request.account, request.path_params["id"], request.clock)  # 404 first
    params = request.params()
    window = list_args(params)
    params.done()
    page = lifecycle.lines(inv, window)
    return envelope(f"/v1/invoices/{inv.id}/lines", page, lambda ln: present_line(inv, ln))


@routes.route("POST /v1/invoices/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = {}
    if params.has("description"):
        fields["description"] = params.str("description", max_length=1500, empty_ok=True) or None
    auto_advance = params.bool("auto_advance")
    metadata = params.metadata()
    params.expand()
    params.done()
    return present(
        lifecycle.update(
            request.account,
            request.path_params["id"],
            _clock(request),
            metadata=metadata,
            auto_advance=auto_advance,
            **fields,
        )
    )


@routes.route("POST /v1/invoices/{id}/finalize")
def finalize(request: Request) -> dict[str, Any]:
    params = request.params()
    params.bool("auto_advance")  # Stripe's: whether to collect after; Tally collects nothing
    params.expand()
    params.done()
    return present(lifecycle.finalize(request.account, request.path_params["id"], _clock(request)))


@routes.route("POST /v1/invoices/{id}/pay")
def pay(request: Request) -> dict[str, Any]:
    params = request.params()
    out_of_band = params.bool("paid_out_of_band")
    params.expand()
    params.done()
    return present(
        lifecycle.pay(request.account, request.path_params["id"], bool(out_of_band), _clock(request))
    )


@routes.route("POST /v1/invoices/{id}/void")
def void(request: Request) -> dict[str, Any]:
    params = request.params()
    params.expand()
    params.done()
    return present(lifecycle.void(request.account, request.path_params["id"], _clock(request)))


@routes.route("POST /v1/invoices/{id}/mark_uncollectible")
def mark_uncollectible(request: Request) -> dict[str, Any]:
    params = request.params()
    params.expand()
    params.done()
    return present(lifecycle.mark_uncollectible(request.account, request.path_params["id"], _clock(request)))
