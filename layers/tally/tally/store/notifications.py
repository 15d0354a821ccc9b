"""The notification topics (SNS), the webhook queue (SQS) and the records of notification
subscriptions: the only code that calls SNS, and the delivery side of the outbox.

Topics: the stack's topic (`NOTIFICATION_TOPIC_ARN`: the operator's subscription, and account
subscriptions made before accounts had their own topics) and one topic per account, named
`<stack topic>-<account>` (`domain.notifications.account_topic_arn`), created on the account's first
subscription. `publish` sends one event to a topic with its message attributes
(`domain.notifications`); `enqueue_webhook` sends `{"account", "event"}` to the webhook queue
(functions/webhooks). A subscription record (pk `acct#nsub_…`) holds the SNS SubscriptionArn; a
claim (`acct#unique#notification_endpoint#<protocol>:<endpoint>`) keeps one subscription per
endpoint and account, because SNS itself keeps one subscription per (topic, protocol, endpoint).

Crash points of `create` (docs/DATA-MODEL.md, "Notification subscriptions"): (1) sns:CreateTopic —
SNS answers the existing topic's ARN to the same name and attributes, so a retry finds it; (2)
sns:Subscribe — SNS answers the same ARN to the same (endpoint, attributes), so a retry adopts the
subscription a crash left without a record; (3) the record + claim transaction — all or nothing.
Of `delete`: (1) sns:Unsubscribe — unsubscribing an ARN SNS no longer knows is a success; (2) the
record + claim delete. An account's topic is kept when its last subscription goes (an empty topic
costs nothing, and the next subscription finds it).
"""

from __future__ import annotations

import json
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from tally.clock import Clock
from tally.domain.notifications import NotificationSubscription, account_topic_arn
from tally.errors import InvalidRequest
from tally.settings import settings
from tally.store import aws, codec, errors
from tally.store.errors import raise_translated
from tally.store.event_log import sort_stamp
from tally.store.items import read_item
from tally.store.models import OBJECT_SK, ObjectItem, bind
from tally.store.transactions import connection

CLAIM = "notification_endpoint"
_NO_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "AccessDenied")


def _topic() -> str:
    arn = settings().notification_topic_arn
    if not arn:
        raise RuntimeError("NOTIFICATION_TOPIC_ARN is not set")
    return arn


def topic_of(account: str) -> str:
    """The ARN of the account's own topic (which may not exist yet)."""
    return account_topic_arn(_topic(), account)


# -- delivery -----------------------------------------------------------------------------------------
def publish(message: str, attributes: dict[str, str], account: str | None = None) -> str | None:
    """Publish one event (JSON text) to the stack's topic, or with `account` to that account's
    topic; returns SNS's MessageId, or None when the account has no topic (no subscription ever)."""
    from botocore.exceptions import ClientError

    try:
        answer = aws.sns().publish(
            TopicArn=_topic() if account is None else topic_of(account),
            Message=message,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
    except ClientError as exc:
        if account is not None and errors.code_of(exc) == "NotFound":
            return None
        raise
    return str(answer["MessageId"])


def enqueue_webhook(account: str, event_id: str) -> None:
    """Ask functions/webhooks to deliver `event_id` of `account` to its webhook endpoints."""
    url = settings().webhook_queue_url
    if not url:
        raise RuntimeError("WEBHOOK_QUEUE_URL is not set")
    body = json.dumps({"account": account, "event": event_id}, separators=(",", ":"))
    aws.sqs().send_message(QueueUrl=url, MessageBody=body)


# -- subscriptions --------------------------------------------------------------------------------------
def create_topic(account: str) -> str:
    """Create (or find: SNS answers the standing topic to the same name and attributes) the
    account's topic; returns its ARN. Encrypted with the stack's notification key when set."""
    attributes = {"DisplayName": "Tally"}
    if settings().notification_key:
        attributes["KmsMasterKeyId"] = str(settings().notification_key)
    name = topic_of(account).rsplit(":", 1)[1]
    from botocore.exceptions import ClientError

    try:
        answer = aws.sns().create_topic(Name=name, Attributes=attributes)
    except ClientError as exc:
        raise errors.translate(exc) from exc
    return str(answer["TopicArn"])


def queue_policy(queue_arn: str) -> str | None:
    """The access policy of an SQS queue (JSON text), None when it has none; NotFound when the
    queue does not exist or Tally may not read it."""
    from botocore.exceptions import ClientError

    _, _, _, _, owner, name = queue_arn.split(":", 5)
    try:
        url = aws.sqs().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=owner)["QueueUrl"]
        answer = aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
    except ClientError as exc:
        if errors.code_of(exc) not in _NO_QUEUE:
            raise errors.translate(exc) from exc
        raise InvalidRequest(
            f"No such queue, or Tally may not read its policy: {queue_arn}",
            code="parameter_invalid",
            param="endpoint",
        ) from exc
    policy = answer.get("Attributes", {}).get("Policy")
    return str(policy) if policy else None


def subscribe(topic: str, protocol: str, endpoint: str, policy: dict[str, Any]) -> str:
    """Create (or find, SNS being idempotent) the SNS subscription on `topic`; returns its ARN.
    An endpoint that SNS already holds on that topic with another filter policy is refused (400)."""
    from botocore.exceptions import ClientError

    try:
        answer = aws.sns().subscribe(
            TopicArn=topic,
            Protocol=protocol,
            Endpoint=endpoint,
            Attributes={"FilterPolicyScope": "MessageAttributes", "FilterPolicy": json.dumps(policy)},
            ReturnSubscriptionArn=True,
        )
    except ClientError as exc:
        if errors.code_of(exc) == "InvalidParameter":
            raise InvalidRequest(
                "SNS refused this endpoint: it cannot be subscribed, or it is already subscribed to "
                "this account's topic with other settings.",
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
