"""/v2/billing/license_fees (with versions) and /v2/billing/service_actions (JSON)."""

from __future__ import annotations

from typing import Any

from tally.api.forms import price_fields, v2_currency
from tally.api.http import Request
from tally.api.lists import lookup_keys, v2_envelope, v2_list_args, v2_page
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import billable_items, license_fees
from tally.domain.catalog import (
    DISPLAY_NAME_MAX,
    LOOKUP_KEY_MAX,
    SERVICE_INTERVALS,
    TAX_BEHAVIORS,
    LicensedItem,
)
from tally.domain.plans import CREDIT_CATEGORIES, EXPIRY_TYPES, NAME_MAX, CreditGrantTemplate, LicenseFee
from tally.errors import InvalidRequest, invalid
from tally.presenters.plans import license_fee, license_fee_version, service_action

routes = Routes()
MAX_INTERVAL_COUNT = {"day": 365, "week": 52, "month": 12, "year": 1}


def interval(params: Params) -> dict[str, Any]:
    """`service_interval` and `service_interval_count` (at most a year)."""
    unit = params.str("service_interval", required=True, choices=SERVICE_INTERVALS)
    assert unit is not None
    count = params.int("service_interval_count", required=True, min=1, max=MAX_INTERVAL_COUNT[unit])
    return {"interval": unit, "interval_count": count}


def _present(request: Request, fee: LicenseFee, latest: Any) -> dict[str, Any]:
    item = billable_items.retrieve(request.account, fee.licensed_item, LicensedItem, request.clock)
    return license_fee(fee, latest, item)


@routes.route("POST /v2/billing/license_fees")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = {
        "currency": v2_currency(params),
        "display_name": params.str("display_name", required=True, max_length=DISPLAY_NAME_MAX),
        "licensed_item": params.str("licensed_item", required=True, max_length=255),
        "tax_behavior": params.str("tax_behavior", required=True, choices=TAX_BEHAVIORS),
        **interval(params),
    }
    if (key := params.str("lookup_key", max_length=LOOKUP_KEY_MAX)) is not None:
        fields["lookup_key"] = key
    price = price_fields(params, "", required=True)
    assert price is not None
    metadata = params.metadata()
    params.done()
    fee, version = license_fees.create(request.account, fields, price, metadata, request.clock)
    return _present(request, fee, version)


