"""Lambda entry point of the webhook queue: fans recorded events out to webhook endpoints and
delivers them, signed, with retries (`tally.billing.webhooks`).

Each message is `{"account", "event"}` (sent by `dispatch` for each recorded event: fan out) or
`{"kind": "deliver", "account", "event", "endpoint", "attempt", "first", "due"}` (one delivery
attempt). The clock is the wall clock at receipt (deliveries are signed with the time they are
sent). A message that fails (the store or SQS failed; an endpoint's answer never fails a message:
it schedules a retry) is reported in `batchItemFailures`, so SQS retries only it.
"""

from __future__ import annotations

import json
from typing import Any

from tally.billing import webhooks
from tally.clock import Clock
from tally.observability import entry_point, logger


def process(event: dict[str, Any], clock: Clock) -> dict[str, Any]:
    """Handle an SQS batch at `clock` (tests call this with the instant they need)."""
    failures = []
    for record in event.get("Records", []):
        try:
            body = json.loads(record["body"])
            outcome = webhooks.handle(body, clock)
        except Exception:  # any failure: this message only is retried
            logger.exception("webhook message failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        logger.info(
            f"webhook {outcome.what}",
            extra={
                "account": body.get("account"),
                "event": body.get("event"),
                "endpoint": body.get("endpoint"),
                "attempt": body.get("attempt"),
                "endpoints": outcome.endpoints,
                "status": outcome.status,
                "detail": outcome.detail,
            },
        )
    return {"batchItemFailures": failures}


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process(event, Clock.system())
