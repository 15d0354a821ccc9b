"""The `notification_subscription` object (a Tally extension; docs/API.md, "Notifications")."""

from __future__ import annotations

from typing import Any

from tally.domain.notifications import NotificationSubscription


def subscription(s: NotificationSubscription, livemode: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "object": s.OBJECT,
        "created": s.created,
        "customer": s.customer,
        "endpoint": s.endpoint,
        "event_types": list(s.event_types),
        "livemode": livemode,
        "protocol": s.protocol,
        "topic": s.topic,  # the topic SNS delivers from: receivers check it (docs/API.md)
    }
    return out


def deleted(subscription_id: str) -> dict[str, Any]:
    return {"id": subscription_id, "object": NotificationSubscription.OBJECT, "deleted": True}
