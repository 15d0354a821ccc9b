"""Lambda entry point for meter events: the hot path. Imports only what ingestion needs."""

from __future__ import annotations

from typing import Any

from tally.api import meter_events
from tally.api.http import handle
from tally.api.routing import merge
from tally.observability import entry_point

ROUTES = merge(meter_events.routes)


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, ROUTES)
