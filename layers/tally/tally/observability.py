"""The one place that creates the logger and metrics every function uses.

No Tracer here: the X-Ray SDK costs ~0.5 s of import time, which the ingest path cannot afford.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import wraps
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths

logger = Logger(service="tally")
metrics = Metrics(namespace="Tally", service="tally")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def entry_point(handler: Handler) -> Handler:
    """The decorator stack every function uses: JSON logs keyed by the API Gateway request id, and
    metrics flushed after each invocation that recorded some. Most requests record none (only meter
    events do): Powertools' `log_metrics` would warn "No application metrics to publish" on each of
    those, burying real warnings, so the flush is done here. Disabled metrics are dropped (Powertools
    would otherwise keep buffering them forever in a long-running local process)."""
    logged = logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)(handler)

    @wraps(handler)
    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return logged(event, context)
        finally:
            if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
                metrics.clear_metrics()
            elif metrics.metric_set:
                metrics.flush_metrics()

    return run
