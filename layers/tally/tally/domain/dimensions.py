"""Meter dimensions: an event's segment (the values of its meter's dimension keys), its digest,
and which segments a filter or a metered item's conditions select. Pure, no I/O.

A segment is the meter's FULL set of dimension values (Stripe's word); a dimension the event's
payload lacks (or sends as "") has no value, written None here. Two events are in the same segment
exactly when every dimension has the same value or both have none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tally.errors import InvalidRequest, invalid

# Stripe's docs say 2 dimensions in one place ("contact support for more") and "up to three" in
# another: Tally serves 3 (docs/API.md, meters, "Dimensions").
MAX_DIMENSIONS = 3
MAX_DIMENSION_VALUE = 100  # a metered item's condition value has the same limit
# Distinct segments one customer may have on one meter; the next new one is a 400.
MAX_SEGMENTS = 100

Values = tuple[str | None, ...]


@dataclass(frozen=True)
class Segment:
    """One segment of a meter for a customer: its dimension values, in the meter's key order."""

    digest: str
    values: Values

    def named(self, keys: Sequence[str]) -> dict[str, str]:
        """{key: value} of the dimensions that have a value (a missing one is left out)."""
        return {k: v for k, v in zip(keys, self.values, strict=True) if v is not None}


def check_keys(keys: Sequence[str], reserved: Mapping[str, str], param: str) -> tuple[str, ...]:
    """A meter's `dimension_payload_keys`: at most MAX_DIMENSIONS distinct keys, none of them the
    customer or value key (`reserved`: key → what it already is)."""
    if len(keys) > MAX_DIMENSIONS:
        raise invalid(param, f"A meter may have at most {MAX_DIMENSIONS} dimension_payload_keys.")
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise invalid(f"{param}[{index}]", f"The dimension {key!r} is given twice.")
        if key in reserved:
            raise invalid(f"{param}[{index}]", f"{key!r} is already the meter's {reserved[key]}.")
        seen.add(key)
    return tuple(keys)


def values_of(keys: Sequence[str], payload: Mapping[str, str], param: str) -> Values:
    """The event's value of each dimension key (None: the payload lacks it or sends "")."""
    out: list[str | None] = []
    for key in keys:
        value = payload.get(key) or None
        if value is not None and len(value) > MAX_DIMENSION_VALUE:
            raise invalid(
                f"{param}[{key}]",
                f"A dimension value must be at most {MAX_DIMENSION_VALUE} characters.",
            )
        out.append(value)
    return tuple(out)


def digest(values: Values) -> str:
    """A fixed-size name for a segment (its buckets' key part): 24 hex digits of its values' SHA-256."""
    text = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def segment_of(keys: Sequence[str], payload: Mapping[str, str], param: str) -> Segment:
    values = values_of(keys, payload, param)
    return Segment(digest(values), values)


def matches(keys: Sequence[str], segment: Segment, wanted: Mapping[str, str | None]) -> bool:
    """True when the segment has every `wanted` value (None or "": the dimension has no value)."""
    named = dict(zip(keys, segment.values, strict=True))
    return all(named.get(k) == (v or None) for k, v in wanted.items())


def group_of(keys: Sequence[str], segment: Segment, by: Sequence[str]) -> Values:
    """The segment's values of the group-by keys `by` (in that order)."""
    named = dict(zip(keys, segment.values, strict=True))
    return tuple(named[k] for k in by)


def check_names(keys: Sequence[str], names: Sequence[str], param: str, meter_id: str) -> None:
    """Every name in `names` is a dimension of the meter (a filter or a group-by key)."""
    for index, name in enumerate(names):
        if name not in keys:
            raise invalid(
                f"{param}[{index}]" if param.endswith("keys") else f"{param}[{name}]",
                f"The meter {meter_id} has no dimension {name!r}.",
            )


def cap_exceeded(meter_id: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"The meter {meter_id} already has {MAX_SEGMENTS} distinct segments (combinations of "
        f"dimension values) for this customer, its cap: this event's would be one more, and it was "
        "not stored.",
        code="meter_segment_limit_exceeded",
        param=param,
    )
