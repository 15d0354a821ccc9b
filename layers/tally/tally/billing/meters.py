"""Meters: create, rename, deactivate/reactivate, read, and usage summaries.

One active meter per event_name: the meter holds the event-name claim while it is active
(`tally.store.meter_names`), which also carries the meter to the ingest path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tally.clock import Clock
from tally.domain import dimensions, limits
from tally.domain import event_summaries as summaries
from tally.domain.aggregation import HOUR, Formula
from tally.domain.event_summaries import EventSummary
from tally.domain.listing import Page, Window
from tally.domain.records import Customer, Meter
from tally.errors import InvalidRequest, invalid
from tally.ids import new_id
from tally.presenters.meters import meter as present
from tally.settings import settings
from tally.store import lists, meter_names, objects, usage
from tally.store.changes import Change
from tally.store.usage import segments as usage_segments

LABEL = "billing meter"
MAX_SHARDS = 32


@dataclass(frozen=True)
class MeterSpec:
    """What a caller chooses when creating a meter."""

    display_name: str
    event_name: str
    formula: Formula
    customer_key: str = "stripe_customer_id"
    value_key: str = "value"
    event_time_window: str | None = None
    write_shards: int = 1
    dimension_payload_keys: tuple[str, ...] = ()


def create(account: str, spec: MeterSpec, clock: Clock) -> Meter:
    meter = Meter(
        id=new_id("mtr"),
        created=clock.now,
        updated=clock.now,
        livemode=settings().livemode,
        display_name=spec.display_name,
        event_name=spec.event_name,
        formula=spec.formula,
        customer_key=spec.customer_key,
        value_key=spec.value_key,
        event_time_window=spec.event_time_window,
        write_shards=spec.write_shards,
        dimension_payload_keys=spec.dimension_payload_keys,
    )
    change = Change(meter, "billing.meter.created", present(meter), claim=[meter_names.claim(meter)])
    objects.create(account, change, clock)
    return meter


def retrieve(account: str, meter_id: str, clock: Clock) -> Meter:
    return objects.get(account, meter_id, Meter, clock, label=LABEL)


def update(account: str, meter_id: str, display_name: str | None, clock: Clock) -> Meter:
    """Rename a meter (the only field that may change)."""
    stored = objects.load(account, meter_id, Meter, clock, label=LABEL)
    before = stored.record
    if display_name is None or display_name == before.display_name:
        return before
    after = replace(before, display_name=display_name, updated=clock.now)
    change = Change(after, "billing.meter.updated", present(after), {"display_name": before.display_name})
    objects.update(account, stored, change, clock)
    return after


def set_active(account: str, meter_id: str, active: bool, clock: Clock) -> Meter:
    """Deactivate (releasing the event name) or reactivate (claiming it again) a meter."""
    stored = objects.load(account, meter_id, Meter, clock, label=LABEL)
    before = stored.record
    status = "active" if active else "inactive"
    if before.status == status:
        raise InvalidRequest(f"The meter {before.id} is already {status}.", code="meter_status_unchanged")
    after = replace(before, status=status, deactivated_at=None if active else clock.now, updated=clock.now)
    change = Change(
        after,
        "billing.meter.reactivated" if active else "billing.meter.deactivated",
        present(after),
        {"status": before.status},
        claim=[meter_names.claim(after)] if active else [],
        release=[] if active else [meter_names.release(before)],
    )
    objects.update(account, stored, change, clock)
    return after


def list_(account: str, window: Window, clock: Clock, *, status: str | None = None) -> Page[Meter]:
    return lists.list_records(
        account,
        Meter,
        window,
        clock,
        where=(lambda m: m.status == status) if status else None,
        label=LABEL,
        any_of=[("status", status)] if status else None,
    )


# -- summaries ---------------------------------------------------------------------------------
def event_summaries(
    account: str,
    meter_id: str,
    customer: str,
    start: int,
    end: int,
    grouping: str | None,
    window: Window,
    clock: Clock,
    filters: dict[str, str] | None = None,
    group_by: tuple[str, ...] = (),
) -> Page[EventSummary]:
    """A customer's usage of a meter over [start, end), whole or per hour/day, newest first —
    of the segments matching `filters` only, and one row per group of `group_by` values (meters
    with dimensions: each segment read O(hours), docs/API.md "Dimensions")."""
    meter = retrieve(account, meter_id, clock)
    if end <= start:
        raise invalid("end_time", "end_time must be after start_time.")
    keys = meter.dimension_payload_keys
    dimensions.check_names(keys, list(filters or {}), "dimension_filters", meter.id)
    dimensions.check_names(keys, list(group_by), "dimension_group_by_keys", meter.id)
    objects.get(account, customer, Customer, clock, param="customer")
    windows = summaries.windows(start, end, grouping)
    livemode = settings().livemode
    groups: dict[dimensions.Values, dict[int, list[usage.HourValue]]] = {}
    if not filters and not group_by:
        groups[()] = {h: [v] for h, v in usage.hourly(account, meter, customer, start, end).items()}
    else:
        if not group_by:
            groups[()] = {}
        for segment in usage_segments.listed(account, meter.id, customer):
            if not dimensions.matches(keys, segment, filters or {}):
                continue
            slots = groups.setdefault(dimensions.group_of(keys, segment, group_by), {})
            for hour, value in usage.hourly(account, meter, customer, start, end, segment.digest).items():
                slots.setdefault(hour, []).append(value)
    if len(windows) * max(1, len(groups)) > summaries.MAX_WINDOWS:
        raise invalid(
            "value_grouping_window", "Too many summaries: narrow start_time/end_time or the groups."
        )
    order = sorted(groups, key=lambda g: [(v is not None, v or "") for v in g])
    found = []
    for lo, hi in reversed(windows):  # newest first, like every Stripe list
        for group in order:
            hours = groups[group]
            inside = [
                v for hour, vs in hours.items() if lo <= hour < hi or (hour < lo < hour + HOUR) for v in vs
            ]
            named = {k: v for k, v in zip(group_by, group, strict=True) if v is not None}
            found.append(
                EventSummary(
                    meter.id,
                    lo,
                    hi,
                    usage.combine(meter.formula, inside),
                    livemode,
                    dimensions=named if group_by else None,
                    group=dimensions.digest(group)[:12] if group_by else "",
                )
            )
    page = summaries.page(found, window)
    for summary in page.data:  # what is shown must fit a 64-bit integer (tally.domain.limits)
        limits.check_usage(f"The aggregated value of {summary.id}", summary.value)
    return page
