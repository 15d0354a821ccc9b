"""Notifications: who hears of an account's events through SNS, and what each message carries.
Pure: the account's topic, the filter policy a subscription gets, the message attributes an event
gets, which endpoints are acceptable, and whether a queue's policy names the account's topic.

Each account has its own topic (`account_topic_arn`), so SNS's rule of one subscription per
(topic, protocol, endpoint) binds an endpoint within one account only: another account cannot hold
it. Each message also carries the account as a message attribute, and every subscription's filter
policy names exactly one account (SNS drops a message whose attributes the policy does not match).
Threat model: docs/API.md, "Notifications".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from tally.domain.webhooks import url_problem
from tally.errors import invalid

PROTOCOLS = ("email", "https", "sqs")
MAX_EVENT_TYPES = 20  # SNS allows 150 value combinations per policy; 20 types x 1 account x 1 customer
EVENT_TYPE_MAX = 100
ENDPOINT_MAX = 2048
ALL = "*"
# SNS refuses a message over 256 KiB (body and attributes); a larger event goes out thin.
MAX_MESSAGE_BYTES = 256 * 1024 - 4 * 1024

_EMAIL = re.compile(
    r"[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+"
)
_EVENT_TYPE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?|\*")
_SQS_ARN = re.compile(r"arn:(aws[a-z-]*):sqs:([a-z0-9-]+):([0-9]{12}):([A-Za-z0-9_-]{1,80})")


@dataclass(frozen=True)
class NotificationSubscription:
    """An account's subscription to its events on the notification topic (a Tally extension)."""

    OBJECT: ClassVar[str] = "notification_subscription"

    id: str
    created: int
    protocol: str
    endpoint: str
    event_types: tuple[str, ...]
    customer: str | None = None
    subscription_arn: str = ""  # the SNS subscription: `<topic ARN>:<id>`

    @property
    def topic(self) -> str:
        """The ARN of the topic SNS delivers from: the account's own (or, for a subscription made
        before accounts had their own topics, the stack's)."""
        return self.subscription_arn.rsplit(":", 1)[0] if self.subscription_arn.startswith("arn:") else ""


def check_event_types(types: list[str] | None, param: str = "event_types") -> tuple[str, ...]:
    """Distinct event types, each exact (`invoice.paid`), a prefix (`invoice.*`) or `*` (all)."""
    if not types:
        raise invalid(
            param, f"`{param}` must name at least one event type, or `*` for all.", "parameter_missing"
        )
    if len(types) > MAX_EVENT_TYPES:
        raise invalid(param, f"`{param}` takes at most {MAX_EVENT_TYPES} event types.")
    for n, value in enumerate(types):
        if len(value) > EVENT_TYPE_MAX or not _EVENT_TYPE.fullmatch(value):
            raise invalid(
                f"{param}[{n}]",
                f"Invalid event type: {value[:100]!r}. Use `invoice.paid`, `invoice.*` or `*`.",
            )
    return tuple(dict.fromkeys(types))


def check_endpoint(
    protocol: str,
    endpoint: str,
    *,
    region: str,
    aws_account: str | None,
    allow_local_http: bool,
    stack: str | None = None,
) -> str:
    """The endpoint if `protocol` can deliver to it; raises InvalidRequest naming `endpoint`.
    `https`: the webhook URL rules (`domain.webhooks.url_problem`: no private, loopback or
    link-local address, however written). `sqs`: a queue ARN in Tally's AWS account and region whose
    name is not one of the stack's own queues (`stack`: CloudFormation names them `<stack>-…`)."""
    if protocol == "email":
        if not _EMAIL.fullmatch(endpoint) or len(endpoint) > 254:
            raise invalid("endpoint", "Invalid email address for an `email` subscription.")
        return endpoint
    if protocol == "https":
        problem = url_problem(endpoint, local=allow_local_http)
        if problem == "must use https":
            raise invalid("endpoint", "An `https` subscription needs an https:// URL.")
        if problem:
            raise invalid("endpoint", f"Invalid URL for an `https` subscription: it {problem}.")
        return endpoint
    found = _SQS_ARN.fullmatch(endpoint)
    if not found:
        raise invalid(
            "endpoint", "An `sqs` subscription needs a queue ARN (arn:aws:sqs:<region>:<account>:<name>)."
        )
    if found.group(2) != region or (aws_account is not None and found.group(3) != aws_account):
        raise invalid("endpoint", "The queue must be in the same AWS account and region as Tally.")
    if stack and found.group(4).startswith(f"{stack}-"):
        raise invalid("endpoint", "This queue belongs to Tally itself: subscribe a queue of your own.")
    return endpoint


