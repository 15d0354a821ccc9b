"""The Stripe `billing.meter` and `billing.meter_event_summary` objects."""

from __future__ import annotations

from typing import Any

from tally.domain.event_summaries import EventSummary
from tally.domain.records import Meter


def meter(m: Meter) -> dict[str, Any]:
    out = {
        "id": m.id,
        "object": "billing.meter",
        "created": m.created,
        "customer_mapping": {"event_payload_key": m.customer_key, "type": "by_id"},
        "default_aggregation": {"formula": m.formula.value},
        "display_name": m.display_name,
        "event_name": m.event_name,
        "event_time_window": m.event_time_window,
        "livemode": m.livemode,
        "status": m.status,
        "status_transitions": {"deactivated_at": m.deactivated_at},
        "updated": m.updated,
        "value_settings": {"event_payload_key": m.value_key},
        "write_shards": m.write_shards,
    }
    if m.dimension_payload_keys:  # only on meters with dimensions (Stripe's GA meter has no field)
        out["dimension_payload_keys"] = list(m.dimension_payload_keys)
    return out


def event_summary(s: EventSummary) -> dict[str, Any]:
    out = {
        "id": s.id,
        "object": "billing.meter_event_summary",
        "aggregated_value": s.value,
        "end_time": s.end,
        "livemode": s.livemode,
        "meter": s.meter,
        "start_time": s.start,
    }
    if s.dimensions is not None:  # grouped by dimension (Stripe's meter usage rows' `dimensions`)
        out["dimensions"] = dict(s.dimensions)
    return out
