"""The Stripe `billing.meter_event`, `billing.meter_event_adjustment` and v2 meter-event objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tally.domain.records import MeterEvent


def meter_event(e: MeterEvent) -> dict[str, Any]:
    return {
        "object": "billing.meter_event",
        "created": e.created,
        "event_name": e.event_name,
        "identifier": e.identifier,
        "livemode": e.livemode,
        "payload": e.payload,
        "timestamp": e.timestamp,
    }


def stream_result(
    accepted: int, duplicates: list[tuple[int, MeterEvent, MeterEvent]], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    """The v2 stream's answer: how many were stored, each duplicate (index, identifier, the event
    that stands for it), and each rejected event."""
    return {
        "object": "v2.billing.meter_event_stream.result",
        "accepted": accepted,
        "duplicates": [
            {"index": index, "identifier": e.identifier, "standing": meter_event(standing)}
            for index, e, standing in duplicates
        ],
        "errors": errors,
    }


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def session(session_id: str, token: str, created: float, expires_at: float, livemode: bool) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "v2.billing.meter_event_session",
        "authentication_token": token,
        "created": rfc3339(created),
        "expires_at": rfc3339(expires_at),
        "livemode": livemode,
    }


def v2_meter_event(e: MeterEvent) -> dict[str, Any]:
    """Stripe's `v2.billing.meter_event`: v1's fields, times as RFC 3339 strings, no id."""
    return {
        "object": "v2.billing.meter_event",
        "created": rfc3339(e.created),
        "event_name": e.event_name,
        "identifier": e.identifier,
        "livemode": e.livemode,
        "payload": e.payload,
        "timestamp": rfc3339(e.timestamp),
    }


def v2_adjustment(
    adjustment_id: str, event_name: str, identifier: str, created: float, livemode: bool
) -> dict[str, Any]:
    return {
        "id": adjustment_id,
        "object": "v2.billing.meter_event_adjustment",
        "cancel": {"identifier": identifier},
        "created": rfc3339(created),
        "event_name": event_name,
        "livemode": livemode,
        "status": "complete",
        "type": "cancel",
    }


def adjustment(event_name: str, identifier: str, livemode: bool) -> dict[str, Any]:
    return {
        "object": "billing.meter_event_adjustment",
        "cancel": {"identifier": identifier},
        "event_name": event_name,
        "livemode": livemode,
        "status": "complete",
        "type": "cancel",
    }
