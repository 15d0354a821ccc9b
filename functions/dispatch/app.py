"""Lambda entry point of the outbox: the objects table's stream, filtered to new events
(template.yaml FilterCriteria), delivered in order by `billing.delivery`.

Records are delivered in stream order; the first that fails is reported in `batchItemFailures`
(its sequence number), so Lambda checkpoints everything before it and retries from it (bisecting,
then the on-failure destination after MaximumRetryAttempts). Nothing after a failure is attempted
in this invocation: it would be retried anyway. An event seen twice in one batch (moto's
transactions emit some records twice) is delivered once.
"""

from __future__ import annotations

from typing import Any

from tally.billing import delivery
from tally.observability import entry_point, logger


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    done: set[str] = set()
    for record in event.get("Records", []):
        change = record.get("dynamodb", {})
        try:
            item = delivery.from_image(change.get("NewImage") or {})
            if item is None or item.id in done:
                continue
            delivery.deliver(item)
        except Exception:  # this record and the rest of the batch are retried
            logger.exception("delivering an event failed", extra={"sequence": change.get("SequenceNumber")})
            return {"batchItemFailures": [{"itemIdentifier": change.get("SequenceNumber", "")}]}
        done.add(item.id)
        logger.debug(
            "event delivered",
            extra={"account": item.account, "event": item.id, "type": item.event.get("type")},
        )
    return {"batchItemFailures": []}
