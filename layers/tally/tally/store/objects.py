"""The object store: Stripe objects kept as typed records, each change written with its event.

Every change is one TransactWriteItems: the record, any uniqueness claims, and the `evt_…`
event-log entry (`tally.store.event_log`). A change without its event, or an event without its
change, cannot exist. Conditional checks turn races into clean domain errors
(`tally.store.errors`). Records are encoded by `tally.store.codec`; every key starts with the
account id (`tally.store.models`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import GetError, TransactWriteError
from pynamodb.transactions import TransactWrite

from tally.clock import Clock
from tally.errors import NotFound, StripeError
from tally.settings import settings
from tally.store import codec, event_log, filters
from tally.store.errors import raise_translated
from tally.store.models import OBJECT_SK, ObjectItem, bind


class Record(Protocol):
    OBJECT: Any  # ClassVar[str] on every record
    id: str


R = TypeVar("R", bound=Record)


@dataclass
class Unique:
    """A claim that `value` of `kind` belongs to one object, enforced by a conditional put."""

    kind: str
    value: str
    error: StripeError
    data: dict[str, Any] | None = None  # kept on the claim: what a reader needs without the owner


@dataclass
class Change:
    """What one write does: the record after it, the event it records, what to claim or release.

    `event_object` is the Stripe object the event carries (`data.object`), presented by the
    caller; `previous_attributes` is Stripe's `data.previous_attributes` for updates.
    """

    record: Any
    event_type: str
    event_object: dict[str, Any]
    previous_attributes: dict[str, Any] | None = None
    claim: list[Unique] = field(default_factory=list)
    release: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Stored(Generic[R]):
    record: R
    version: int
    created_ms: int


_connections: dict[tuple[str, str | None], Connection] = {}
_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


def connection() -> Connection:
    """One PynamoDB connection per (region, endpoint), reused: a new one costs a botocore client."""
    s = settings()
    key = (s.region, s.endpoint_url)
    if key not in _connections:
        _connections[key] = Connection(region=s.region, host=s.endpoint_url)
    return _connections[key]


def _run(write: Callable[[TransactWrite], None], uniques: list[Unique]) -> None:
    """Run one transaction; a failed claim raises its own error, other races a 409."""
    bind()
    tx = TransactWrite(connection=connection())
    try:
        with tx:
            write(tx)
    except TransactWriteError as exc:
        # PynamoDB sends condition checks and deletes (releases, stale filter entries) before puts,
        # whatever the order they were added in; the claims are the first puts.
        ahead = len(tx._condition_check_items) + len(tx._delete_items)
        raise_translated(exc, [None] * ahead + [u.error for u in uniques], transaction=True)


def _record_item(account: str, record: Any, created_ms: int, version: int) -> ObjectItem:
    sort = ObjectItem.list_sort(created_ms, record.id)
    customer = getattr(record, "customer", None) if record.OBJECT != "customer" else None
    owned = isinstance(customer, str)
    return ObjectItem(
        pk=ObjectItem.object_key(account, record.id),
        sk=OBJECT_SK,
        lpk=ObjectItem.list_key(account, record.OBJECT),
        lsk=sort,
        # Objects that belong to a customer (subscriptions) are also listed per customer.
        cpk=ObjectItem.customer_list_key(account, str(customer), record.OBJECT) if owned else None,
        csk=sort if owned else None,
        kind=record.OBJECT,
        body=codec.dumps(record),
        version=version,
    )


def record_items(account: str, record: Any, created_ms: int) -> list[ObjectItem]:
    """Every item stored for a new record (bulk loads): the record item and its filter entries."""
    item = _record_item(account, record, created_ms, 1)
    return [
        item,
        *filters.entries(account, record.OBJECT, record.id, str(item.lsk), filters.of_record(record)),
    ]


def _claim_item(account: str, claim: Unique, owner: str) -> ObjectItem:
    return ObjectItem(
        pk=ObjectItem.unique_key(account, claim.kind, claim.value),
        owner=owner,
        body=codec.dumps(claim.data) if claim.data is not None else None,
    )


def _claims_and_releases(tx: TransactWrite, account: str, change: Change) -> None:
    for claim in change.claim:  # first: a failed claim is found by its index
        tx.save(_claim_item(account, claim, change.record.id), condition=ObjectItem.pk.does_not_exist())
    for kind, value in change.release:
        tx.delete(ObjectItem(pk=ObjectItem.unique_key(account, kind, value), sk=OBJECT_SK))


def create(account: str, change: Change, clock: Clock) -> None:
    """Store a new record and its event atomically. Raises a claim's error if its value is taken."""

    def write(tx: TransactWrite) -> None:
        _claims_and_releases(tx, account, change)
        item = _record_item(account, change.record, event_log.sort_stamp(clock), 1)
        tx.save(item, condition=ObjectItem.pk.does_not_exist())
        filters.write(tx, account, change.record, str(item.lsk))
        event_log.save(tx, account, change, clock)

    _run(write, change.claim)


