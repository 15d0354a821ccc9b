"""Lambda entry point for everything but meter-event ingestion."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from tally.api import customers, events, invoices, meters, prices, products, subscriptions
from tally.api.http import handle
from tally.api.routing import merge
from tally.observability import logger, metrics

ROUTES = merge(
    customers.routes,
    meters.routes,
    products.routes,
    prices.routes,
    subscriptions.routes,
    invoices.routes,
    events.routes,
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, ROUTES)
