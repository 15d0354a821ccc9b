"""Lambda entry point of the usage aggregator: the usage table's stream (INSERTs of event items,
template.yaml FilterCriteria) → `billing.usage_aggregation.run`.

The batch's records only wake it and name the customers to evaluate: it catches the whole
stream up from its checkpoints (`store.usage.catchup`), exactly once whoever else does. Any
failure fails the invocation, so Lambda retries the batch (nothing applied twice, nothing lost).
"""

from __future__ import annotations

from typing import Any

from tally.billing import usage_aggregation
from tally.clock import Clock
from tally.observability import entry_point, logger


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    caught = usage_aggregation.run(event.get("Records", []), Clock.system())
    logger.debug("usage caught up", extra={"records": caught.records, "applied": caught.applied})
    return {"batchItemFailures": []}
