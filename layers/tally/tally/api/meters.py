"""/v1/billing/meters: create, retrieve, list, update display_name, deactivate, reactivate,
and usage summaries. One active meter per event_name (a uniqueness claim held while active).
"""

from __future__ import annotations

from typing import Any

from tally.api import lists
from tally.api.http import Request
from tally.api.lists import envelope, list_args
from tally.api.params import Params
from tally.api.routing import Routes
from tally.domain.aggregation import DAY, HOUR, MINUTE, Formula, floor_to
from tally.errors import InvalidRequest, invalid
from tally.ids import new_id
from tally.settings import settings
from tally.store import objects, usage
from tally.store.objects import Change, Page, Unique

routes = Routes()
KIND = "billing.meter"
LABEL = "billing meter"
MAX_SHARDS = 32


def ingest_view(meter: dict[str, Any]) -> dict[str, Any]:
    """What ingestion needs of a meter. None of it changes while the meter is active, so it is
    kept on the event_name claim (created on activation, deleted on deactivation) and the ingest
    path reads one item, not two."""
    keep = (
        "id",
        "object",
        "event_name",
        "customer_mapping",
        "value_settings",
        "default_aggregation",
        "write_shards",
        "status",
    )
    return {k: meter[k] for k in keep if k in meter}


def _claim(meter: dict[str, Any]) -> Unique:
    event_name = meter["event_name"]
    return Unique(
        "meter_event_name",
        event_name,
        InvalidRequest(
            f"An active meter with event_name '{event_name}' already exists. Deactivate it or use another "
            "event_name.",
            code="resource_already_exists",
            param="event_name",
        ),
        data=ingest_view(meter),
    )


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
    payload_key, mapping_type = "stripe_customer_id", "by_id"
    if mapping is not None:
        mapping_type = mapping.str("type", required=True, choices=("by_id",)) or mapping_type
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
    params.expand()
    params.done()
    now = int(request.now)
    meter = {
        "id": new_id("mtr"),
        "object": KIND,
        "created": now,
        "customer_mapping": {"event_payload_key": payload_key, "type": mapping_type},
        "default_aggregation": {"formula": formula},
        "display_name": display_name,
        "event_name": event_name,
        "event_time_window": window,
        "livemode": settings().livemode,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": now,
        "value_settings": {"event_payload_key": value_key},
        "write_shards": shards or 1,
    }
    assert event_name is not None
    return objects.create(
        request.account, Change(meter, "billing.meter.created", claim=[_claim(meter)]), request.now
    )


@routes.route("GET /v1/billing/meters/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    return lists.retrieve(request, KIND, label=LABEL)


@routes.route("POST /v1/billing/meters/{id}")
def update(request: Request) -> dict[str, Any]:
    stored = objects.load(request.account, request.path_params["id"], KIND, label=LABEL)
    params = request.params()
    display_name = params.str("display_name", max_length=250)
    params.expand()
    params.done()
    before = stored.obj
    if display_name is None or display_name == before["display_name"]:
        return before
    after = {**before, "display_name": display_name, "updated": int(request.now)}
    change = Change(after, "billing.meter.updated", {"display_name": before["display_name"]})
    return objects.update(request.account, stored, change, request.now)


def _set_status(request: Request, active: bool) -> dict[str, Any]:
    stored = objects.load(request.account, request.path_params["id"], KIND, label=LABEL)
    params = request.params()
    params.expand()
    params.done()
    before = stored.obj
    status = "active" if active else "inactive"
    if before["status"] == status:
        raise InvalidRequest(f"The meter {before['id']} is already {status}.", code="meter_status_unchanged")
    now = int(request.now)
    after = {
        **before,
        "status": status,
        "status_transitions": {"deactivated_at": None if active else now},
        "updated": now,
    }
    change = Change(
        after,
        "billing.meter.reactivated" if active else "billing.meter.deactivated",
        {"status": before["status"]},
        claim=[_claim(after)] if active else [],
        release=[] if active else [("meter_event_name", before["event_name"])],
    )
    return objects.update(request.account, stored, change, request.now)


@routes.route("POST /v1/billing/meters/{id}/deactivate")
def deactivate(request: Request) -> dict[str, Any]:
    return _set_status(request, active=False)


@routes.route("POST /v1/billing/meters/{id}/reactivate")
def reactivate(request: Request) -> dict[str, Any]:
    return _set_status(request, active=True)


@routes.route("GET /v1/billing/meters")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    args = list_args(params)
    status = params.str("status", choices=("active", "inactive"))
    params.done()
    page = objects.list_objects(
        request.account,
        KIND,
        args,
        where=(lambda m: m["status"] == status) if status else None,
        label=LABEL,
    )
    return envelope("/v1/billing/meters", page)


# -- summaries ---------------------------------------------------------------------------------
def _minute_aligned(params: Params, name: str) -> int:
    value = params.int(name, required=True, min=0, max=2**40)
    assert value is not None
    if value % MINUTE:
        raise invalid(name, f"{name} must be aligned to a minute boundary (a multiple of 60 seconds).")
    return value


def summary_id(start: int, end: int) -> str:
    return f"mtrusg_{start}_{end}"


@routes.route("GET /v1/billing/meters/{id}/event_summaries")
def event_summaries(request: Request) -> dict[str, Any]:
    meter = objects.get(request.account, request.path_params["id"], KIND, label=LABEL)
    params = request.params()
    customer = params.str("customer", required=True, max_length=255)
    start = _minute_aligned(params, "start_time")
    end = _minute_aligned(params, "end_time")
    window = params.str("value_grouping_window", choices=("hour", "day"))
    args = list_args(params)
    params.done()
    if end <= start:
        raise invalid("end_time", "end_time must be after start_time.")
    assert customer is not None
    objects.get(request.account, customer, "customer", param="customer")
    step = {"hour": HOUR, "day": DAY}.get(window or "")
    windows = (
        [(start, end)]
        if step is None
        else [(max(w, start), min(w + step, end)) for w in range(floor_to(start, step), end, step)]
    )
    if len(windows) > 10_000:
        raise invalid("value_grouping_window", "Too many windows: narrow start_time/end_time.")
    formula = Formula(meter["default_aggregation"]["formula"])
    hours = usage.hourly(request.account, meter, customer, start, end)
    summaries = []
    for lo, hi in reversed(windows):  # newest first, like every Stripe list
        inside = [h for hour, h in hours.items() if lo <= hour < hi or (hour < lo < hour + HOUR)]
        summaries.append(
            {
                "id": summary_id(lo, hi),
                "object": "billing.meter_event_summary",
                "aggregated_value": usage.combine(formula, inside),
                "end_time": hi,
                "livemode": settings().livemode,
                "meter": meter["id"],
                "start_time": lo,
            }
        )
    return envelope(f"/v1/billing/meters/{meter['id']}/event_summaries", _page(summaries, args))


def _page(items: list[dict[str, Any]], args: Any) -> Page:
    ids = [s["id"] for s in items]
    lo, hi = 0, len(items)
    if args.starting_after:
        if args.starting_after not in ids:
            raise invalid("starting_after", f"No such summary: '{args.starting_after}'")
        lo = ids.index(args.starting_after) + 1
    if args.ending_before:
        if args.ending_before not in ids:
            raise invalid("ending_before", f"No such summary: '{args.ending_before}'")
        hi = ids.index(args.ending_before)
        lo = max(lo, hi - args.limit)
    chosen = items[lo:hi]
    return Page(chosen[: args.limit], len(chosen) > args.limit or (args.ending_before is not None and lo > 0))
