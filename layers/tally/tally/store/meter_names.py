"""An active meter's claim on its `event_name`, which also carries the meter for ingestion.

One meter per event name may be active. The claim is created when a meter is created or
reactivated and deleted when it is deactivated, so it always names the active meter — and since
none of what ingestion needs changes while a meter is active, the claim keeps the whole meter
record: accepting an event reads one item, not two. This module is the only one that writes or
reads that coupling.
"""

from __future__ import annotations

from tally.clock import Clock
from tally.domain.records import Meter
from tally.errors import InvalidRequest
from tally.store import claims, codec, objects
from tally.store.objects import Unique

KIND = "meter_event_name"


def claim(meter: Meter) -> Unique:
    """The claim an active meter holds (fails with Stripe's error if another active meter has it)."""
    return Unique(
        KIND,
        meter.event_name,
        InvalidRequest(
            f"An active meter with event_name '{meter.event_name}' already exists. Deactivate it or use "
            "another event_name.",
            code="resource_already_exists",
            param="event_name",
        ),
        data=codec.to_plain(meter),
    )


def release(meter: Meter) -> tuple[str, str]:
    return (KIND, meter.event_name)


def active_meter(account: str, event_name: str, clock: Clock) -> Meter | None:
    """The active meter for `event_name`, or None."""
    found = claims.claim_of(account, KIND, event_name)
    if found is None:
        return None
    owner, data = found
    meter = codec.from_plain(Meter, data) if data is not None else objects.get(account, owner, Meter, clock)
    return meter if meter.active else None
