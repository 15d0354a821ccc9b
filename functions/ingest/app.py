"""Lambda entry point for meter events: the hot path. Imports only what ingestion needs."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from tally.api import meter_events
from tally.api.http import handle
from tally.api.routing import merge
from tally.observability import logger, metrics

ROUTES = merge(meter_events.routes)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, ROUTES)
