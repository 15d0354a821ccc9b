"""Stripe objects in DynamoDB, each change written together with its event (the outbox).

Every create/update/delete is one TransactWriteItems: the object, any uniqueness claims, and
the `evt_…` event-log record. A change without its event, or an event without its change,
cannot exist. Conditional checks turn races into clean domain errors.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import GetError, PutError, QueryError, TransactWriteError
from pynamodb.transactions import TransactWrite

from tally.context import current_request
from tally.errors import Conflict, NotFound, RateLimited, StripeError
from tally.ids import new_id
from tally.settings import settings
from tally.store.models import OBJECT_SK, ObjectItem, bind

API_VERSION = "2025-09-30.clover"
EVENT_RETENTION_SECONDS = 30 * 24 * 3600
_THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}


@dataclass
class Unique:
    """A claim that `value` of `kind` belongs to one object, enforced by a conditional put."""

    kind: str
    value: str
    error: StripeError
    data: dict[str, Any] | None = None  # kept on the claim: what a reader needs without the owner


def previous_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Stripe's `data.previous_attributes`: the old value of every field the change altered."""
    return {k: before.get(k) for k in after if after[k] != before.get(k)}


@dataclass
class Change:
    """What one write does: the object after the change and what to claim or release."""

    obj: dict[str, Any]
    event_type: str
    previous_attributes: dict[str, Any] | None = None
    claim: list[Unique] = field(default_factory=list)
    release: list[tuple[str, str]] = field(default_factory=list)


_connections: dict[tuple[str, str | None], Connection] = {}
_stamp_lock = threading.Lock()
_last_stamp = 0


def _sort_stamp(now: float) -> int:
    """Milliseconds for list order, strictly increasing within a process: two writes of one
    request (a product then its price, an object then its event) list in the order made."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(int(now * 1000), _last_stamp + 1)
        return _last_stamp


def _connection() -> Connection:
    """One PynamoDB connection per (region, endpoint), reused: a new one costs a botocore client."""
    s = settings()
    key = (s.region, s.endpoint_url)
    if key not in _connections:
        _connections[key] = Connection(region=s.region, host=s.endpoint_url)
    return _connections[key]


def _event(account: str, change: Change, now: float) -> ObjectItem:
    request = current_request.get()
    event_id = new_id("evt")
    created = int(now)
    body: dict[str, Any] = {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": change.obj},
        "livemode": settings().livemode,
        "pending_webhooks": 0,
        "request": {"id": request.request_id, "idempotency_key": request.idempotency_key},
        "type": change.event_type,
    }
    if change.previous_attributes is not None:
        body["data"]["previous_attributes"] = change.previous_attributes
    return ObjectItem(
        pk=ObjectItem.object_key(account, event_id),
        sk=OBJECT_SK,
        lpk=ObjectItem.list_key(account, "event"),
        lsk=ObjectItem.list_sort(_sort_stamp(now), event_id),
        kind="event",
        body=json.dumps(body, separators=(",", ":")),
        expires=created + EVENT_RETENTION_SECONDS,
    )


def _run(write: Callable[[TransactWrite], None], uniques: list[Unique]) -> None:
    """Run one transaction; map cancellations to the failing claim's error, or a 409."""
    bind()
    try:
        with TransactWrite(connection=_connection()) as tx:
            write(tx)
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        for i, reason in enumerate(reasons):
            if reason is not None and reason.code == "ConditionalCheckFailed" and i < len(uniques):
                raise uniques[i].error from exc
        if exc.cause_response_code in _THROTTLED or any(
            r is not None and r.code in ("ThrottlingError", "TransactionConflict") for r in reasons
        ):
            raise Conflict("Another request changed this object at the same time; retry.") from exc
        if any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons):
            raise Conflict("This object was changed by another request; retry.") from exc
        raise


def _object_item(account: str, obj: dict[str, Any], created_ms: int, version: int) -> ObjectItem:
    sort = ObjectItem.list_sort(created_ms, obj["id"])
    customer = obj.get("customer") if obj["object"] != "customer" else None
    owned = isinstance(customer, str)
    return ObjectItem(
        pk=ObjectItem.object_key(account, obj["id"]),
        sk=OBJECT_SK,
        lpk=ObjectItem.list_key(account, obj["object"]),
        lsk=sort,
        # Objects that belong to a customer (subscriptions) are also listed per customer.
        cpk=ObjectItem.customer_list_key(account, str(customer), obj["object"]) if owned else None,
        csk=sort if owned else None,
        kind=obj["object"],
        body=json.dumps(obj, separators=(",", ":")),
        version=version,
    )


