"""/v2/billing/rate_cards: create, retrieve, update, list; `modify_rates`; versions; rates (JSON)."""

from __future__ import annotations

from typing import Any

from tally.api.forms import metered_fields, price_fields, v2_currency
from tally.api.http import Request
from tally.api.lists import lookup_keys, v2_envelope, v2_list_args, v2_page
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import rate_cards
from tally.billing.rate_cards import RateInput
from tally.domain.catalog import (
    DISPLAY_NAME_MAX,
    LOOKUP_KEY_MAX,
    MAX_MODIFY,
    SERVICE_INTERVALS,
    TAX_BEHAVIORS,
    RateCardRate,
)
from tally.domain.metadata import apply_metadata
from tally.errors import invalid
from tally.presenters.catalog import deleted, rate_card, rate_card_rate, rate_card_version

routes = Routes()
MAX_INTERVAL_COUNT = {"day": 365, "week": 52, "month": 12, "year": 1}


@routes.route("POST /v2/billing/rate_cards")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = {
        "currency": v2_currency(params),
        "display_name": params.str("display_name", required=True, max_length=DISPLAY_NAME_MAX),
        "interval": params.str("service_interval", required=True, choices=SERVICE_INTERVALS),
        "tax_behavior": params.str("tax_behavior", required=True, choices=TAX_BEHAVIORS),
    }
    fields["interval_count"] = params.int(
        "service_interval_count", required=True, min=1, max=MAX_INTERVAL_COUNT[fields["interval"]]
    )
    if (key := params.str("lookup_key", max_length=LOOKUP_KEY_MAX)) is not None:
        fields["lookup_key"] = key
    metadata = params.metadata()
    params.done()
    return rate_card(rate_cards.create(request.account, fields, metadata, request.clock))


