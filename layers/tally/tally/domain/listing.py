"""Which page of a list is wanted, and the page found (Stripe's cursor semantics)."""

from __future__ import annotations

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
