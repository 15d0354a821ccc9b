"""Lambda entry point of the test clock queue: runs each message's advance (`billing.test_clocks`).

Each message is `{"account", "test_clock", "frozen_time"}`, sent by `POST
/v1/test_helpers/test_clocks/{id}/advance`. The clock is the wall clock (the events' `created`);
the billing runs at each period end's own instant. A message that fails is reported in
`batchItemFailures`, so SQS redelivers it; its last attempt (`ApproximateReceiveCount` =
`ADVANCE_ATTEMPTS`) marks the clock `internal_failure` instead of failing again.
"""

from __future__ import annotations

import json
from typing import Any

from tally.billing import test_clocks
from tally.clock import Clock
from tally.observability import entry_point, logger


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event.get("Records", []):
        try:
            body = json.loads(record["body"])
            attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
            clock, billed = test_clocks.run_advance(
                str(body["account"]),
                str(body["test_clock"]),
                int(body["frozen_time"]),
                attempt,
                Clock.system(),
            )
        except Exception:  # any failure: this message only is retried
            logger.exception("advancing a test clock failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        logger.info(
            "test clock advanced",
            extra={
                "account": body["account"],
                "test_clock": body["test_clock"],
                "frozen_time": body["frozen_time"],
                "status": clock.status if clock else "deleted",
                "invoices": [i.id for i in billed],
            },
        )
    return {"batchItemFailures": failures}