def read_item(
    account: str, object_id: str, kind: str, clock: Clock, *, label: str | None = None, param: str = "id"
) -> ObjectItem:
    """The item of one object of `kind`; raises NotFound (404) if absent, of another kind or
    account, or past its retention (TTL deletes lazily, and never in moto)."""
    if not isinstance(object_id, str) or not _ID.fullmatch(object_id):
        # No id of ours looks like this (too long for a key, or `#`, `/`, spaces…): not found.
        raise NotFound(label or kind, str(object_id)[:100], param=param)
    bind()
    try:
        item = ObjectItem.get(ObjectItem.object_key(account, object_id), OBJECT_SK, consistent_read=True)
    except ObjectItem.DoesNotExist:
        raise NotFound(label or kind, object_id, param=param) from None
    except GetError as exc:
        raise_translated(exc)
    if item.kind != kind or item.body is None or (item.expires is not None and item.expires <= clock.now):
        raise NotFound(label or kind, object_id, param=param)
    return item


def created_ms(item: ObjectItem) -> int:
    return int((item.lsk or "0#").split("#")[0])


def load(
    account: str, object_id: str, cls: type[R], clock: Clock, *, label: str | None = None, param: str = "id"
) -> Stored[R]:
    """Read one record of `cls`; raises NotFound (404) if absent or of another kind/account."""
    item = read_item(account, object_id, cls.OBJECT, clock, label=label, param=param)
    return Stored(codec.loads(cls, str(item.body)), int(item.version), created_ms(item))


def get(
    account: str, object_id: str, cls: type[R], clock: Clock, *, label: str | None = None, param: str = "id"
) -> R:
    return load(account, object_id, cls, clock, label=label, param=param).record


def update(account: str, stored: Stored[Any], change: Change, clock: Clock) -> None:
    """Replace a record if nobody changed it since `stored` was read (optimistic lock)."""

    def write(tx: TransactWrite) -> None:
        _claims_and_releases(tx, account, change)
        item = _record_item(account, change.record, stored.created_ms, stored.version + 1)
        tx.save(item, condition=ObjectItem.version == stored.version)
        filters.write(tx, account, change.record, str(item.lsk), stored.record)
        event_log.save(tx, account, change, clock)

    _run(write, change.claim)


def delete(account: str, stored: Stored[Any], change: Change, clock: Clock) -> None:
    """Delete a record (and release its claims) with its `*.deleted` event."""

    def write(tx: TransactWrite) -> None:
        _claims_and_releases(tx, account, change)
        tx.delete(
            ObjectItem(pk=ObjectItem.object_key(account, change.record.id), sk=OBJECT_SK),
            condition=ObjectItem.version == stored.version,
        )
        sort = ObjectItem.list_sort(stored.created_ms, change.record.id)
        filters.write(tx, account, change.record, sort, stored.record, deleted=True)
        event_log.save(tx, account, change, clock)

    _run(write, change.claim)
