"""Reading a search plan: the sources of `tally.domain.search_plan`, merged newest first.

Every source yields (position, object item) in the `by_type` order (`<created ms>#<id>`,
descending), strictly before the cursor position. The reader decodes each object, keeps those
`matches` accepts, and stops at `limit + 1` matches or after `max_read` objects read — then the
page has `has_more` and continues from the last position read.

- `by_type`: Query of the `by_type` index (every object of the type).
- `metadata`: Query of the pair's partition of the metadata index (`store.search_index`), then
  BatchGetItem of the objects (entries are hints; each object is checked).
- `lookup_key`: GetItem of the price lookup-key claim, then GetItem of its price.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from pynamodb.exceptions import GetError, QueryError

from tally.clock import Clock
from tally.domain import search_plan
from tally.domain.search_plan import Source
from tally.store import claims, codec
from tally.store.errors import raise_translated
from tally.store.models import OBJECT_SK, ObjectItem, bind
from tally.store.objects import R, created_ms
from tally.store.search_index import metadata_key

LOOKUP_KEY_CLAIM = "price_lookup_key"  # the claim kind billing.prices takes for a lookup key
_BATCH = 100  # BatchGetItem's limit
_END = "~"  # sorts after every position (digits)

Stream = Iterator[tuple[str, ObjectItem | None]]
T = TypeVar("T")


@dataclass
class Found(Generic[T]):
    data: list[T]
    has_more: bool
    position: str | None  # where the next page starts (exclusive), when has_more


def find(
    account: str,
    cls: type[R],
    sources: tuple[Source, ...],
    matches: Callable[[R], bool],
    *,
    limit: int,
    after: str | None,
    clock: Clock,
    max_read: int,
    low: str = "",
) -> Found[R]:
    """Up to `limit` records of `cls` that `matches` accepts, newest first, before the position
    `after` and not before the position `low`."""
    bind()
    streams = [_stream(account, cls.OBJECT, source, after or _END) for source in sources]
    merged = (
        heapq.merge(*streams, key=lambda entry: entry[0], reverse=True) if len(streams) > 1 else streams[0]
    )
    results: list[tuple[str, R]] = []
    read, last, previous = 0, None, None
    try:
        for position, item in merged:
            if position < low:
                break  # every source is newest first: nothing further can match `created`
            if position == previous:
                continue  # the same object from two sources (an OR query)
            previous = position
            if read == max_read:
                return Found([r for _, r in results], True, last)
            read, last = read + 1, position
            if item is None or item.kind != cls.OBJECT or item.body is None:
                continue  # a stale index entry: the object is gone or changed type
            if item.expires is not None and item.expires <= clock.now:
                continue
            record = codec.loads(cls, item.body)
            if matches(record):
                results.append((position, record))
                if len(results) > limit:
                    return Found([r for _, r in results[:limit]], True, results[limit - 1][0])
    except (QueryError, GetError) as exc:
        raise_translated(exc)
    return Found([r for _, r in results], False, None)


def _stream(account: str, kind: str, source: Source, before: str) -> Stream:
    if source.index == search_plan.BY_TYPE:
        return _by_type(account, kind, before)
    if source.index == search_plan.METADATA:
        return _metadata(account, kind, str(source.key), str(source.value), before)
    if source.index == search_plan.LOOKUP_KEY:
        return _lookup_key(account, str(source.value), before)
    raise ValueError(f"no reader for the index {source.index!r}")


def _by_type(account: str, kind: str, before: str) -> Stream:
    for item in ObjectItem.by_type.query(
        ObjectItem.list_key(account, kind), ObjectItem.lsk < before, scan_index_forward=False, page_size=100
    ):
        yield str(item.lsk), item


def _metadata(account: str, kind: str, key: str, value: str, before: str) -> Stream:
    entries = ObjectItem.query(
        metadata_key(account, kind, key, value),
        ObjectItem.sk < before,
        scan_index_forward=False,
        page_size=_BATCH,
    )
    chunk: list[ObjectItem] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == _BATCH:
            yield from _fetch(account, chunk)
            chunk = []
    yield from _fetch(account, chunk)


def _fetch(account: str, entries: list[ObjectItem]) -> Stream:
    """The objects the entries name, in the entries' order (None where an object is gone)."""
    if not entries:
        return
    keys = [(ObjectItem.object_key(account, str(e.owner)), OBJECT_SK) for e in entries]
    found = {item.pk: item for item in ObjectItem.batch_get(keys, consistent_read=True)}
    for entry, (pk, _) in zip(entries, keys, strict=True):
        item = found.get(pk)
        yield str(entry.sk), item if item is not None and str(item.lsk) == entry.sk else None


def _lookup_key(account: str, value: str, before: str) -> Stream:
    owner = claims.owner_of(account, LOOKUP_KEY_CLAIM, value)
    if owner is None:
        return
    try:
        item = ObjectItem.get(ObjectItem.object_key(account, owner), OBJECT_SK, consistent_read=True)
    except ObjectItem.DoesNotExist:
        return
    position = ObjectItem.list_sort(created_ms(item), owner)
    if position < before:
        yield position, item
