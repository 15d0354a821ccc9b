"""/v1/billing/meters: create, retrieve, list, update display_name, deactivate, reactivate,
and usage summaries. One active meter per event_name (a uniqueness claim held while active).
"""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import meters
from tally.billing.meters import MAX_SHARDS, MeterSpec
from tally.domain import dimensions
from tally.domain.aggregation import MINUTE, Formula
from tally.errors import invalid
from tally.presenters.meters import event_summary
from tally.presenters.meters import meter as present

routes = Routes()


@routes.route("POST /v1/billing/meters")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    display_name = params.str("display_name", required=True, max_length=250)
    event_name = params.str("event_name", required=True, max_length=100)
    aggregation = params.sub("default_aggregation", required=True)
    assert aggregation is not None
    formula = aggregation.str("formula", required=True, choices=tuple(f.value for f in Formula))
    aggregation.done()
    mapping = params.sub("customer_mapping")
    payload_key = "stripe_customer_id"
    if mapping is not None:
        mapping.str("type", required=True, choices=("by_id",))
        payload_key = mapping.str("event_payload_key", required=True, max_length=100) or payload_key
        mapping.done()
    value_settings = params.sub("value_settings")
    value_key = "value"
    if value_settings is not None:
        value_key = value_settings.str("event_payload_key", required=True, max_length=100) or value_key
        value_settings.done()
    if value_key == payload_key:
        raise invalid("value_settings[event_payload_key]", "The value key must differ from the customer key.")
    window = params.str("event_time_window", choices=("hour", "day"))
    shards = params.int("write_shards", min=1, max=MAX_SHARDS)
    keys = params.strings("dimension_payload_keys", max_items=dimensions.MAX_DIMENSIONS + 7, max_length=100)
    dims = dimensions.check_keys(
        keys or [], {payload_key: "customer key", value_key: "value key"}, "dimension_payload_keys"
    )
    params.expand()
    params.done()
    assert display_name is not None and event_name is not None and formula is not None
    spec = MeterSpec(
        display_name, event_name, Formula(formula), payload_key, value_key, window, shards or 1, dims
    )
    return present(meters.create(request.account, spec, request.clock))


@routes.route("GET /v1/billing/meters/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(meters.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v1/billing/meters/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    display_name = params.str("display_name", max_length=250)
    params.expand()
    params.done()
    return present(meters.update(request.account, request.path_params["id"], display_name, request.clock))


def _set_active(request: Request, active: bool) -> dict[str, Any]:
    params = request.params()
    params.expand()
    params.done()
    return present(meters.set_active(request.account, request.path_params["id"], active, request.clock))


@routes.route("POST /v1/billing/meters/{id}/deactivate")
def deactivate(request: Request) -> dict[str, Any]:
    return _set_active(request, active=False)


@routes.route("POST /v1/billing/meters/{id}/reactivate")
def reactivate(request: Request) -> dict[str, Any]:
    return _set_active(request, active=True)


@routes.route("GET /v1/billing/meters")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params)
    status = params.str("status", choices=("active", "inactive"))
    params.done()
    page = meters.list_(request.account, window, request.clock, status=status)
    return envelope("/v1/billing/meters", page, present)


# -- summaries ---------------------------------------------------------------------------------
def _minute_aligned(params: Params, name: str) -> int:
    value = params.int(name, required=True, min=0, max=2**40)
    assert value is not None
    if value % MINUTE:
        raise invalid(name, f"{name} must be aligned to a minute boundary (a multiple of 60 seconds).")
    return value


def _dimension_filters(params: Params) -> dict[str, str]:
    """`dimension_filters[<key>]=<value>` (a value "" selects segments without a value)."""
    sub = params.sub("dimension_filters")
    if sub is None:
        return {}
    raw = sub._data
    if not isinstance(raw, dict):
        raise invalid("dimension_filters", "dimension_filters must be a hash of dimension keys to values.")
    if len(raw) > dimensions.MAX_DIMENSIONS:
        raise invalid("dimension_filters", f"At most {dimensions.MAX_DIMENSIONS} dimension_filters.")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str) or len(value) > dimensions.MAX_DIMENSION_VALUE or not key:
            raise invalid(
                f"dimension_filters[{key}]",
                f"dimension_filters[{key}] must be a string of at most "
                f"{dimensions.MAX_DIMENSION_VALUE} characters.",
            )
        out[key] = value
    sub.ignore(*out)
    sub.done()
    return out


@routes.route("GET /v1/billing/meters/{id}/event_summaries")
def event_summaries(request: Request) -> dict[str, Any]:
    meter_id = request.path_params["id"]
    params = request.params()
    customer = params.str("customer", required=True, max_length=255)
    start = _minute_aligned(params, "start_time")
    end = _minute_aligned(params, "end_time")
    grouping = params.str("value_grouping_window", choices=("hour", "day"))
    filters = _dimension_filters(params)
    group_by = params.strings("dimension_group_by_keys", max_items=dimensions.MAX_DIMENSIONS, max_length=100)
    if group_by is not None and len(set(group_by)) != len(group_by):
        raise invalid("dimension_group_by_keys", "A dimension is given twice in dimension_group_by_keys.")
    window = list_args(params)
    params.done()
    assert customer is not None
    page = meters.event_summaries(
        request.account,
        meter_id,
        customer,
        start,
        end,
        grouping,
        window,
        request.clock,
        filters=filters,
        group_by=tuple(group_by or ()),
    )
    return envelope(f"/v1/billing/meters/{meter_id}/event_summaries", page, event_summary)
