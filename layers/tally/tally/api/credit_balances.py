"""/v1/billing/credit_balance_summary and /v1/billing/credit_balance_transactions[/{id}]: a
customer's billing-credit balance and ledger. Rules in `tally.billing.credit_balances`."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import credit_balances
from tally.billing.credit_balances import Filter
from tally.domain.credits import MAX_PRICES, METERED
from tally.errors import InvalidRequest, invalid, missing
from tally.presenters.credits import TRANSACTIONS_URL, summary, transaction
from tally.settings import settings

routes = Routes()


def _customer(params: Params) -> str:
    if params.has("customer_account"):
        raise invalid("customer_account", "Tally does not support customer_account yet: name a customer.")
    customer = params.str("customer", required=True, max_length=255)
    assert customer is not None
    return customer


def _filter(request: Request, params: Params) -> Filter:
    f = params.sub("filter", required=True)
    assert f is not None
    kind = f.str("type", required=True, choices=("applicability_scope", "credit_grant"))
    if kind == "credit_grant":
        grant = f.str("credit_grant", required=True, max_length=255)
        f.done()
        return Filter(credit_grant=grant)
    scope = f.sub("applicability_scope")
    if scope is None:
        raise missing("filter[applicability_scope]")
    for name in ("billable_items", "rate_cards"):
        if scope.has(name) and (request.api_version or "").endswith(".preview"):
            raise invalid(
                scope.path(name), f"Tally does not support {scope.path(name)} yet (a Stripe preview feature)."
            )
    price_type = scope.str("price_type", choices=(METERED,))
    ids = []
    for p in scope.sublist("prices", max_items=MAX_PRICES) or []:
        ids.append(p.str("id", required=True, max_length=255) or "")
        p.done()
    scope.done()
    f.done()
    if (price_type is None) == (not ids):
        raise InvalidRequest(
            "Specify exactly one of filter[applicability_scope][price_type] and "
            "filter[applicability_scope][prices].",
            code="parameter_invalid",
            param="filter[applicability_scope]",
        )
    return Filter(price_type=price_type, prices=tuple(ids))


@routes.route("GET /v1/billing/credit_balance_summary")
def retrieve_summary(request: Request) -> dict[str, Any]:
    params = request.params()
    customer = _customer(params)
    f = _filter(request, params)
    params.expand()
    params.done()
    s = credit_balances.summary(request.account, customer, f, request.clock)
    return summary(s.customer, settings().livemode, s.ledger, s.available)


@routes.route("GET /v1/billing/credit_balance_transactions")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params)
    customer = _customer(params)
    grant = params.str("credit_grant", max_length=255)
    params.done()
    page = credit_balances.transactions(request.account, customer, window, request.clock, credit_grant=grant)
    return envelope(TRANSACTIONS_URL, page, transaction)


@routes.route("GET /v1/billing/credit_balance_transactions/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return transaction(credit_balances.transaction(request.account, request.path_params["id"], request.clock))
