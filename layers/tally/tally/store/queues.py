"""The SQS queues: the billing queue (the scheduled close sends each due (account, subscription,
period end) as one message; `functions/bill_period` receives them) and the test clock queue (one
message per test clock advance; `functions/advance_test_clock`). Standard queues: a message may
arrive more than once, and both workers are idempotent (`tally.billing.cycles`,
`tally.billing.test_clocks.run_advance`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from tally.settings import settings
from tally.store import aws

BATCH = 10  # SendMessageBatch's limit


class NotSent(RuntimeError):
    """Some messages of a batch were refused by SQS (the run fails; the next one re-sends)."""


def send(messages: Iterable[dict[str, Any]], queue_url: str | None = None) -> int:
    """Send JSON messages in batches of 10; returns how many were sent. Raises NotSent."""
    url = queue_url or settings().billing_queue_url
    if not url:
        raise RuntimeError("BILLING_QUEUE_URL is not set")
    batch: list[dict[str, Any]] = []
    sent = 0
    for message in messages:
        batch.append(message)
        if len(batch) == BATCH:
            sent += _send_batch(url, batch)
            batch = []
    if batch:
        sent += _send_batch(url, batch)
    return sent


def _send_batch(url: str, batch: Sequence[dict[str, Any]]) -> int:
    entries = [
        {"Id": str(n), "MessageBody": json.dumps(m, separators=(",", ":"), sort_keys=True)}
        for n, m in enumerate(batch)
    ]
    answer = aws.sqs().send_message_batch(QueueUrl=url, Entries=entries)
    if answer.get("Failed"):
        raise NotSent(
            f"SQS refused {len(answer['Failed'])} of {len(entries)} messages: {answer['Failed'][:3]}"
        )
    return len(entries)