@routes.route("GET /v2/billing/license_fees/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    request.params().done()
    fee, latest = license_fees.retrieve(request.account, request.path_params["id"], request.clock)
    return _present(request, fee, latest)


@routes.route("POST /v2/billing/license_fees/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = {}
    if (name := params.str("display_name", max_length=DISPLAY_NAME_MAX)) is not None:
        fields["display_name"] = name
    if (live := params.str("live_version", max_length=255)) is not None:
        fields["live_version"] = live
    if params.has("lookup_key") and params.raw("lookup_key") is None:
        params.ignore("lookup_key")
        fields["lookup_key"] = None
    elif (key := params.str("lookup_key", max_length=LOOKUP_KEY_MAX)) is not None:
        fields["lookup_key"] = key
    price = price_fields(params, "", required=False)
    metadata = params.metadata()
    params.done()
    fee, version = license_fees.update(
        request.account, request.path_params["id"], fields, price, metadata, request.clock
    )
    return _present(request, fee, version)


@routes.route("GET /v2/billing/license_fees")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    keys = lookup_keys(params)
    item = params.str("licensed_item", max_length=255)
    params.done()
    page = license_fees.list_(request.account, window, request.clock, keys, item)
    items = {
        i: billable_items.retrieve(request.account, i, LicensedItem, request.clock)
        for i in {f.licensed_item for f in page.data}
    }
    latest = {f.id: license_fees.retrieve(request.account, f.id, request.clock)[1] for f in page.data}
    query = {"lookup_keys": keys, "licensed_item": item}
    return v2_envelope(
        "/v2/billing/license_fees",
        page,
        lambda f: license_fee(f, latest[f.id], items[f.licensed_item]),
        window,
        query,
    )


@routes.route("GET /v2/billing/license_fees/{id}/versions")
def list_versions(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    params.done()
    fee, _ = license_fees.retrieve(request.account, request.path_params["id"], request.clock)
    page = v2_page(license_fees.versions(request.account, fee, request.clock), window)
    return v2_envelope(f"/v2/billing/license_fees/{fee.id}/versions", page, license_fee_version, window)


@routes.route("GET /v2/billing/license_fees/{id}/versions/{version_id}")
def retrieve_version(request: Request) -> dict[str, Any]:
    request.params().done()
    fee, _ = license_fees.retrieve(request.account, request.path_params["id"], request.clock)
    version = license_fees.version_of(request.account, fee, request.path_params["version_id"], request.clock)
    return license_fee_version(version)


# -- service actions -------------------------------------------------------------------------


@routes.route("POST /v2/billing/service_actions")
def create_action(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = interval(params)
    fields["type"] = params.str("type", required=True, choices=("credit_grant", "credit_grant_per_tenant"))
    if fields["type"] != "credit_grant":
        raise InvalidRequest(
            "Tally serves service actions of type credit_grant only "
            "(credit_grant_per_tenant is not supported yet).",
            param="type",
        )
    if (key := params.str("lookup_key", max_length=LOOKUP_KEY_MAX)) is not None:
        fields["lookup_key"] = key
    sub = params.sub("credit_grant", required=True)
    assert sub is not None
    grant = _grant(sub)
    params.done()
    return service_action(license_fees.create_action(request.account, fields, grant, request.clock))


@routes.route("GET /v2/billing/service_actions/{id}")
def retrieve_action(request: Request) -> dict[str, Any]:
    request.params().done()
    return service_action(
        license_fees.retrieve_action(request.account, request.path_params["id"], request.clock)
    )


@routes.route("POST /v2/billing/service_actions/{id}")
def update_action(request: Request) -> dict[str, Any]:
    params = request.params()
    clear = params.has("lookup_key") and params.raw("lookup_key") is None
    if clear:
        params.ignore("lookup_key")
    key = None if clear else params.str("lookup_key", max_length=LOOKUP_KEY_MAX)
    name = None
    if (sub := params.sub("credit_grant")) is not None:
        name = sub.str("name", required=True, max_length=NAME_MAX)
        sub.done()
    params.done()
    action = license_fees.update_action(
        request.account, request.path_params["id"], key, clear, name, request.clock
    )
    return service_action(action)


def _grant(sub: Params) -> CreditGrantTemplate:
    name = sub.str("name", required=True, max_length=NAME_MAX)
    amount = sub.sub("amount", required=True)
    assert amount is not None and name is not None
    amount.str("type", required=True, choices=("monetary",))
    monetary = amount.sub("monetary", required=True)
    assert monetary is not None
    currency = v2_currency(monetary)
    value = monetary.int("value", required=True, min=1, max=99_999_999_999)
    monetary.done()
    amount.done()
    scope_of = sub.sub("applicability_config", required=True)
    assert scope_of is not None
    scope = scope_of.sub("scope", required=True)
    assert scope is not None
    price_type = scope.str("price_type", choices=("metered",))
    items = scope.strings("billable_items", max_items=100, max_length=255)
    scope.done()
    scope_of.done()
    if (price_type is None) == (items is None):
        raise invalid(
            "credit_grant.applicability_config.scope", "Give exactly one of price_type and billable_items."
        )
    expiry = sub.sub("expiry_config", required=True)
    assert expiry is not None
    expiry_type = expiry.str("type", required=True, choices=EXPIRY_TYPES)
    expiry.done()
    category = sub.str("category", choices=CREDIT_CATEGORIES) or "paid"
    priority = sub.int("priority", min=0, max=100)
    sub.done()
    assert value is not None and expiry_type is not None
    return CreditGrantTemplate(
        name=name,
        currency=currency,
        value=value,
        category=category,
        priority=50 if priority is None else priority,
        price_type=price_type,
        billable_items=tuple(items or ()),
        expiry=expiry_type,
    )
