"""The notification topic (SNS), the webhook queue (SQS) and the records of notification
subscriptions: the only code that calls SNS, and the delivery side of the outbox.

`publish` sends one event to the topic with its message attributes (`domain.notifications`);
`enqueue_webhook` sends `{"account", "event"}` to the webhook queue (functions/webhooks). A
subscription record (pk `acct#nsub_…`) holds the SNS SubscriptionArn; a claim
(`acct#unique#notification_endpoint#<protocol>:<endpoint>`) keeps one subscription per endpoint
and account, because SNS itself keeps one subscription per (topic, protocol, endpoint).

Crash points of `create` (docs/DATA-MODEL.md, "Notification subscriptions"): (1) sns:Subscribe —
SNS answers the same ARN to the same (endpoint, attributes), so a retry adopts the subscription a
crash left without a record; (2) the record + claim transaction — all or nothing. Of `delete`:
(1) sns:Unsubscribe — unsubscribing an ARN SNS no longer knows is a success; (2) the record +
claim delete.
"""

from __future__ import annotations

import json
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from tally.clock import Clock
from tally.domain.notifications import NotificationSubscription
from tally.errors import InvalidRequest
from tally.settings import settings
from tally.store import aws, codec, errors
from tally.store.errors import raise_translated
from tally.store.event_log import sort_stamp
from tally.store.items import read_item
from tally.store.models import OBJECT_SK, ObjectItem, bind
from tally.store.transactions import connection

CLAIM = "notification_endpoint"


def _topic() -> str:
    arn = settings().notification_topic_arn
    if not arn:
        raise RuntimeError("NOTIFICATION_TOPIC_ARN is not set")
    return arn


# -- delivery -----------------------------------------------------------------------------------------
def publish(message: str, attributes: dict[str, str]) -> str:
    """Publish one event (JSON text) to the topic; returns SNS's MessageId."""
    answer = aws.sns().publish(
        TopicArn=_topic(),
        Message=message,
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )
    return str(answer["MessageId"])


def enqueue_webhook(account: str, event_id: str) -> None:
    """Ask functions/webhooks to deliver `event_id` of `account` to its webhook endpoints."""
    url = settings().webhook_queue_url
    if not url:
        raise RuntimeError("WEBHOOK_QUEUE_URL is not set")
    body = json.dumps({"account": account, "event": event_id}, separators=(",", ":"))
    aws.sqs().send_message(QueueUrl=url, MessageBody=body)


# -- subscriptions --------------------------------------------------------------------------------------
def subscribe(protocol: str, endpoint: str, policy: dict[str, Any]) -> str:
    """Create (or find, SNS being idempotent) the SNS subscription; returns its ARN. An endpoint
    that SNS already holds with another filter policy (another account's) is refused (400)."""
    from botocore.exceptions import ClientError

    try:
        answer = aws.sns().subscribe(
            TopicArn=_topic(),
            Protocol=protocol,
            Endpoint=endpoint,
            Attributes={"FilterPolicyScope": "MessageAttributes", "FilterPolicy": json.dumps(policy)},
            ReturnSubscriptionArn=True,
        )
    except ClientError as exc:
        if errors.code_of(exc) == "InvalidParameter":
            raise InvalidRequest(
                "SNS refused this endpoint: it cannot be subscribed, or it is already subscribed to "
                "Tally's topic with other settings.",
                code="parameter_invalid",
                param="endpoint",
            ) from exc
        raise errors.translate(exc) from exc
    return str(answer["SubscriptionArn"])


def unsubscribe(subscription_arn: str) -> None:
    """Remove the SNS subscription; one SNS no longer knows (or still pending) is already gone."""
    from botocore.exceptions import ClientError

    if not subscription_arn.startswith("arn:"):
        return
    try:
        aws.sns().unsubscribe(SubscriptionArn=subscription_arn)
    except ClientError as exc:
        if errors.code_of(exc) not in ("NotFound", "InvalidParameter"):
            raise errors.translate(exc) from exc


def claim_value(protocol: str, endpoint: str) -> str:
    return f"{protocol}:{endpoint}"


def holder(account: str, protocol: str, endpoint: str) -> str | None:
    """The id of the account's subscription to this endpoint, if any."""
    bind()
    try:
        claim = ObjectItem.get(
            ObjectItem.unique_key(account, CLAIM, claim_value(protocol, endpoint)),
            OBJECT_SK,
            consistent_read=True,
        )
    except ObjectItem.DoesNotExist:
        return None
    return str(claim.owner)


def save(account: str, record: NotificationSubscription, clock: Clock) -> None:
    """Store the record and its endpoint claim in one transaction (400 if the claim is taken)."""
    bind()
    item = ObjectItem(
        pk=ObjectItem.object_key(account, record.id),
        sk=OBJECT_SK,
        lpk=ObjectItem.list_key(account, record.OBJECT),
        lsk=ObjectItem.list_sort(sort_stamp(clock), record.id),
        kind=record.OBJECT,
    )
    item.set_body(codec.dumps(record))
    claim = ObjectItem(
        pk=ObjectItem.unique_key(account, CLAIM, claim_value(record.protocol, record.endpoint)),
        sk=OBJECT_SK,
        owner=record.id,
    )
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.save(item, condition=ObjectItem.pk.does_not_exist())
            tx.save(claim, condition=ObjectItem.pk.does_not_exist())
    except TransactWriteError as exc:
        taken = InvalidRequest(
            "This account already has a notification subscription for this endpoint.",
            code="resource_already_exists",
            param="endpoint",
        )
        raise_translated(exc, [taken, taken], transaction=True)


def load(account: str, subscription_id: str, clock: Clock) -> NotificationSubscription:
    item = read_item(
        account, subscription_id, NotificationSubscription.OBJECT, clock, label="notification subscription"
    )
    return codec.loads(NotificationSubscription, str(item.text))


def remove(account: str, record: NotificationSubscription) -> None:
    """Delete the record and its claim (a retry after a crash finds nothing left to delete)."""
    bind()
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.delete(ObjectItem(pk=ObjectItem.object_key(account, record.id), sk=OBJECT_SK))
            tx.delete(
                ObjectItem(
                    pk=ObjectItem.unique_key(account, CLAIM, claim_value(record.protocol, record.endpoint)),
                    sk=OBJECT_SK,
                )
            )
    except TransactWriteError as exc:
        raise_translated(exc, [None, None], transaction=True)
