"""The event log: one `evt_…` entry per change, written in the change's own transaction.

Entries are Stripe event objects (`data.object` is the object as the API presents it) kept 30
days. They are the transactional outbox later delivery reads.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from tally.clock import Clock
from tally.context import current_request
from tally.ids import new_id
from tally.settings import settings
from tally.store import filters
from tally.store.items import read_item
from tally.store.models import OBJECT_SK, ObjectItem

if TYPE_CHECKING:
    from pynamodb.transactions import TransactWrite

    from tally.store.changes import Change

from tally.domain.api_version import API_VERSION

RETENTION_SECONDS = 30 * 24 * 3600
KIND = "event"

_stamp_lock = threading.Lock()
STAMP_SLACK_MS = 500  # within this, a stamp may run ahead of its clock to keep order
_last_stamp = 0


def sort_stamp(clock: Clock) -> int:
    """Milliseconds for list order, strictly increasing within a process while clocks agree: two
    writes of one request (a product then its price, an object then its event) list in the order
    made. A clock far behind the last stamp (a flow run at another instant, later a test clock)
    starts from its own time again, so a stamp never runs ahead of `created` by more than
    STAMP_SLACK_MS and `created` filters on the sort key stay right."""
    global _last_stamp
    with _stamp_lock:
        ms = clock.millis
        if _last_stamp < ms or _last_stamp - ms >= STAMP_SLACK_MS:
            _last_stamp = ms
        else:
            _last_stamp += 1
        return _last_stamp


def entry(account: str, change: Change, clock: Clock) -> ObjectItem:
    """The event-log item recording `change` (saved by the caller in the same transaction)."""
    request = current_request.get()
    event_id = new_id("evt")
    body: dict[str, Any] = {
        "id": event_id,
        "object": KIND,
        "api_version": API_VERSION,
        "created": clock.now,
        "data": {"object": change.event_object},
        "livemode": settings().livemode,
        "pending_webhooks": 0,
        "request": {"id": request.request_id, "idempotency_key": request.idempotency_key},
        "type": change.event_type,
    }
    if change.previous_attributes is not None:
        body["data"]["previous_attributes"] = change.previous_attributes
    if change.related_object is not None:  # a thin event: what it is about, not a snapshot
        body["related_object"] = change.related_object
        body["data"].update(change.thin_data.get(str(change.event_type), {}))
    return item(account, body, sort_stamp(clock))


def save(tx: TransactWrite, account: str, change: Change, clock: Clock) -> None:
    """Add the event recording `change`, and its filter entries, to the change's transaction."""
    event = entry(account, change, clock)
    for each in items_of(account, event):
        tx.save(each)


def item(account: str, body: dict[str, Any], sort_ms: int) -> ObjectItem:
    """The stored item of the event `body` (listed at `sort_ms`, kept RETENTION_SECONDS)."""
    stored = ObjectItem(
        pk=ObjectItem.object_key(account, body["id"]),
        sk=OBJECT_SK,
        lpk=ObjectItem.list_key(account, KIND),
        lsk=ObjectItem.list_sort(sort_ms, body["id"]),
        kind=KIND,
        expires=body["created"] + RETENTION_SECONDS,
    )
    # Raw UTF-8 (not \u escapes: 4 bytes, not 12, for an emoji), compressed when large.
    stored.set_body(json.dumps(body, separators=(",", ":"), ensure_ascii=False))
    return stored


def items(account: str, body: dict[str, Any], sort_ms: int) -> list[ObjectItem]:
    """Every item stored for one event: the entry itself and its filter entries."""
    return items_of(account, item(account, body, sort_ms))


def items_of(account: str, event: ObjectItem) -> list[ObjectItem]:
    body = json.loads(str(event.text))
    found = filters.of_event_type(body["type"])
    return [event, *filters.entries(account, KIND, body["id"], str(event.lsk), found, event.expires)]


def load(account: str, event_id: str, clock: Clock) -> dict[str, Any]:
    """One event; NotFound (404) when absent or past the retention window."""
    return json.loads(str(read_item(account, event_id, KIND, clock).text))
