"""Pages of an account's objects, newest first, with Stripe's cursor semantics.

Lists read the `by_type` index (or `by_customer` for one customer's objects); `where` filters
what the index returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pynamodb.exceptions import QueryError

from tally.clock import Clock
from tally.domain.listing import Page, Window
from tally.store import codec, event_log
from tally.store.errors import raise_translated
from tally.store.models import ObjectItem, bind
from tally.store.objects import R, created_ms, read_item

T = TypeVar("T")


def list_records(
    account: str,
    cls: type[R],
    window: Window,
    clock: Clock,
    *,
    where: Callable[[R], bool] | None = None,
    label: str | None = None,
    customer: str | None = None,
) -> Page[R]:
    """One page of an account's records of `cls`; with `customer`, only that customer's."""
    return _page(
        account, cls.OBJECT, window, clock, lambda body: codec.loads(cls, body), where, label, customer
    )


def list_events(
    account: str, window: Window, clock: Clock, *, where: Callable[[dict[str, Any]], bool] | None = None
) -> Page[dict[str, Any]]:
    return _page(account, event_log.KIND, window, clock, json.loads, where, None, None)


def _page(
    account: str,
    kind: str,
    w: Window,
    clock: Clock,
    decode: Callable[[str], T],
    where: Callable[[T], bool] | None,
    label: str | None,
    customer: str | None,
) -> Page[T]:
    bind()
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
    if customer is None:
        index, hash_key, range_attr = ObjectItem.by_type, ObjectItem.list_key(account, kind), ObjectItem.lsk
    else:
        index = ObjectItem.by_customer  # type: ignore[assignment]
        hash_key = ObjectItem.customer_list_key(account, customer, kind)
        range_attr = ObjectItem.csk
    skip = ObjectItem.object_key(account, cursor_id or "")
    results: list[T] = []
    try:
        for item in index.query(
            hash_key,
            range_attr.between(low, high),
            scan_index_forward=forward,
            page_size=max(w.limit + 1, 25),
        ):
            text = item.text
            if item.pk == skip or text is None:
                continue
            if item.expires is not None and item.expires <= clock.now:
                continue  # TTL deletion is lazy (and never happens in moto): hide expired items
            value = decode(text)
            if where is None or where(value):
                results.append(value)
                if len(results) > w.limit:
                    break
    except QueryError as exc:
        raise_translated(exc)
    has_more = len(results) > w.limit
    results = results[: w.limit]
    if forward:
        results.reverse()
    return Page(results, has_more)
