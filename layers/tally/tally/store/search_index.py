"""The metadata index of searchable objects, written in the same transaction as the object.

One item per (object, metadata key, value):

    pk = acct#idx#<kind>#meta#<digest>    sk = <created ms, 15 digits>#<object id>   owner = id

`<digest>` is the SHA-256 (40 hex digits) of the key and the case-folded value, so the key stays
short whatever the metadata holds (values up to 500 characters of any script) and needs no
escaping. Querying one pk newest first lists the objects that carry that pair, in the order of
the `by_type` index. Entries are hints, not truth: the search reads each object and checks the
whole query against it, so a stale entry (or a digest collision) can never return a wrong object.

The transaction limit (100 actions): the entries go in the change's own transaction, after
everything else it writes, as far as room allows — Puts first, then Deletes. Deletes left out stay
as stale hints (filtered on read); Puts left out (only when one transaction writes several objects
with many metadata keys) are written right after the transaction (`write_after`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tally.store.models import ObjectItem

SEARCHABLE = frozenset({"customer", "product", "price", "subscription", "invoice"})


def metadata_key(account: str, kind: str, key: str, value: str) -> str:
    digest = hashlib.sha256(json.dumps([key, value.casefold()]).encode()).hexdigest()[:40]
    return f"{account}#idx#{kind}#meta#{digest}"


def _pairs(record: Any) -> set[tuple[str, str]]:
    if record is None or record.OBJECT not in SEARCHABLE:
        return set()
    return {(key, value.casefold()) for key, value in record.metadata.items()}


def write(
    tx: Any, account: str, change: Any, *, before: Any, sort: str, room: int, deleted: bool = False
) -> tuple[int, list[ObjectItem]]:
    """Add the index Puts and Deletes of `change` to `tx`, at most `room` actions.

    Returns (actions added, the Puts that did not fit): the caller writes those right after the
    transaction (`write_after`). Deletes that do not fit are dropped: a stale entry is only a hint.
    """
    record = change.record
    old, new = _pairs(before), set() if deleted else _pairs(record)
    added, removed = sorted(new - old), sorted(old - new)
    puts = [
        ObjectItem(pk=metadata_key(account, record.OBJECT, k, v), sk=sort, owner=record.id) for k, v in added
    ]
    fitting, left = puts[: max(0, room)], puts[max(0, room) :]
    for item in fitting:
        tx.save(item)
    deletes = removed[: max(0, room - len(fitting))]
    for key, value in deletes:
        tx.delete(ObjectItem(pk=metadata_key(account, record.OBJECT, key, value), sk=sort))
    return len(fitting) + len(deletes), left


def write_after(items: list[ObjectItem]) -> None:
    """Index entries a full transaction had no room for (a price and its product_data product with
    50 metadata keys each, a customer deleted with its subscriptions). Crash point: between the
    transaction and these Puts an object can miss index entries, so a metadata search misses it
    until its metadata is set again; documented in docs/API.md."""
    for item in items:
        item.save()
