"""The one place that creates the logger and metrics every function uses.

No Tracer here: the X-Ray SDK costs ~0.5 s of import time, which the ingest path cannot afford.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="tally")
metrics = Metrics(namespace="Tally", service="tally")
