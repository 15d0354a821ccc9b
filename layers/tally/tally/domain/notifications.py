"""Notifications: who hears of an account's events through the notification topic (SNS), and what
each message carries. Pure: the filter policy a subscription gets, the message attributes an event
gets, and which endpoints are acceptable.

One topic serves every account. Each message carries the account as a message attribute, and
every subscription's filter policy names exactly one account, so a subscriber of account A never
receives account B's messages (SNS drops a message whose attributes the policy does not match).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

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
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}")
LOCAL_HOSTS = ("127.0.0.1", "localhost")


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
    subscription_arn: str = ""  # the SNS subscription (never shown: it names the topic)


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
    protocol: str, endpoint: str, *, region: str, aws_account: str | None, allow_local_http: bool
) -> str:
    """The endpoint if `protocol` can deliver to it; raises InvalidRequest naming `endpoint`."""
    if protocol == "email":
        if not _EMAIL.fullmatch(endpoint) or len(endpoint) > 254:
            raise invalid("endpoint", "Invalid email address for an `email` subscription.")
        return endpoint
    if protocol == "https":
        scheme, _, rest = endpoint.partition("://")
        host = rest.split("/", 1)[0].split("?", 1)[0]
        hostname = host.rsplit(":", 1)[0] if ":" in host else host
        local = allow_local_http and hostname in LOCAL_HOSTS
        if scheme not in ("https", "http") or (scheme == "http" and not local):
            raise invalid("endpoint", "An `https` subscription needs an https:// URL.")
        if not _HOST.fullmatch(hostname) or "@" in rest or any(c.isspace() or ord(c) < 32 for c in endpoint):
            raise invalid("endpoint", "Invalid URL for an `https` subscription.")
        return endpoint
    found = _SQS_ARN.fullmatch(endpoint)
    if not found:
        raise invalid(
            "endpoint", "An `sqs` subscription needs a queue ARN (arn:aws:sqs:<region>:<account>:<name>)."
        )
    if found.group(2) != region or (aws_account is not None and found.group(3) != aws_account):
        raise invalid("endpoint", "The queue must be in the same AWS account and region as Tally.")
    return endpoint


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
