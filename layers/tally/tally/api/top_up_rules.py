"""/v1/tally/credit_top_up_rules (a Tally extension): automatic credit top-ups on a customer —
create, retrieve, list (`customer`), delete (docs/API.md, "Credit balance alerts and automatic
top-ups")."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.routing import Routes
from tally.billing import top_up_rules
from tally.billing.top_up_rules import RuleSpec
from tally.domain import credit_watch as rules
from tally.domain.currencies import SUPPORTED_CURRENCIES
from tally.domain.limits import MAX_AMOUNT
from tally.errors import invalid
from tally.presenters.top_ups import rule as present

routes = Routes()
URL = "/v1/tally/credit_top_up_rules"
MAX_DAYS_UNTIL_DUE = 3_650  # ten years


@routes.route(f"POST {URL}")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    customer = params.str("customer", required=True, max_length=255)
    raw = params.str("currency", required=True, max_length=3) or ""
    if raw.lower() not in SUPPORTED_CURRENCIES:
        raise invalid("currency", f"Invalid currency: {raw}. Use a supported three-letter ISO code.")
    threshold = params.int("threshold", required=True, min=0, max=MAX_AMOUNT)
    amount = params.int("amount", min=1, max=MAX_AMOUNT)
    target = params.int("target_balance", min=1, max=MAX_AMOUNT)
    most = params.int("max_per_period", min=1, max=rules.MAX_PER_PERIOD)
    period = params.str("period", choices=rules.PERIODS)
    method = params.str("collection_method", choices=rules.COLLECTION_METHODS)
    days = params.int("days_until_due", min=0, max=MAX_DAYS_UNTIL_DUE)
    metadata = params.metadata()
    params.expand()
    params.done()
    assert customer is not None and threshold is not None
    spec = RuleSpec(
        customer=customer,
        currency=raw.lower(),
        threshold=threshold,
        amount=amount,
        target_balance=target,
        max_per_period=1 if most is None else most,
        period=period or rules.MONTH,
        collection_method=method or rules.CHARGE_AUTOMATICALLY,
        days_until_due=days,
        metadata=metadata,
    )
    return present(top_up_rules.create(request.account, spec, request.clock))


@routes.route(f"GET {URL}/{{id}}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    rule, state = top_up_rules.retrieve(request.account, request.path_params["id"], request.clock)
    return present(rule, state)


@routes.route(f"GET {URL}")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params)
    customer = params.str("customer", max_length=255)
    params.done()
    page = top_up_rules.list_(request.account, window, request.clock, customer=customer)
    return envelope(URL, page, present)


@routes.route(f"DELETE {URL}/{{id}}")
def delete(request: Request) -> dict[str, Any]:
    params = request.params()
    params.done()
    return top_up_rules.delete(request.account, request.path_params["id"], request.clock)
