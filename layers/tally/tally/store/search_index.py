"""The metadata index of searchable objects, written in the same transaction as the object.

One item per (object, metadata key, value):

    pk = acct#idx#<kind>#meta#<digest>    sk = <created ms, 15 digits>#<object id>   owner = id

`<digest>` is the SHA-256 (40 hex digits) of the key and the case-folded value, so the key stays
short whatever the metadata holds (values up to 500 characters of any script) and needs no
escaping. Querying one pk newest first lists the objects that carry that pair, in the order of
the `by_type` index. Entries are hints, not truth: the search reads each object and checks the
whole query against it, so a stale entry (or a digest collision) can never return a wrong object.

The transaction limit (100 actions): a change writes its object, its event and its claims or
releases (at most 4 more), a Put for every pair it adds (at most 50) — always — and a Delete for
every pair it removes, as many as still fit. Only an update that replaces nearly all 50 pairs at
once can leave Deletes out; those entries stay as stale hints (filtered on read) until the pair is
set again. Customers' delete removes all their entries (≤ 50 + 2 actions).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pynamodb.transactions import TransactWrite

from tally.store.models import ObjectItem

SEARCHABLE = frozenset({"customer", "product", "price", "subscription"})
MAX_ACTIONS = 100  # DynamoDB's limit on one TransactWriteItems


def metadata_key(account: str, kind: str, key: str, value: str) -> str:
    digest = hashlib.sha256(json.dumps([key, value.casefold()]).encode()).hexdigest()[:40]
    return f"{account}#idx#{kind}#meta#{digest}"


def _pairs(record: Any) -> set[tuple[str, str]]:
    if record is None or record.OBJECT not in SEARCHABLE:
        return set()
    return {(key, value.casefold()) for key, value in record.metadata.items()}


def write(
    tx: TransactWrite, account: str, change: Any, *, before: Any, sort: str, deleted: bool = False
) -> None:
    """Add the index Puts and Deletes of `change` to `tx` (which already holds the object, its
    event, and the change's claims and releases)."""
    record = change.record
    old, new = _pairs(before), set() if deleted else _pairs(record)
    added, removed = sorted(new - old), sorted(old - new)
    used = 2 + len(change.claim) + len(change.release) + len(added)
    for key, value in added:
        tx.save(ObjectItem(pk=metadata_key(account, record.OBJECT, key, value), sk=sort, owner=record.id))
    for key, value in removed[: max(0, MAX_ACTIONS - used)]:
        tx.delete(ObjectItem(pk=metadata_key(account, record.OBJECT, key, value), sk=sort))
