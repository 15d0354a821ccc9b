"""The webhook queue (SQS, `WebhookQueue`): `dispatch` sends `{account, event}` per recorded
event; `functions/webhooks` sends itself one delivery message per endpoint, and each retry, with
a delay (SQS delays a message at most 15 minutes: a longer wait is a chain of such hops)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tally.settings import settings
from tally.store import aws

MAX_DELAY = 900  # SQS's DelaySeconds limit
BATCH = 10  # SendMessageBatch's limit


class NotSent(RuntimeError):
    """SQS refused some messages (the worker's message fails and is retried)."""


def send(messages: Sequence[tuple[dict[str, Any], int]]) -> int:
    """Send (message, delay seconds) pairs, in batches of 10; returns how many were sent."""
    url = settings().webhook_queue_url
    if not url:
        raise RuntimeError("WEBHOOK_QUEUE_URL is not set")
    for start in range(0, len(messages), BATCH):
        batch = messages[start : start + BATCH]
        entries = [
            {
                "Id": str(n),
                "MessageBody": json.dumps(body, separators=(",", ":"), sort_keys=True),
                "DelaySeconds": max(0, min(MAX_DELAY, int(delay))),
            }
            for n, (body, delay) in enumerate(batch)
        ]
        answer = aws.sqs().send_message_batch(QueueUrl=url, Entries=entries)
        if answer.get("Failed"):
            raise NotSent(f"SQS refused {len(answer['Failed'])} of {len(entries)} messages")
    return len(messages)