def _claim_item(account: str, claim: Unique, owner: str) -> ObjectItem:
    return ObjectItem(
        pk=ObjectItem.unique_key(account, claim.kind, claim.value),
        owner=owner,
        body=json.dumps(claim.data, separators=(",", ":")) if claim.data is not None else None,
    )


def create(account: str, change: Change, now: float | None = None) -> dict[str, Any]:
    """Store a new object and its event atomically. Raises a claim's error if its value is taken."""
    now = time.time() if now is None else now
    obj = change.obj

    def write(tx: TransactWrite) -> None:
        for claim in change.claim:
            tx.save(_claim_item(account, claim, obj["id"]), condition=ObjectItem.pk.does_not_exist())
        tx.save(_object_item(account, obj, _sort_stamp(now), 1), condition=ObjectItem.pk.does_not_exist())
        tx.save(_event(account, change, now))

    _run(write, change.claim)
    return obj


@dataclass
class Stored:
    obj: dict[str, Any]
    version: int
    created_ms: int


_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


def load(account: str, object_id: str, kind: str, *, label: str | None = None, param: str = "id") -> Stored:
    """Read one object of `kind`; raises NotFound (404) if absent or of another kind/account."""
    if not isinstance(object_id, str) or not _ID.fullmatch(object_id):
        # No id of ours looks like this (too long for a key, or `#`, `/`, spaces…): not found.
        raise NotFound(label or kind, str(object_id)[:100], param=param)
    bind()
    try:
        item = ObjectItem.get(ObjectItem.object_key(account, object_id), OBJECT_SK, consistent_read=True)
    except ObjectItem.DoesNotExist:
        raise NotFound(label or kind, object_id, param=param) from None
    except GetError as exc:
        _raise_throttled(exc)
        raise
    if item.kind != kind or item.body is None:
        raise NotFound(label or kind, object_id, param=param)
    if item.expires is not None and item.expires <= time.time():
        raise NotFound(label or kind, object_id, param=param)  # past retention (TTL deletes lazily)
    created_ms = int((item.lsk or "0#").split("#")[0])
    return Stored(json.loads(item.body), int(item.version), created_ms)


def get(account: str, object_id: str, kind: str, *, label: str | None = None, param: str = "id") -> dict:
    return load(account, object_id, kind, label=label, param=param).obj


def update(account: str, stored: Stored, change: Change, now: float | None = None) -> dict[str, Any]:
    """Replace an object if nobody changed it since `stored` was read (optimistic lock)."""
    now = time.time() if now is None else now

    def write(tx: TransactWrite) -> None:
        for claim in change.claim:
            tx.save(
                ObjectItem(
                    pk=ObjectItem.unique_key(account, claim.kind, claim.value), owner=change.obj["id"]
                ),
                condition=ObjectItem.pk.does_not_exist(),
            )
        for kind, value in change.release:
            tx.delete(ObjectItem(pk=ObjectItem.unique_key(account, kind, value), sk=OBJECT_SK))
        tx.save(
            _object_item(account, change.obj, stored.created_ms, stored.version + 1),
            condition=ObjectItem.version == stored.version,
        )
        tx.save(_event(account, change, now))

    _run(write, change.claim)
    return change.obj


def delete(account: str, stored: Stored, change: Change, now: float | None = None) -> None:
    """Delete an object (and release its claims) with its `*.deleted` event."""
    now = time.time() if now is None else now

    def write(tx: TransactWrite) -> None:
        for kind, value in change.release:
            tx.delete(ObjectItem(pk=ObjectItem.unique_key(account, kind, value), sk=OBJECT_SK))
        tx.delete(
            ObjectItem(pk=ObjectItem.object_key(account, change.obj["id"]), sk=OBJECT_SK),
            condition=ObjectItem.version == stored.version,
        )
        tx.save(_event(account, change, now))

    _run(write, [])


