"""The object store's record API: Stripe objects kept as typed records, read and written one at a
time.

`load`/`get` read a record (`tally.store.items`: NotFound when absent, of another kind or past
its retention); `create`/`update`/`delete` write one record with its event in one transaction
(`tally.store.transactions.commit`, which also writes several at once). What a change is made of
(claims, counters, guards) is `tally.store.changes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pynamodb.exceptions import GetError

from tally.clock import Clock
from tally.errors import NotFound
from tally.store import codec
from tally.store.changes import Change, R, Stored, Write
from tally.store.errors import raise_translated
from tally.store.items import checked, created_ms, possible, read_item
from tally.store.models import OBJECT_SK, ObjectItem, bind


def claimed(account: str, kind: str, values: Sequence[str]) -> set[str]:
    """Which of `values` (at most 100) hold a claim of `kind`: one BatchGetItem."""
    if not values:
        return set()
    bind()
    keys = [(ObjectItem.unique_key(account, kind, v), OBJECT_SK) for v in values]
    by_pk = {ObjectItem.unique_key(account, kind, v): v for v in values}
    try:
        found = {by_pk[item.pk] for item in ObjectItem.batch_get(keys, consistent_read=True)}
    except GetError as exc:
        raise_translated(exc)
    return found


def existing(account: str, object_ids: Sequence[str]) -> set[str]:
    """Which of `object_ids` are stored records (of any kind): consistent BatchGetItems of 100."""
    ids = sorted(set(object_ids))
    if not ids:
        return set()
    bind()
    by_pk = {ObjectItem.object_key(account, i): i for i in ids}
    try:
        found = {
            by_pk[item.pk]
            for item in ObjectItem.batch_get([(pk, OBJECT_SK) for pk in by_pk], consistent_read=True)
        }
    except GetError as exc:
        raise_translated(exc)
    return found


def read_many(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ObjectItem]:
    """The items stored at `keys` (pk, sk), by key; absent ones are left out. Consistent
    BatchGetItems: one per 100 keys (PynamoDB retries unprocessed keys)."""
    wanted = set(keys)
    if not wanted:
        return {}
    bind()
    try:
        found = {(str(i.pk), str(i.sk)): i for i in ObjectItem.batch_get(wanted, consistent_read=True)}
    except GetError as exc:
        raise_translated(exc)
    return found


def get_many(
    account: str, wanted: Sequence[tuple[str, type[Any], str | None]], clock: Clock
) -> dict[str, Any]:
    """The records of `wanted` (object id, class, NotFound label or None), by id, read in ONE
    consistent BatchGetItem (one per 100 keys) where `get` would make one GetItem each; raises the
    NotFound `get` raises for the first that is absent, of another kind or past its retention."""
    keys: dict[str, tuple[str, str]] = {}
    for object_id, cls, label in wanted:
        key = key_of(account, object_id)
        if key is None:
            raise NotFound(label or cls.OBJECT, str(object_id)[:100])
        keys[object_id] = key
    items = read_many(list(keys.values()))
    out: dict[str, Any] = {}
    for object_id, cls, label in wanted:
        if object_id not in out:
            item = checked(items.get(keys[object_id]), cls.OBJECT, object_id, clock, label=label)
            out[object_id] = codec.loads(cls, str(item.text))
    return out


def key_of(account: str, object_id: str) -> tuple[str, str] | None:
    """(pk, sk) of an object's item, for `read_many`; None for an id no object has."""
    return (ObjectItem.object_key(account, object_id), OBJECT_SK) if possible(object_id) else None


def record_of(item: ObjectItem | None, object_id: str, cls: type[R], clock: Clock) -> R | None:
    """The record of `cls` in `item` as read by `read_many` (None: absent, of another kind or
    past its retention), as `get` would return it."""
    try:
        found = checked(item, cls.OBJECT, object_id, clock)
    except NotFound:
        return None
    return codec.loads(cls, str(found.text))


def create(account: str, change: Change, clock: Clock) -> None:
    """Store a new record and its event atomically. Raises a claim's error if its value is taken."""
    from tally.store import transactions  # writes only: the ingest path reads objects (cold start)

    transactions.commit(account, [Write(change)], clock)


def update(account: str, stored: Stored[Any], change: Change, clock: Clock) -> None:
    """Replace a record if nobody changed it since `stored` was read (optimistic lock)."""
    from tally.store import transactions

    transactions.commit(account, [Write(change, stored)], clock)


def delete(account: str, stored: Stored[Any], change: Change, clock: Clock) -> None:
    """Delete a record (and release its claims) with its `*.deleted` event."""
    from tally.store import transactions

    transactions.commit(account, [Write(change, stored, delete=True)], clock)


def count(account: str, owner: str, kind: str) -> int:
    """How many objects of `kind` were ever created for `owner` (0 when none were)."""
    bind()
    key = ObjectItem.object_key(account, owner)
    try:
        item = ObjectItem.get(key, ObjectItem.counter_sk(kind), consistent_read=True)
    except ObjectItem.DoesNotExist:
        return 0
    except GetError as exc:
        raise_translated(exc)
    return int(item.version)


def load(
    account: str, object_id: str, cls: type[R], clock: Clock, *, label: str | None = None, param: str = "id"
) -> Stored[R]:
    """Read one record of `cls`; raises NotFound (404) if absent or of another kind/account."""
    item = read_item(account, object_id, cls.OBJECT, clock, label=label, param=param)
    return Stored(codec.loads(cls, str(item.text)), int(item.version), created_ms(item))


def get(
    account: str, object_id: str, cls: type[R], clock: Clock, *, label: str | None = None, param: str = "id"
) -> R:
    return load(account, object_id, cls, clock, label=label, param=param).record
