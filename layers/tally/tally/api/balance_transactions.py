"""/v1/customers/{id}/balance_transactions: the customer balance's ledger (Stripe's
`customer_balance_transaction`): create an adjustment, retrieve, update (description and metadata
only), list (`created`, `invoice`, the cursors). Rules in `tally.billing.balances`."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import balances
from tally.domain.currencies import SUPPORTED_CURRENCIES
from tally.domain.limits import MAX_AMOUNT
from tally.errors import invalid
from tally.presenters.balance_transactions import transaction as present

routes = Routes()
DESCRIPTION_MAX = 350


def _url(customer_id: str) -> str:
    return f"/v1/customers/{customer_id}/balance_transactions"


def _description(params: Params) -> str | None:
    return params.str("description", max_length=DESCRIPTION_MAX, empty_ok=True) or None


@routes.route("POST /v1/customers/{id}/balance_transactions")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    amount = params.int("amount", required=True, min=-MAX_AMOUNT, max=MAX_AMOUNT)
    raw = params.str("currency", required=True, max_length=3) or ""
    if raw.lower() not in SUPPORTED_CURRENCIES:
        raise invalid("currency", f"Invalid currency: {raw}. Use a supported three-letter ISO code.")
    description = _description(params)
    metadata = params.metadata()
    params.expand()
    params.done()
    assert amount is not None  # required
    return present(
        balances.create(
            request.account,
            request.path_params["id"],
            request.clock,
            amount=amount,
            currency=raw.lower(),
            description=description,
            metadata=metadata,
        )
    )


@routes.route("GET /v1/customers/{id}/balance_transactions/{transaction}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    path = request.path_params
    return present(balances.retrieve(request.account, path["id"], path["transaction"], request.clock))


@routes.route("POST /v1/customers/{id}/balance_transactions/{transaction}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = {}
    if params.has("description"):
        fields["description"] = _description(params)
    metadata = params.metadata()
    params.expand()
    params.done()
    path = request.path_params
    return present(
        balances.update(
            request.account, path["id"], path["transaction"], request.clock, metadata=metadata, **fields
        )
    )


@routes.route("GET /v1/customers/{id}/balance_transactions")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params, created=True)
    invoice = params.str("invoice", max_length=255)
    params.done()
    customer_id = request.path_params["id"]
    page = balances.list_(request.account, customer_id, window, request.clock, invoice=invoice)
    return envelope(_url(customer_id), page, present)
