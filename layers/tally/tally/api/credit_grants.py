"""/v1/billing/credit_grants: create, retrieve, list (`customer`), update (`expires_at`, `metadata`),
expire, void. Stripe's GA shape; rules in `tally.billing.credit_grants`. Preview-only parameters
(custom pricing units, `billable_items` and `rate_cards` scopes) are refused: as unknown parameters
on GA versions (Stripe's answer there), as not supported yet on `.preview` versions."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import credit_grants
from tally.billing.credit_grants import GrantSpec
from tally.domain.credits import (
    CATEGORIES,
    DEFAULT_PRIORITY,
    MAX_PRICES,
    MAX_PRIORITY,
    METERED,
    NAME_MAX,
    Scope,
)
from tally.domain.currencies import SUPPORTED_CURRENCIES
from tally.domain.limits import MAX_AMOUNT
from tally.errors import InvalidRequest, invalid, missing
from tally.presenters.credits import GRANTS_URL
from tally.presenters.credits import grant as present

routes = Routes()
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z
PREVIEW_ONLY = ("custom_pricing_unit", "billable_items", "rate_cards")


def _preview(request: Request) -> bool:
    return (request.api_version or "").endswith(".preview")


def _refuse_preview(request: Request, params: Params, name: str) -> None:
    """A preview-only parameter: unknown on GA versions; not served yet on `.preview` ones."""
    if params.has(name) and _preview(request):
        raise invalid(
            params.path(name), f"Tally does not support {params.path(name)} yet (a Stripe preview feature)."
        )


def _amount(request: Request, params: Params) -> tuple[str, int]:
    amount = params.sub("amount", required=True)
    assert amount is not None
    kind = amount.str("type", required=True, choices=("monetary", "custom_pricing_unit"))
    if kind == "custom_pricing_unit":
        if not _preview(request):
            raise invalid("amount[type]", "Invalid amount[type]: must be one of monetary.")
        raise invalid(
            "amount[type]",
            "Tally does not support custom pricing unit credits yet (a Stripe preview feature).",
        )
    _refuse_preview(request, amount, "custom_pricing_unit")
    monetary = amount.sub("monetary")
    if monetary is None:
        raise missing("amount[monetary]")
    raw = monetary.str("currency", required=True, max_length=3) or ""
    if raw.lower() not in SUPPORTED_CURRENCIES:
        raise invalid(
            "amount[monetary][currency]", f"Invalid currency: {raw}. Use a supported three-letter ISO code."
        )
    value = monetary.int("value", required=True, min=1, max=MAX_AMOUNT)
    monetary.done()
    amount.done()
    assert value is not None
    return raw.lower(), value


def _scope(request: Request, params: Params) -> Scope:
    config = params.sub("applicability_config", required=True)
    assert config is not None
    scope = config.sub("scope", required=True)
    assert scope is not None
    for name in PREVIEW_ONLY[1:]:
        _refuse_preview(request, scope, name)
    price_type = scope.str("price_type", choices=(METERED,))
    prices = scope.sublist("prices", max_items=MAX_PRICES)
    ids: list[str] = []
    for p in prices or []:
        price_id = p.str("id", required=True, max_length=255)
        assert price_id is not None
        ids.append(price_id)
        p.done()
    scope.done()
    config.done()
    if (price_type is None) == (not ids):
        raise InvalidRequest(
            "Specify exactly one of applicability_config[scope][price_type] and "
            "applicability_config[scope][prices].",
            code="parameter_invalid",
            param="applicability_config[scope]",
        )
    if len(set(ids)) != len(ids):
        raise invalid("applicability_config[scope][prices]", "Each price may be listed once.")
    return Scope(price_type=None, prices=tuple(ids)) if ids else Scope()


def _timestamp(params: Params, name: str) -> int | None:
    return params.int(name, min=1, max=MAX_TIMESTAMP)


@routes.route("POST /v1/billing/credit_grants")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    if params.has("customer_account"):
        raise invalid("customer_account", "Tally does not support customer_account yet: name a customer.")
    customer = params.str("customer", required=True, max_length=255)
    currency, value = _amount(request, params)
    scope = _scope(request, params)
    category = params.str("category", choices=CATEGORIES) or "paid"
    priority = params.int("priority", min=0, max=MAX_PRIORITY)
    effective_at = _timestamp(params, "effective_at")
    expires_at = _timestamp(params, "expires_at")
    name = params.str("name", max_length=NAME_MAX)
    metadata = params.metadata()
    params.expand()
    params.done()
    assert customer is not None
    spec = GrantSpec(
        customer=customer,
        currency=currency,
        amount=value,
        scope=scope,
        category=category,
        priority=DEFAULT_PRIORITY if priority is None else priority,
        effective_at=effective_at,
        expires_at=expires_at,
        name=name,
        metadata=metadata,
    )
    return present(credit_grants.create(request.account, spec, request.clock))


@routes.route("GET /v1/billing/credit_grants/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(credit_grants.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("GET /v1/billing/credit_grants")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params)
    if params.has("customer_account"):
        raise invalid("customer_account", "Tally does not support customer_account yet: name a customer.")
    customer = params.str("customer", max_length=255)
    params.done()
    page = credit_grants.list_(request.account, window, request.clock, customer=customer)
    return envelope(GRANTS_URL, page, present)


@routes.route("POST /v1/billing/credit_grants/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = {}
    if params.has("expires_at"):
        # an empty value clears it: the grant never expires (Stripe's emptyable expires_at)
        raw = params.str("expires_at", empty_ok=True, max_length=20)
        fields["expires_at"] = (
            None if raw in ("", None) else _timestamp(Params({"expires_at": raw}), "expires_at")
        )
    metadata = params.metadata()
    params.expand()
    params.done()
    return present(
        credit_grants.update(
            request.account, request.path_params["id"], request.clock, metadata=metadata, **fields
        )
    )


def _no_params(request: Request) -> None:
    params = request.params()
    params.expand()
    params.done()


@routes.route("POST /v1/billing/credit_grants/{id}/expire")
def expire(request: Request) -> dict[str, Any]:
    _no_params(request)
    return present(credit_grants.expire(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v1/billing/credit_grants/{id}/void")
def void(request: Request) -> dict[str, Any]:
    _no_params(request)
    return present(credit_grants.void(request.account, request.path_params["id"], request.clock))
