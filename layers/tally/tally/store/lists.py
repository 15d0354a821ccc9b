"""Pages of an account's objects, newest first, with Stripe's cursor semantics.

Unfiltered lists read the `by_type` index (or `by_customer` for one customer's objects). A
filter reads the `by_field` index instead: `any_of` names one or more (field, value) partitions
(`tally.store.filters`), merged newest first, and only the page's objects are then read by key;
`where` re-checks every filter on what is read (the index is eventually consistent, and combined
filters query one partition and apply the rest here). `list_claimed` answers from uniqueness
claims (price lookup keys). So a list reads items in proportion to the page and to the matches
of the partitions it queries, never to the account's other objects.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.exceptions import GetError, QueryError

from tally.clock import Clock
from tally.domain.listing import Page, Window
from tally.store import codec, event_log
from tally.store.changes import R
from tally.store.errors import raise_translated
from tally.store.items import created_ms, read_item
from tally.store.models import OBJECT_SK, ObjectItem, bind

T = TypeVar("T")
Partition = tuple[str, str]  # (field, value) of the by_field index: see tally.store.filters


@dataclass
class ReadStats:
    """What lists asked of DynamoDB (tests and bench/): items read and requests made."""

    items_read: int = 0
    requests: int = 0

    def reset(self) -> None:
        self.items_read = self.requests = 0


STATS = ReadStats()


@dataclass
class _Bounds:
    low: str
    high: str
    forward: bool  # ending_before: read oldest first, then reverse
    skip: str  # the cursor's pk


def list_records(
    account: str,
    cls: type[R],
    window: Window,
    clock: Clock,
    *,
    where: Callable[[R], bool] | None = None,
    label: str | None = None,
    customer: str | None = None,
    any_of: Sequence[Partition] | None = None,
) -> Page[R]:
    """One page of an account's records of `cls`: with `customer`, only that customer's; with
    `any_of`, only those listed under one of these (field, value) partitions (not with customer)."""
    return _page(
        account,
        cls.OBJECT,
        window,
        clock,
        lambda body: codec.loads(cls, body),
        where,
        label,
        customer,
        any_of,
    )


def every_record(
    account: str, cls: type[R], clock: Clock, *, any_of: Sequence[Partition] | None = None, page: int = 100
) -> list[R]:
    """Every record `list_records` would page through (oldest first within its order), read page
    by page: for the small, bounded sets a use case needs whole (a plan's components)."""
    out: list[R] = []
    after: str | None = None
    while True:
        found = list_records(account, cls, Window(page, after, None), clock, any_of=any_of)
        out.extend(found.data)
        if not found.has_more or not found.data:
            return out
        after = found.data[-1].id


def list_events(
    account: str,
    window: Window,
    clock: Clock,
    *,
    where: Callable[[dict[str, Any]], bool] | None = None,
    any_of: Sequence[Partition] | None = None,
) -> Page[dict[str, Any]]:
    return _page(account, event_log.KIND, window, clock, json.loads, where, None, None, any_of)


def list_claimed(
    account: str,
    cls: type[R],
    claim_kind: str,
    values: Iterable[str],
    window: Window,
    clock: Clock,
    *,
    where: Callable[[R], bool] | None = None,
) -> Page[R]:
    """One page of the records holding the uniqueness claims `claim_kind` = each of `values`."""
    bind()
    b = _bounds(account, cls.OBJECT, window, clock, None)
    claims = _get_many([(ObjectItem.unique_key(account, claim_kind, v), OBJECT_SK) for v in set(values)])
    owners = sorted({str(c.owner) for c in claims if c.owner})
    items = _get_many([(ObjectItem.object_key(account, o), OBJECT_SK) for o in owners])
    listed = sorted(
        (
            i
            for i in items
            if _visible(i, cls.OBJECT, clock) and b.low <= str(i.lsk) <= b.high and i.pk != b.skip
        ),
        key=lambda i: str(i.lsk),
        reverse=not b.forward,
    )
    found: list[R] = []
    for item in listed:
        record = codec.loads(cls, str(item.text))
        if where is None or where(record):
            found.append(record)
    return _finish(found, window.limit, b.forward)


def _bounds(account: str, kind: str, w: Window, clock: Clock, label: str | None) -> _Bounds:
    low = ObjectItem.list_sort(w.created_gte * 1000, "") if w.created_gte is not None else "0"
    high = ObjectItem.list_sort(w.created_lte * 1000 + 999, "~") if w.created_lte is not None else "~"
    forward = False
    cursor_id = w.starting_after or w.ending_before
    if cursor_id:
        param = "starting_after" if w.starting_after else "ending_before"
        cursor = read_item(account, cursor_id, kind, clock, label=label, param=param)
        cursor_sort = ObjectItem.list_sort(created_ms(cursor), cursor_id)
        if w.starting_after:
            high = min(high, cursor_sort)
        else:
            low, forward = max(low, cursor_sort), True
    return _Bounds(low, high, forward, ObjectItem.object_key(account, cursor_id or ""))


def _visible(item: ObjectItem, kind: str, clock: Clock) -> bool:
    # TTL deletion is lazy (and never happens in moto): hide expired items
    return item.kind == kind and item.text is not None and (item.expires is None or item.expires > clock.now)


def _finish(found: list[T], limit: int, forward: bool) -> Page[T]:
    has_more = len(found) > limit
    found = found[:limit]
    if forward:
        found.reverse()
    return Page(found, has_more)


def _page(
    account: str,
    kind: str,
    w: Window,
    clock: Clock,
    decode: Callable[[str], T],
    where: Callable[[T], bool] | None,
    label: str | None,
    customer: str | None,
    any_of: Sequence[Partition] | None,
) -> Page[T]:
    bind()
    b = _bounds(account, kind, w, clock, label)
    if any_of is not None:
        return _page_by_field(account, kind, w, b, clock, decode, where, any_of)
    if customer is None:
        index, hash_key, range_attr = ObjectItem.by_type, ObjectItem.list_key(account, kind), ObjectItem.lsk
    else:
        index = ObjectItem.by_customer  # type: ignore[assignment]
        hash_key = ObjectItem.customer_list_key(account, customer, kind)
        range_attr = ObjectItem.csk
    results: list[T] = []
    found = index.query(
        hash_key,
        range_attr.between(b.low, b.high),
        scan_index_forward=b.forward,
        page_size=max(w.limit + 1, 25),
    )
    try:
        for item in found:
            if item.pk == b.skip or not _visible(item, kind, clock):
                continue
            value = decode(str(item.text))
            if where is None or where(value):
                results.append(value)
                if len(results) > w.limit:
                    break
    except QueryError as exc:
        raise_translated(exc)
    finally:
        STATS.items_read += found.total_count
        STATS.requests += 1  # at least; pages are not counted separately
    return _finish(results, w.limit, b.forward)


def _page_by_field(
    account: str,
    kind: str,
    w: Window,
    b: _Bounds,
    clock: Clock,
    decode: Callable[[str], T],
    where: Callable[[T], bool] | None,
    any_of: Sequence[Partition],
) -> Page[T]:
    """Merge the partitions' keys newest first; read the objects by key, a page's worth at a time."""
    queries = [
        ObjectItem.by_field.query(
            ObjectItem.field_key(account, kind, field, value),
            ObjectItem.xsk.between(b.low, b.high),
            scan_index_forward=b.forward,
            page_size=w.limit + 1,
        )
        for field, value in dict.fromkeys(any_of)
    ]
    merged: Iterator[ObjectItem] = heapq.merge(*queries, key=lambda i: str(i.xsk), reverse=not b.forward)
    seen: set[str] = {b.skip}
    results: list[T] = []
    try:
        while len(results) <= w.limit:
            keys: list[str] = []
            for entry in merged:
                if entry.pk not in seen:
                    seen.add(entry.pk)
                    keys.append(entry.pk)
                    if len(keys) > w.limit - len(results):
                        break
            if not keys:
                break
            items = {i.pk: i for i in _get_many([(k, OBJECT_SK) for k in keys])}
            for key in keys:
                item = items.get(key)
                if item is None or not _visible(item, kind, clock):
                    continue  # deleted since the index was read, or expired
                value = decode(str(item.text))
                if where is None or where(value):
                    results.append(value)
    except QueryError as exc:
        raise_translated(exc)
    finally:
        STATS.items_read += sum(q.total_count for q in queries)
        STATS.requests += len(queries)
    return _finish(results, w.limit, b.forward)


def _get_many(keys: list[tuple[str, str]]) -> list[ObjectItem]:
    """BatchGetItem of `keys` (PynamoDB splits by 100 and retries unprocessed keys)."""
    if not keys:
        return []
    try:
        items = list(ObjectItem.batch_get(keys))
    except GetError as exc:
        raise_translated(exc)
    STATS.items_read += len(items)
    STATS.requests += 1 + (len(keys) - 1) // 100
    return items


def oldest_ids(account: str, kind: str, partition: Partition, limit: int) -> list[str]:
    """The ids of up to `limit` `kind` objects listed under the by_field `partition`, oldest first
    (one Query; the index is eventually consistent: callers re-read each object by key)."""
    bind()
    field, value = partition
    prefix = ObjectItem.object_key(account, "")
    found = ObjectItem.by_field.query(
        ObjectItem.field_key(account, kind, field, value), scan_index_forward=True, limit=limit
    )
    try:
        ids = [str(entry.pk)[len(prefix) :] for entry in found]
    except QueryError as exc:
        raise_translated(exc)
    STATS.items_read += len(ids)
    STATS.requests += 1
    return ids
