"""Which page of a list is wanted, and the page found (Stripe's cursor semantics)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Window:
    """Stripe's cursors (object ids), limit and `created` range (inclusive unix seconds)."""

    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None
    created_gte: int | None = None
    created_lte: int | None = None


@dataclass
class Page(Generic[T]):
    data: list[T]
    has_more: bool


def page_of(
    items: Sequence[T],
    window: Window,
    key: Callable[[T], str],
    missing: Callable[[str, str], Exception],
) -> Page[T]:
    """Stripe's cursor semantics over a list held in memory (an invoice's lines, a subscription's
    items, a meter's summaries), in its order. `missing(cursor, param)` is the error for a cursor
    that is not in the list."""
    ids = [key(item) for item in items]
    lo, hi = 0, len(items)
    if window.starting_after is not None:
        if window.starting_after not in ids:
            raise missing(window.starting_after, "starting_after")
        lo = ids.index(window.starting_after) + 1
    if window.ending_before is not None:
        if window.ending_before not in ids:
            raise missing(window.ending_before, "ending_before")
        hi = ids.index(window.ending_before)
        lo = max(lo, hi - window.limit)
    chosen = list(items[lo:hi])
    return Page(
        chosen[: window.limit], len(chosen) > window.limit or (window.ending_before is not None and lo > 0)
    )