def account_topic_arn(stack_topic_arn: str, account: str) -> str:
    """The account's own notification topic: the stack's topic name followed by `-<account>`
    (deterministic, so a retry finds it, and so the dispatcher needs no lookup)."""
    return f"{stack_topic_arn}-{account}"


_SEND_ACTIONS = ("sqs:sendmessage", "sqs:*", "*")
_SOURCE_ARN_TESTS = ("ArnEquals", "StringEquals", "ArnLike", "StringLike")


def queue_grants_topic(policy: str | None, topic_arn: str) -> bool:
    """Whether a queue's access policy (JSON text) names `topic_arn` exactly: an Allow statement
    for the SNS service principal, sqs:SendMessage, and an `aws:SourceArn` condition equal to the
    topic (a wildcard or `aws:SourceAccount` grants every topic, so it proves nothing). This is
    how the queue's owner says which account's topic may write to it."""
    try:
        document = json.loads(policy or "")
    except ValueError:
        return False
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    return isinstance(statements, list) and any(_grants(s, topic_arn) for s in statements)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(statement: Any, topic_arn: str) -> bool:
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal")
    # SNS's service principal, or anyone (older AWS examples): the SourceArn condition decides
    services = (
        _as_list(principal.get("Service")) + _as_list(principal.get("AWS"))
        if isinstance(principal, dict)
        else []
    )
    if principal != "*" and "sns.amazonaws.com" not in services and "*" not in services:
        return False
    actions = [a.lower() for a in _as_list(statement.get("Action")) if isinstance(a, str)]  # IAM: any case
    if not any(a in _SEND_ACTIONS for a in actions):
        return False
    conditions = statement.get("Condition")
    if not isinstance(conditions, dict):
        return False
    for test, block in conditions.items():
        if test not in _SOURCE_ARN_TESTS or not isinstance(block, dict):
            continue
        for key, values in block.items():
            if key.lower() == "aws:sourcearn" and topic_arn in _as_list(values):
                return True
    return False


def filter_policy(account: str, event_types: tuple[str, ...], customer: str | None) -> dict[str, Any]:
    """The SNS filter policy (scope: message attributes) of a subscription: always its account."""
    policy: dict[str, Any] = {"account": [account]}
    if ALL not in event_types:
        policy["event_type"] = [{"prefix": t[:-1]} if t.endswith(".*") else t for t in event_types]
    if customer is not None:
        policy["customer"] = [customer]
    return policy


def message_attributes(account: str, event: dict[str, Any]) -> dict[str, str]:
    """What subscribers filter on: account, event type, and the customer and meter it concerns."""
    attributes = {"account": account, "event_type": str(event.get("type", ""))}
    obj = (event.get("data") or {}).get("object") or {}
    customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if isinstance(customer, str) and customer:
        attributes["customer"] = customer
    meter = obj.get("id") if obj.get("object") == "billing.meter" else obj.get("meter")
    if not isinstance(meter, str):  # an alert (billing.alert, or the alert of billing.alert_triggered)
        nested = obj.get("alert")
        alert: dict[str, Any] = nested if isinstance(nested, dict) else obj
        threshold = alert.get("usage_threshold")
        meter = threshold.get("meter") if isinstance(threshold, dict) else None
    if not isinstance(meter, str) and isinstance(obj.get("recurring"), dict):  # a metered price
        meter = obj["recurring"].get("meter")
    if isinstance(meter, str) and meter:
        attributes["meter"] = meter
    return attributes


def thin(event: dict[str, Any]) -> dict[str, Any]:
    """An event too large for SNS, without its `data` (read it at GET /v1/events/{id})."""
    return {k: v for k, v in event.items() if k != "data"} | {"data": None, "tally_thin": True}
