"""/v1/billing/alerts: create, retrieve, list (filters `meter`, `alert_type`), activate,
deactivate, archive. Stripe's usage alerts; `recurrence=per_period` is Tally's extension; Stripe's
preview credit-balance alerts (`alert_type=credit_balance_threshold`)."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import alerts, credit_alerts
from tally.billing.alerts import AlertSpec
from tally.domain.currencies import SUPPORTED_CURRENCIES
from tally.domain.limits import MAX_AMOUNT
from tally.domain.records import CREDIT_BALANCE_THRESHOLD, ONE_TIME, PER_PERIOD, USAGE_THRESHOLD
from tally.errors import invalid, missing
from tally.presenters.alerts import alert as present

routes = Routes()
ALERT_TYPES = (USAGE_THRESHOLD, CREDIT_BALANCE_THRESHOLD)
CREDIT = "credit_balance_threshold"


def _credit(request: Request, params: Params, title: str) -> dict[str, Any]:
    """`credit_balance_threshold`: one customer filter, `lte` monetary (Stripe's preview shape)."""
    if params.has("usage_threshold"):
        raise invalid("usage_threshold", "usage_threshold is for alert_type=usage_threshold only.")
    rule = params.sub(CREDIT, required=True)
    if rule is None:
        raise missing(CREDIT)
    filters = rule.sublist("filters", required=True, max_items=1)
    if not filters:
        raise missing(f"{CREDIT}[filters]")
    f = filters[0]
    f.str("type", required=True, choices=("customer",))
    customer = f.str("customer", required=True, max_length=255)
    f.done()
    lte = rule.sub("lte", required=True)
    if lte is None:
        raise missing(f"{CREDIT}[lte]")
    lte.str("balance_type", required=True, choices=("monetary",))
    monetary = lte.sub("monetary", required=True)
    if monetary is None:
        raise missing(f"{CREDIT}[lte][monetary]")
    raw = monetary.str("currency", required=True, max_length=3) or ""
    if raw.lower() not in SUPPORTED_CURRENCIES:
        raise invalid(f"{CREDIT}[lte][monetary][currency]", f"Invalid currency: {raw}.")
    value = monetary.int("value", required=True, min=0, max=MAX_AMOUNT)
    monetary.done()
    lte.done()
    rule.done()
    params.expand()
    params.done()
    assert customer is not None and value is not None
    created = credit_alerts.create(request.account, title, customer, raw.lower(), value, request.clock)
    return present(created)


@routes.route("POST /v1/billing/alerts")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    alert_type = params.str("alert_type", required=True, choices=ALERT_TYPES)
    title = params.str("title", required=True, max_length=256)
    assert title is not None
    if alert_type == CREDIT_BALANCE_THRESHOLD:
        return _credit(request, params, title)
    if params.has(CREDIT):
        raise invalid(CREDIT, "credit_balance_threshold is for alert_type=credit_balance_threshold only.")
    rule = params.sub("usage_threshold")
    if rule is None:  # the only alert type so far needs it
        raise missing("usage_threshold")
    meter = rule.str("meter", required=True, max_length=255)
    gte = rule.int("gte", required=True, min=1)
    recurrence = rule.str("recurrence", required=True, choices=(ONE_TIME, PER_PERIOD))
    customer = None
    filters = rule.sublist("filters", max_items=1)
    for f in filters or []:
        f.str("type", required=True, choices=("customer",))
        customer = f.str("customer", required=True, max_length=255)
        f.done()
    rule.done()
    params.expand()
    params.done()
    assert alert_type and title and meter and gte is not None and recurrence
    spec = AlertSpec(title, meter, gte, recurrence, customer, alert_type)
    return present(alerts.create(request.account, spec, request.clock))


@routes.route("GET /v1/billing/alerts/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(alerts.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("GET /v1/billing/alerts")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params)
    meter = params.str("meter", max_length=255)
    alert_type = params.str("alert_type", choices=ALERT_TYPES)
    params.done()
    page = alerts.list_(request.account, window, request.clock, meter=meter, alert_type=alert_type)
    return envelope("/v1/billing/alerts", page, present)


def _no_params(request: Request) -> None:
    params = request.params()
    params.expand()
    params.done()


@routes.route("POST /v1/billing/alerts/{id}/activate")
def activate(request: Request) -> dict[str, Any]:
    _no_params(request)
    return present(alerts.activate(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v1/billing/alerts/{id}/deactivate")
def deactivate(request: Request) -> dict[str, Any]:
    _no_params(request)
    return present(alerts.deactivate(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v1/billing/alerts/{id}/archive")
def archive(request: Request) -> dict[str, Any]:
    _no_params(request)
    return present(alerts.archive(request.account, request.path_params["id"], request.clock))
