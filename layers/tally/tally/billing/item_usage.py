"""The usage a v2 metered item bills: its meter's usage for a customer, restricted to the
segments matching all of the item's `meter_segment_conditions` (the whole meter when it has none).

Read O(hours) per matching segment (a customer has at most `dimensions.MAX_SEGMENTS` on a meter),
never O(events): `store.usage.hourly` of each segment's buckets, combined by the meter's formula.
"""

from __future__ import annotations

from tally.domain import dimensions, presentation
from tally.domain.catalog import MeteredItem
from tally.domain.records import Meter
from tally.store import usage
from tally.store.usage import segments


def metered_item_usage(
    account: str, item: MeteredItem, meter: Meter, customer: str, start: int, end: int
) -> int:
    """The aggregated usage of `item` (a metered item of `meter`) for `customer` over events stamped
    in [start, end), to the second: the sum (or, for `last`, the latest value) over the segments
    matching every one of its conditions; the meter's whole usage when it has none."""
    if not item.meter_segment_conditions:
        return usage.aggregate(account, meter, customer, start, end)
    if end <= start:
        return 0
    keys = meter.dimension_payload_keys
    wanted = {c.dimension: c.value for c in item.meter_segment_conditions}
    hours: list[usage.HourValue] = []
    for segment in segments.listed(account, meter.id, customer):
        if dimensions.matches(keys, segment, wanted):
            hours += usage.hourly(account, meter, customer, start, end, segment.digest).values()
    return usage.combine(meter.formula, hours)


def grouped_usage(
    account: str, item: MeteredItem, meter: Meter, customer: str, start: int, end: int
) -> list[tuple[presentation.Group, int]]:
    """The item's usage over [start, end) per group of its `invoice_presentation_dimensions`
    (`tally.domain.presentation`), groups in order; one group `()` holding the whole usage when it
    has none. Reads each matching segment's hours once, as `metered_item_usage` does."""
    if not item.invoice_presentation_dimensions:
        return [((), metered_item_usage(account, item, meter, customer, start, end))]
    if end <= start:
        return []
    keys = meter.dimension_payload_keys
    wanted = {c.dimension: c.value for c in item.meter_segment_conditions}
    hours: dict[presentation.Group, list[usage.HourValue]] = {}
    for segment in segments.listed(account, meter.id, customer):
        if dimensions.matches(keys, segment, wanted):
            group = presentation.group_of(keys, segment.values, item.invoice_presentation_dimensions)
            hours.setdefault(group, [])
            hours[group] += usage.hourly(account, meter, customer, start, end, segment.digest).values()
    ordered = sorted(hours, key=presentation.order)
    return [(g, usage.combine(meter.formula, hours[g])) for g in ordered]
