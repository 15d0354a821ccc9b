"""The Stripe `webhook_endpoint` object, and Tally's delivery attempts of one."""

from __future__ import annotations

from typing import Any

from tally.domain.webhooks import Attempt, WebhookEndpoint


def endpoint(e: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    """The endpoint as Stripe shows it; `secret` only in the create answer."""
    shown: dict[str, Any] = {
        "id": e.id,
        "object": e.OBJECT,
        "api_version": e.api_version,
        "application": None,
        "created": e.created,
        "description": e.description,
        "enabled_events": list(e.enabled_events),
        "livemode": e.livemode,
        "metadata": dict(e.metadata),
        "status": e.status,
        "url": e.url,
    }
    if secret is not None:
        shown["secret"] = secret
    return shown


def deleted(endpoint_id: str) -> dict[str, Any]:
    return {"id": endpoint_id, "object": WebhookEndpoint.OBJECT, "deleted": True}


def attempt(a: Attempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "object": a.OBJECT,
        "attempt": a.attempt,
        "created": a.created,
        "duration_ms": a.duration_ms,
        "error": a.error,
        "event": a.event,
        "event_type": a.event_type,
        "next_retry": a.next_retry,
        "status_code": a.status_code,
        "succeeded": a.succeeded,
        "webhook_endpoint": a.endpoint,
    }
