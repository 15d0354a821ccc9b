"""The events that stand for identifiers already stored (what a duplicate is answered with)."""

from __future__ import annotations

import json
from typing import Any

from tally.domain.records import MeterEvent
from tally.settings import settings
from tally.store.aws import dynamodb
from tally.store.usage.keys import UsageKeys, event_key
from tally.store.usage.stats import STATS

BATCH_GET = 100


def event_of(item: dict[str, Any], payload: bool = True) -> MeterEvent:
    """The event an identifier item holds (without its payload when `payload` is False)."""
    return MeterEvent(
        identifier=UsageKeys.identifier(item["pk"]["S"]),
        event_name=item["event_name"]["S"],
        meter_id=item["meter"]["S"],
        customer=item["customer"]["S"],
        value=int(item["value"]["N"]),
        timestamp=int(item["ts"]["N"]),
        payload=json.loads(item["payload"]["S"]) if payload else {},
        created=int(item["created"]["N"]),
        livemode=settings().livemode,
        received=int(item["received"]["N"]) if "received" in item else None,
        request=item["rq"]["S"] if "rq" in item else None,
    )


def standing(account: str, identifiers: list[str]) -> dict[str, MeterEvent]:
    """The stored event of each identifier found (consistent reads, 100 per request)."""
    out: dict[str, MeterEvent] = {}
    table = settings().usage_table
    for i in range(0, len(identifiers), BATCH_GET):
        keys = [event_key(account, ident) for ident in identifiers[i : i + BATCH_GET]]
        STATS.requests += 1
        resp = dynamodb().batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
        for item in resp.get("Responses", {}).get(table, []):
            event = event_of(item)
            out[event.identifier] = event
    return out