@routes.route("GET /v2/billing/rate_cards/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    request.params().done()
    return rate_card(rate_cards.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v2/billing/rate_cards/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = {}
    if (active := params.bool("active")) is not None:
        fields["active"] = active
    if (name := params.str("display_name", max_length=DISPLAY_NAME_MAX)) is not None:
        fields["display_name"] = name
    if (live := params.str("live_version", max_length=255)) is not None:
        fields["live_version"] = live
    if params.has("lookup_key") and params.raw("lookup_key") is None:
        params.ignore("lookup_key")
        fields["lookup_key"] = None
    elif (key := params.str("lookup_key", max_length=LOOKUP_KEY_MAX)) is not None:
        fields["lookup_key"] = key
    metadata = params.metadata()
    params.done()
    card = rate_cards.update(request.account, request.path_params["id"], fields, metadata, request.clock)
    return rate_card(card)


@routes.route("GET /v2/billing/rate_cards")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    active = params.bool("active")
    keys = lookup_keys(params)
    if active is not None and keys:
        raise invalid("lookup_keys", "Give either active or lookup_keys, not both.")
    params.done()
    page = rate_cards.list_(request.account, window, request.clock, active=active, lookup_keys=keys)
    query = {"active": active, "lookup_keys": keys}
    return v2_envelope("/v2/billing/rate_cards", page, rate_card, window, query)


@routes.route("POST /v2/billing/rate_cards/{id}/modify_rates")
def modify_rates(request: Request) -> dict[str, Any]:
    params = request.params()
    creates = [
        _rate_input(p, f"rates_to_create[{i}]")
        for i, p in enumerate(params.sublist("rates_to_create", max_items=MAX_MODIFY) or [])
    ]
    deletes: list[str] = []
    for p in params.sublist("rates_to_delete", max_items=MAX_MODIFY) or []:
        rate_id = p.str("id", required=True, max_length=255)
        p.done()
        assert rate_id is not None
        deletes.append(rate_id)
    params.done()
    if not creates and not deletes:
        raise invalid("rates_to_create", "Give rates_to_create or rates_to_delete.")
    version, _ = rate_cards.modify_rates(
        request.account, request.path_params["id"], creates, deletes, request.clock
    )
    return rate_card_version(version)


@routes.route("GET /v2/billing/rate_cards/{id}/versions")
def list_versions(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    params.done()
    card = rate_cards.retrieve(request.account, request.path_params["id"], request.clock)
    page = v2_page(rate_cards.versions(request.account, card, request.clock), window)
    return v2_envelope(f"/v2/billing/rate_cards/{card.id}/versions", page, rate_card_version, window)


@routes.route("GET /v2/billing/rate_cards/{id}/versions/{version_id}")
def retrieve_version(request: Request) -> dict[str, Any]:
    request.params().done()
    card = rate_cards.retrieve(request.account, request.path_params["id"], request.clock)
    version = rate_cards.version_of(request.account, card, request.path_params["version_id"], request.clock)
    return rate_card_version(version)


@routes.route("GET /v2/billing/rate_cards/{id}/rates")
def list_rates(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    item = params.str("metered_item", max_length=255)
    version_id = params.str("rate_card_version", max_length=255)
    params.done()
    account, clock = request.account, request.clock
    card = rate_cards.retrieve(account, request.path_params["id"], clock)
    version_id = version_id or card.latest_version
    version = rate_cards.version_of(account, card, version_id, clock, param="rate_card_version")
    found = [
        r for r in rate_cards.rates(account, card, version, clock) if item is None or r.metered_item == item
    ]
    page = v2_page(found, window)
    present = _presenter(request, page.data)
    query = {"metered_item": item, "rate_card_version": version_id}
    return v2_envelope(f"/v2/billing/rate_cards/{card.id}/rates", page, present, window, query)


@routes.route("POST /v2/billing/rate_cards/{id}/rates")
def create_rate(request: Request) -> dict[str, Any]:
    """One rate: `modify_rates` with one create (a version when the item already had a rate)."""
    params = request.params()
    given = _rate_input(params, "", item_data=False)
    params.done()
    _, made = rate_cards.modify_rates(request.account, request.path_params["id"], [given], [], request.clock)
    return _presenter(request, made)(made[0])


@routes.route("GET /v2/billing/rate_cards/{id}/rates/{rate_id}")
def retrieve_rate(request: Request) -> dict[str, Any]:
    request.params().done()
    card = rate_cards.retrieve(request.account, request.path_params["id"], request.clock)
    found = rate_cards.rate(request.account, card, request.path_params["rate_id"], request.clock)
    return _presenter(request, [found])(found)


@routes.route("DELETE /v2/billing/rate_cards/{id}/rates/{rate_id}")
def delete_rate(request: Request) -> dict[str, Any]:
    """Delete one rate of the latest version: a new version without it."""
    request.params().done()
    rate_id = request.path_params["rate_id"]
    card = rate_cards.retrieve(request.account, request.path_params["id"], request.clock)
    rate_cards.rate(request.account, card, rate_id, request.clock)  # a 404 for a rate not of this card
    rate_cards.modify_rates(request.account, card.id, [], [rate_id], request.clock)
    return deleted(rate_id, RateCardRate.OBJECT)


def _presenter(request: Request, shown: list[RateCardRate]) -> Any:
    items = rate_cards.metered_items(request.account, [r.metered_item for r in shown], request.clock)
    return lambda r: rate_card_rate(r, items[r.metered_item])


def _rate_input(p: Params, where: str, *, item_data: bool = True) -> RateInput:
    prefix = f"{where}." if where else ""
    item = p.str("metered_item", max_length=255)
    data = None
    if item_data and (sub := p.sub("metered_item_data")) is not None:
        fields, conditions = metered_fields(sub)
        sub.done()
        data = {**fields, "meter_segment_conditions": conditions}
    if (item is None) == (data is None):
        raise invalid(
            f"{prefix}metered_item",
            "Give exactly one of metered_item and metered_item_data."
            if item_data
            else "metered_item is required.",
        )
    price = price_fields(p, prefix, required=True)
    assert price is not None
    metadata = apply_metadata({}, p.metadata())
    p.done()
    return RateInput(
        metered_item=item,
        metered_item_data=data,
        metadata=metadata,
        **price,
        param=where or "metered_item",
    )