def owner_of(account: str, kind: str, value: str) -> str | None:
    """The id of the object holding a uniqueness claim, if any."""
    found = claim_of(account, kind, value)
    return found[0] if found else None


def claim_of(account: str, kind: str, value: str) -> tuple[str, dict[str, Any] | None] | None:
    """(owner id, the data kept on the claim) of a uniqueness claim, if any."""
    bind()
    try:
        item = ObjectItem.get(ObjectItem.unique_key(account, kind, value), OBJECT_SK, consistent_read=True)
    except ObjectItem.DoesNotExist:
        return None
    except GetError as exc:
        _raise_throttled(exc)
        raise
    return str(item.owner), json.loads(item.body) if item.body else None


@dataclass
class Window:
    """Which page of a list: Stripe's cursors, limit and created range."""

    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None
    created_gte: int | None = None
    created_lte: int | None = None


@dataclass
class Page:
    data: list[dict[str, Any]]
    has_more: bool


def list_objects(
    account: str,
    kind: str,
    window: Window | None = None,
    *,
    where: Callable[[dict[str, Any]], bool] | None = None,
    label: str | None = None,
    customer: str | None = None,
) -> Page:
    """One page of an account's objects of `kind`, newest first, Stripe cursor semantics.

    With `customer`, only that customer's objects are read (the `by_customer` index).
    """
    w = window or Window()
    limit, starting_after, ending_before = w.limit, w.starting_after, w.ending_before
    created_gte, created_lte = w.created_gte, w.created_lte
    bind()
    low = ObjectItem.list_sort(created_gte * 1000, "") if created_gte is not None else "0"
    high = ObjectItem.list_sort(created_lte * 1000 + 999, "~") if created_lte is not None else "~"
    forward = False
    cursor_id = starting_after or ending_before
    if cursor_id:
        cursor = load(
            account,
            cursor_id,
            kind,
            label=label,
            param="starting_after" if starting_after else "ending_before",
        )
        cursor_sort = ObjectItem.list_sort(cursor.created_ms, cursor_id)
        if starting_after:
            high = min(high, cursor_sort)
        else:
            low, forward = max(low, cursor_sort), True
    results: list[dict[str, Any]] = []
    try:
        index, hash_key, range_attr = (
            (ObjectItem.by_type, ObjectItem.list_key(account, kind), ObjectItem.lsk)
            if customer is None
            else (
                ObjectItem.by_customer,
                ObjectItem.customer_list_key(account, customer, kind),
                ObjectItem.csk,
            )
        )
        for item in index.query(
            hash_key,
            range_attr.between(low, high),
            scan_index_forward=forward,
            page_size=max(limit + 1, 25),
        ):
            if item.pk == ObjectItem.object_key(account, cursor_id or "") or item.body is None:
                continue
            if item.expires is not None and item.expires <= time.time():
                continue  # TTL deletion is lazy (and never happens in moto): hide expired items
            obj = json.loads(item.body)
            if where is None or where(obj):
                results.append(obj)
                if len(results) > limit:
                    break
    except QueryError as exc:
        _raise_throttled(exc)
        raise
    has_more = len(results) > limit
    results = results[:limit]
    if forward:
        results.reverse()
    return Page(results, has_more)


def _raise_throttled(exc: Exception) -> None:
    code = getattr(exc, "cause_response_code", None)
    if code in _THROTTLED:
        raise RateLimited() from exc


def put_api_key(account: str, key_hash: str, created: int, expires: int | None = None) -> None:
    """Store an API key's (or session token's) hash for an account; the secret itself is never stored."""
    bind()
    try:
        ObjectItem(
            pk=ObjectItem.api_key_key(account, key_hash),
            kind="api_key" if expires is None else "session",
            owner=account,
            version=created,
            expires=expires,
        ).save()
    except PutError as exc:
        _raise_throttled(exc)
        raise


def api_key_exists(account: str, key_hash: str, now: float | None = None) -> bool:
    """Whether the hash is stored under the account (and, for sessions, not yet expired)."""
    bind()
    try:
        item = ObjectItem.get(ObjectItem.api_key_key(account, key_hash), OBJECT_SK)
    except ObjectItem.DoesNotExist:
        return False
    if item.expires is not None:
        return item.expires > (time.time() if now is None else now)
    return True
