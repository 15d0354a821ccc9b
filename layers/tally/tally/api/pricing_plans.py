"""/v2/billing/pricing_plans: create, retrieve, update (`live_version`), list; versions; components."""

from __future__ import annotations

from typing import Any

from tally.api.forms import v2_currency
from tally.api.http import Request
from tally.api.lists import lookup_keys, v2_envelope, v2_list_args, v2_page
from tally.api.routing import Routes
from tally.billing import pricing_plans
from tally.domain.catalog import DISPLAY_NAME_MAX, LOOKUP_KEY_MAX, TAX_BEHAVIORS
from tally.domain.plans import COMPONENT_TYPES, DESCRIPTION_MAX
from tally.errors import invalid
from tally.presenters.catalog import deleted
from tally.presenters.plans import pricing_plan, pricing_plan_component, pricing_plan_version

routes = Routes()
PLANS = "/v2/billing/pricing_plans"


@routes.route("POST /v2/billing/pricing_plans")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = {
        "currency": v2_currency(params),
        "display_name": params.str("display_name", required=True, max_length=DISPLAY_NAME_MAX),
        "tax_behavior": params.str("tax_behavior", required=True, choices=TAX_BEHAVIORS),
    }
    if (description := params.str("description", max_length=DESCRIPTION_MAX)) is not None:
        fields["description"] = description
    if (key := params.str("lookup_key", max_length=LOOKUP_KEY_MAX)) is not None:
        fields["lookup_key"] = key
    metadata = params.metadata()
    params.done()
    return pricing_plan(pricing_plans.create(request.account, fields, metadata, request.clock))


@routes.route("GET /v2/billing/pricing_plans/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    request.params().done()
    return pricing_plan(pricing_plans.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v2/billing/pricing_plans/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = {}
    if (active := params.bool("active")) is not None:
        fields["active"] = active
    if (name := params.str("display_name", max_length=DISPLAY_NAME_MAX)) is not None:
        fields["display_name"] = name
    if (description := params.str("description", max_length=DESCRIPTION_MAX)) is not None:
        fields["description"] = description
    if (live := params.str("live_version", max_length=255)) is not None:
        fields["live_version"] = live
    if params.has("lookup_key") and params.raw("lookup_key") is None:
        params.ignore("lookup_key")
        fields["lookup_key"] = None
    elif (key := params.str("lookup_key", max_length=LOOKUP_KEY_MAX)) is not None:
        fields["lookup_key"] = key
    metadata = params.metadata()
    params.done()
    plan = pricing_plans.update(request.account, request.path_params["id"], fields, metadata, request.clock)
    return pricing_plan(plan)


@routes.route("GET /v2/billing/pricing_plans")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    active = params.bool("active")
    keys = lookup_keys(params)
    if active is not None and keys:
        raise invalid("lookup_keys", "Give either active or lookup_keys, not both.")
    params.done()
    page = pricing_plans.list_(request.account, window, request.clock, active=active, lookup_keys=keys)
    return v2_envelope(PLANS, page, pricing_plan, window, {"active": active, "lookup_keys": keys})


@routes.route("GET /v2/billing/pricing_plans/{id}/versions")
def list_versions(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    params.done()
    plan = pricing_plans.retrieve(request.account, request.path_params["id"], request.clock)
    page = v2_page(pricing_plans.versions(request.account, plan, request.clock), window)
    return v2_envelope(f"{PLANS}/{plan.id}/versions", page, pricing_plan_version, window)


@routes.route("GET /v2/billing/pricing_plans/{id}/versions/{version_id}")
def retrieve_version(request: Request) -> dict[str, Any]:
    request.params().done()
    plan = pricing_plans.retrieve(request.account, request.path_params["id"], request.clock)
    return pricing_plan_version(
        pricing_plans.version_of(request.account, plan, request.path_params["version_id"], request.clock)
    )


@routes.route("GET /v2/billing/pricing_plans/{id}/components")
def list_components(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    keys = lookup_keys(params)
    version_id = params.str("pricing_plan_version", max_length=255)
    if version_id is not None and keys:
        raise invalid("lookup_keys", "Give either pricing_plan_version or lookup_keys, not both.")
    params.done()
    account, clock = request.account, request.clock
    plan = pricing_plans.retrieve(account, request.path_params["id"], clock)
    version = pricing_plans.version_of(
        account, plan, version_id or plan.latest_version, clock, param="pricing_plan_version"
    )
    found = [
        c for c in pricing_plans.components(account, plan, version, clock) if not keys or c.lookup_key in keys
    ]
    query = {"lookup_keys": keys, "pricing_plan_version": version_id}
    return v2_envelope(
        f"{PLANS}/{plan.id}/components", v2_page(found, window), pricing_plan_component, window, query
    )


@routes.route("POST /v2/billing/pricing_plans/{id}/components")
def add_component(request: Request) -> dict[str, Any]:
    params = request.params()
    kind = params.str("type", required=True, choices=COMPONENT_TYPES)
    assert kind is not None
    named = params.sub(kind, required=True)
    assert named is not None
    target = named.str("id", required=True, max_length=255)
    version = None if kind == "service_action" else named.str("version", max_length=255)
    named.done()
    if version == "latest":
        version = None
    for other in COMPONENT_TYPES:
        if other != kind and params.has(other):
            raise invalid(other, f"{other} is not valid for a component of type {kind}.")
    key = params.str("lookup_key", max_length=LOOKUP_KEY_MAX)
    metadata = params.metadata()
    params.done()
    assert target is not None
    component = pricing_plans.add_component(
        request.account, request.path_params["id"], kind, target, version, key, metadata, request.clock
    )
    return pricing_plan_component(component)


@routes.route("GET /v2/billing/pricing_plans/{id}/components/{component_id}")
def retrieve_component(request: Request) -> dict[str, Any]:
    request.params().done()
    plan = pricing_plans.retrieve(request.account, request.path_params["id"], request.clock)
    return pricing_plan_component(
        pricing_plans.component(request.account, plan, request.path_params["component_id"], request.clock)
    )


@routes.route("POST /v2/billing/pricing_plans/{id}/components/{component_id}")
def update_component(request: Request) -> dict[str, Any]:
    params = request.params()
    key = params.str("lookup_key", max_length=LOOKUP_KEY_MAX)
    metadata = params.metadata()
    params.done()
    component = pricing_plans.update_component(
        request.account,
        request.path_params["id"],
        request.path_params["component_id"],
        key,
        metadata,
        request.clock,
    )
    return pricing_plan_component(component)


@routes.route("DELETE /v2/billing/pricing_plans/{id}/components/{component_id}")
def remove_component(request: Request) -> dict[str, Any]:
    """Remove a component from the latest version (a new version without it)."""
    request.params().done()
    gone = pricing_plans.remove_component(
        request.account, request.path_params["id"], request.path_params["component_id"], request.clock
    )
    return deleted(gone.id, gone.OBJECT)
