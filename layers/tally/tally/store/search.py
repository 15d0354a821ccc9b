"""Reading a search plan: the sources of `tally.domain.search_plan`, merged newest first.

Every source yields (position, object item) in the `by_type` order (`<created ms>#<id>`,
descending), strictly before the cursor position. The reader decodes each object, keeps those
`matches` accepts, and stops at `limit + 1` matches or after `max_read` objects read — then the
page has `has_more` and continues from the last position read.

- `by_type`: Query of the `by_type` index (every object of the type).
- `by_field`: Query of the `by_field` partition(s) of a (field, value) — the list-filter entries
  of `store.filters`; for a case-insensitive clause also the partition of the case-folded twins
  (`filters.search_partitions`) — merged newest first, then BatchGetItem of the objects.
- `metadata`: Query of the pair's partition of the metadata index (`store.search_index`), then
  BatchGetItem of the objects.
- `lookup_key`: GetItem of the price lookup-key claim, then GetItem of its price.

Index entries are hints: each object is read by key (strongly consistent) and checked against the
whole query. Entries and objects are read in chunks of `limit + 1`, doubling up to 100 while the
query's other clauses keep rejecting, so a page of matches reads about a page of entries and
objects. `STATS` counts the items DynamoDB returned (entries, claims and objects) and requests.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Generic, TypeVar

from pynamodb.exceptions import GetError, QueryError

from tally.clock import Clock
from tally.domain import search_plan
from tally.domain.search_plan import Source
from tally.store import claims, codec, filters
from tally.store.changes import R
from tally.store.errors import raise_translated
from tally.store.items import created_ms
from tally.store.lists import ReadStats
from tally.store.models import OBJECT_SK, ObjectItem, bind
from tally.store.search_index import metadata_key

LOOKUP_KEY_CLAIM = "price_lookup_key"  # the claim kind billing.prices takes for a lookup key
_BATCH = 100  # BatchGetItem's limit
_END = "~"  # sorts after every position (digits)

Stream = Generator[tuple[str, ObjectItem | None], None, None]
Entry = tuple[str, str]  # (position, pk of the object an index entry names)
Entries = Generator[Entry, None, None]
T = TypeVar("T")

STATS = ReadStats()  # what searches asked of DynamoDB (tests and bench/)


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
    chunk = min(_BATCH, limit + 1)
    streams = [_stream(account, cls.OBJECT, source, after or _END, chunk) for source in sources]
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
    finally:
        for stream in streams:
            stream.close()  # counts what each source's queries read (their `finally`)
    return Found([r for _, r in results], False, None)


def _stream(account: str, kind: str, source: Source, before: str, chunk: int) -> Stream:
    if source.index == search_plan.BY_TYPE:
        return _by_type(account, kind, before, chunk)
    if source.index == search_plan.BY_FIELD:
        partitions = filters.search_partitions(
            kind, str(source.key), str(source.value), any_case=source.any_case
        )
        return _fetched(account, _by_field(account, kind, partitions, before, chunk), chunk)
    if source.index == search_plan.METADATA:
        return _fetched(
            account, _metadata(account, kind, str(source.key), str(source.value), before, chunk), chunk
        )
    if source.index == search_plan.LOOKUP_KEY:
        return _lookup_key(account, str(source.value), before)
    raise ValueError(f"no reader for the index {source.index!r}")


def _by_type(account: str, kind: str, before: str, chunk: int) -> Stream:
    found = ObjectItem.by_type.query(
        ObjectItem.list_key(account, kind), ObjectItem.lsk < before, scan_index_forward=False, page_size=chunk
    )
    try:
        for item in found:
            yield str(item.lsk), item
    finally:
        _count(found.total_count, 1)


def _by_field(
    account: str, kind: str, partitions: list[filters.Partition], before: str, chunk: int
) -> Entries:
    """The entries of the partitions, merged newest first (duplicates are dropped by `find`)."""
    queries = [
        ObjectItem.by_field.query(
            ObjectItem.field_key(account, kind, field, value),
            ObjectItem.xsk < before,
            scan_index_forward=False,
            page_size=chunk,
        )
        for field, value in partitions
    ]
    try:
        merged = (
            heapq.merge(*queries, key=lambda e: str(e.xsk), reverse=True) if len(queries) > 1 else queries[0]
        )
        for entry in merged:
            yield str(entry.xsk), str(entry.pk)
    finally:
        _count(sum(q.total_count for q in queries), len(queries))


def _metadata(account: str, kind: str, key: str, value: str, before: str, chunk: int) -> Entries:
    entries = ObjectItem.query(
        metadata_key(account, kind, key, value),
        ObjectItem.sk < before,
        scan_index_forward=False,
        page_size=chunk,
    )
    try:
        for entry in entries:
            yield str(entry.sk), ObjectItem.object_key(account, str(entry.owner))
    finally:
        _count(entries.total_count, 1)


def _fetched(account: str, entries: Entries, chunk: int) -> Stream:
    """The objects the entries name, read by key in chunks (the first of `chunk`, then doubling
    up to BatchGetItem's 100), in the entries' order."""
    pending: list[Entry] = []
    try:
        for entry in entries:
            pending.append(entry)
            if len(pending) == chunk:
                yield from _fetch(account, pending)
                pending, chunk = [], min(_BATCH, chunk * 2)
        yield from _fetch(account, pending)
    finally:
        entries.close()


def _fetch(account: str, entries: list[Entry]) -> Stream:
    """The objects the entries name, in the entries' order (None where an object is gone or is no
    longer at that position)."""
    if not entries:
        return
    keys = list(dict.fromkeys(pk for _, pk in entries))
    found = {
        item.pk: item for item in ObjectItem.batch_get([(k, OBJECT_SK) for k in keys], consistent_read=True)
    }
    _count(len(found), 1 + (len(keys) - 1) // _BATCH)
    for position, pk in entries:
        item = found.get(pk)
        yield position, item if item is not None and str(item.lsk) == position else None


def _lookup_key(account: str, value: str, before: str) -> Stream:
    owner = claims.owner_of(account, LOOKUP_KEY_CLAIM, value)
    _count(1 if owner is not None else 0, 1)
    if owner is None:
        return
    try:
        item = ObjectItem.get(ObjectItem.object_key(account, owner), OBJECT_SK, consistent_read=True)
    except ObjectItem.DoesNotExist:
        _count(0, 1)
        return
    _count(1, 1)
    position = ObjectItem.list_sort(created_ms(item), owner)
    if position < before:
        yield position, item


def _count(items: int, requests: int) -> None:
    STATS.items_read += items
    STATS.requests += requests
