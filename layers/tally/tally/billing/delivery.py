"""Delivering the outbox: each new event-log item (read from the objects table's stream by
functions/dispatch) goes to the stack's notification topic (the operator's subscription), to the
account's own topic (its subscriptions; skipped when it never had one), and to the webhook queue.

At least once: a batch that fails part-way is retried from the first event not delivered, and an
event whose topic publish succeeded but whose webhook message failed is published again on the
retry. Subscribers and webhook endpoints see each event at least once and may dedupe on its id
(`evt_…`), as with Stripe's webhooks. SNS standard topics have no deduplication.

Crash points of `deliver`: (1) the stack topic's publish — nothing sent yet, the retry publishes;
(2) the account topic's publish — the retry publishes to both again (duplicates, never a loss);
(3) the webhook message — the event was published, the retry publishes it again and sends the
message; (4) for an event that may move a customer's credit balance (`credit_watch.REACTS_TO`), the
`{"kind": "credits"}` message to the billing queue — its evaluation is idempotent, so a retry
that sends it again only evaluates again.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from tally.domain.credit_watch import reaction
from tally.domain.notifications import MAX_MESSAGE_BYTES, message_attributes, thin
from tally.store import bodies, notifications, queues


@dataclass(frozen=True)
class Outboxed:
    """One event of the outbox: its account and the Stripe event object (as GET /v1/events shows)."""

    account: str
    event: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.event["id"])


def from_image(image: dict[str, Any]) -> Outboxed | None:
    """The event of a stream record's NewImage (DynamoDB JSON), None if the item holds no event
    body (a meter error report's counts before its first body; a filter entry)."""
    kind = image.get("kind", {}).get("S")
    pk = image.get("pk", {}).get("S", "")
    account, _, event_id = pk.partition("#")
    if kind != "event" or not event_id.startswith("evt_"):
        return None
    packed = image.get("zbody", {}).get("B")
    if isinstance(packed, str):  # Lambda's event JSON carries binary attributes base64-encoded
        packed = base64.b64decode(packed)
    text = bodies.unpack(image.get("body", {}).get("S"), packed)
    if text is None:
        return None
    return Outboxed(account, json.loads(text))


def message_of(item: Outboxed) -> str:
    """The SNS message: the event's JSON, or the event without `data` when SNS would refuse its size."""
    text = json.dumps(item.event, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_MESSAGE_BYTES:
        text = json.dumps(thin(item.event), separators=(",", ":"), ensure_ascii=False)
    return text


def deliver(item: Outboxed) -> None:
    """Publish the event to the stack's topic and the account's, then ask for its webhook deliveries."""
    message, attributes = message_of(item), message_attributes(item.account, item.event)
    notifications.publish(message, attributes)
    notifications.publish(message, attributes, account=item.account)
    notifications.enqueue_webhook(item.account, item.id)
    credits = reaction(item.account, item.event)
    if credits is not None:  # the balance may have moved: evaluate the customer's credit watch
        queues.send([credits])
