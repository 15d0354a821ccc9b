"""Lambda entry point of the period close: EventBridge Scheduler runs it every minute.

The clock is the schedule's `time` (the instant the run was scheduled for, also on a retry), so a
run is reproducible; it sends every subscription whose period ended by then to the billing queue.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tally.billing import cycles
from tally.clock import Clock
from tally.observability import entry_point, logger


def clock_of(event: dict[str, Any]) -> Clock:
    """The schedule event's `time` (ISO 8601, UTC) as a Clock. Raises ValueError/KeyError."""
    when = dt.datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return Clock.at(when.timestamp())


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    clock = clock_of(event)
    sent = cycles.close_periods(clock)
    if sent:  # quiet minutes log nothing
        logger.info("periods sent to billing", extra={"at": clock.now, "sent": sent})
    return {"at": clock.now, "sent": sent}
