"""/v2/billing/profiles and /v2/billing/cadences (JSON): who pays, and when invoices are made."""

from __future__ import annotations

from typing import Any

from tally.api.forms import billing_cycle
from tally.api.http import Request
from tally.api.lists import lookup_keys, v2_envelope, v2_list_args
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import cadences
from tally.domain.cadences import Cadence, next_tick
from tally.domain.catalog import DISPLAY_NAME_MAX, LOOKUP_KEY_MAX
from tally.errors import InvalidRequest, invalid
from tally.presenters.cadences import cadence, profile

routes = Routes()


@routes.route("POST /v2/billing/profiles")
def create_profile(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = {"customer": params.str("customer", required=True, max_length=255)}
    fields.update(_profile_fields(params))
    metadata = params.metadata()
    params.done()
    return profile(cadences.create_profile(request.account, fields, metadata, request.clock))


@routes.route("GET /v2/billing/profiles/{id}")
def retrieve_profile(request: Request) -> dict[str, Any]:
    request.params().done()
    return profile(cadences.retrieve_profile(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v2/billing/profiles/{id}")
def update_profile(request: Request) -> dict[str, Any]:
    params = request.params()
    fields = _profile_fields(params)
    metadata = params.metadata()
    params.done()
    return profile(
        cadences.update_profile(request.account, request.path_params["id"], fields, metadata, request.clock)
    )


@routes.route("GET /v2/billing/profiles")
def list_profiles(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params, default=10)
    customer = params.str("customer", max_length=255)
    status = params.str("status", choices=("active", "inactive"))
    params.done()
    page = cadences.list_profiles(request.account, window, request.clock, customer=customer, status=status)
    return v2_envelope(
        "/v2/billing/profiles", page, profile, window, {"customer": customer, "status": status}
    )


def _profile_fields(params: Params) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if (name := params.str("display_name", max_length=DISPLAY_NAME_MAX)) is not None:
        fields["display_name"] = name
    if (key := params.str("lookup_key", max_length=LOOKUP_KEY_MAX)) is not None:
        fields["lookup_key"] = key
    if params.has("default_payment_method"):
        raise InvalidRequest(
            "Tally takes no payment methods: invoices are paid out of band (docs/API.md).",
            param="default_payment_method",
        )
    return fields


# -- cadences --------------------------------------------------------------------------------


def _present(request: Request, c: Cadence) -> dict[str, Any]:
    if c.status != "active":
        return cadence(c, None)
    return cadence(c, next_tick(c, cadences.cadence_clock(request.account, c, request.clock).now))


@routes.route("POST /v2/billing/cadences")
def create_cadence(request: Request) -> dict[str, Any]:
    params = request.params()
    cycle_params = params.sub("billing_cycle", required=True)
    assert cycle_params is not None
    cycle = billing_cycle(cycle_params)
    payer = params.sub("payer", required=True)
    assert payer is not None
    profile_id = payer.str("billing_profile", required=True, max_length=255)
    payer.done()
    if params.has("settings"):
        raise InvalidRequest("Bill and collection settings are not supported yet.", param="settings")
    key = params.str("lookup_key", max_length=LOOKUP_KEY_MAX)
    metadata = params.metadata()
    params.done()
    assert profile_id is not None
    made = cadences.create_cadence(request.account, profile_id, cycle, key, metadata, request.clock)
    return _present(request, made)


@routes.route("GET /v2/billing/cadences/{id}")
def retrieve_cadence(request: Request) -> dict[str, Any]:
    request.params().done()
    return _present(
        request, cadences.retrieve_cadence(request.account, request.path_params["id"], request.clock)
    )


@routes.route("POST /v2/billing/cadences/{id}")
def update_cadence(request: Request) -> dict[str, Any]:
    params = request.params()
    profile_id = None
    if (payer := params.sub("payer")) is not None:
        profile_id = payer.str("billing_profile", max_length=255)
        payer.done()
    clear = params.has("lookup_key") and params.raw("lookup_key") is None
    if clear:
        params.ignore("lookup_key")
    key = None if clear else params.str("lookup_key", max_length=LOOKUP_KEY_MAX)
    if params.has("settings"):
        raise InvalidRequest("Bill and collection settings are not supported yet.", param="settings")
    metadata = params.metadata()
    params.done()
    made = cadences.update_cadence(
        request.account, request.path_params["id"], profile_id, key, clear, metadata, request.clock
    )
    return _present(request, made)


@routes.route("POST /v2/billing/cadences/{id}/cancel")
def cancel_cadence(request: Request) -> dict[str, Any]:
    request.params().done()
    return _present(
        request, cadences.cancel_cadence(request.account, request.path_params["id"], request.clock)
    )


@routes.route("GET /v2/billing/cadences")
def list_cadences(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    keys = lookup_keys(params)
    customer = None
    if (payer := params.sub("payer")) is not None:
        payer.str("type", choices=("customer",))
        customer = payer.str("customer", max_length=255)
        payer.done()
    test_clock = params.str("test_clock", max_length=255)
    if sum(x is not None for x in (keys, customer, test_clock)) > 1:
        raise invalid("lookup_keys", "Give only one of lookup_keys, payer and test_clock.")
    params.done()
    page = cadences.list_cadences(
        request.account, window, request.clock, customer=customer, test_clock=test_clock, lookup_keys=keys
    )
    query = {"lookup_keys": keys, "test_clock": test_clock}
    return v2_envelope("/v2/billing/cadences", page, lambda c: _present(request, c), window, query)
