"""Notification subscriptions (a Tally extension): an account subscribes an email address, an
HTTPS URL or an SQS queue to its own events on its own notification topic.

Creating one creates the account's topic (once), subscribes the endpoint there with the account's
filter policy (`domain.notifications.filter_policy`: the account, the event types, optionally one
customer), then stores the record holding the SNS SubscriptionArn; deleting unsubscribes, then
deletes the record (crash points: `tally.store.notifications`).

Ownership (threat model: docs/API.md, "Notifications"): email and HTTPS endpoints confirm the
subscription (SNS sends them a confirmation naming the account's topic) before they receive
anything; an SQS queue must name the account's topic in its access policy, checked here before
subscribing (SNS would not deliver otherwise), and no queue of Tally's own stack is accepted.
Another account's subscription to the same endpoint is on another topic: it never blocks this one.
"""

from __future__ import annotations

from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain.listing import Page, Window
from tally.domain.notifications import (
    NotificationSubscription,
    check_endpoint,
    filter_policy,
    queue_grants_topic,
)
from tally.domain.records import Customer
from tally.errors import InvalidRequest
from tally.ids import new_id
from tally.settings import settings
from tally.store import lists, notifications


def _aws_account_and_region() -> tuple[str | None, str]:
    """The AWS account and region of the topic (an SQS endpoint must be in the same ones)."""
    parts = (settings().notification_topic_arn or "").split(":")
    return (parts[4] if len(parts) > 5 else None), settings().region


def create(
    account: str,
    protocol: str,
    endpoint: str,
    event_types: tuple[str, ...],
    customer: str | None,
    clock: Clock,
) -> NotificationSubscription:
    """Subscribe `endpoint`; 400 if it is invalid for `protocol`, already subscribed by this
    account, or `customer` is not one of the account's customers."""
    aws_account, region = _aws_account_and_region()
    endpoint = check_endpoint(
        protocol,
        endpoint,
        region=region,
        aws_account=aws_account,
        allow_local_http=settings().allow_local_http,
        stack=settings().stack_name,
    )
    topic = notifications.topic_of(account)
    if protocol == "sqs" and not queue_grants_topic(notifications.queue_policy(endpoint), topic):
        raise InvalidRequest(
            "The queue's access policy must let this account's topic send to it: an Allow statement "
            'for {"Service": "sns.amazonaws.com"}, action sqs:SendMessage, condition '
            f'{{"ArnEquals": {{"aws:SourceArn": "{topic}"}}}}.',
            code="parameter_invalid",
            param="endpoint",
        )
    if customer is not None:
        referenced(account, customer, Customer, "customer", clock)
    standing = notifications.holder(account, protocol, endpoint)
    if standing is not None:
        raise InvalidRequest(
            f"This account already subscribes this endpoint ({standing}); delete it first to change it.",
            code="resource_already_exists",
            param="endpoint",
        )
    notifications.create_topic(account)
    arn = notifications.subscribe(topic, protocol, endpoint, filter_policy(account, event_types, customer))
    record = NotificationSubscription(
        id=new_id("nsub"),
        created=clock.now,
        protocol=protocol,
        endpoint=endpoint,
        event_types=event_types,
        customer=customer,
        subscription_arn=arn,
    )
    notifications.save(account, record, clock)
    return record


def retrieve(account: str, subscription_id: str, clock: Clock) -> NotificationSubscription:
    return notifications.load(account, subscription_id, clock)


def list_(account: str, window: Window, clock: Clock) -> Page[NotificationSubscription]:
    return lists.list_records(
        account, NotificationSubscription, window, clock, label="notification subscription"
    )


def delete(account: str, subscription_id: str, clock: Clock) -> NotificationSubscription:
    record = notifications.load(account, subscription_id, clock)
    notifications.unsubscribe(record.subscription_arn)
    notifications.remove(account, record)
    return record
