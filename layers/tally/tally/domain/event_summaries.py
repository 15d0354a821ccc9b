"""Meter event summaries: a meter's aggregated value over windows of a span, and their paging."""

from __future__ import annotations

from dataclasses import dataclass

from tally.domain.aggregation import DAY, HOUR, floor_to
from tally.domain.listing import Page, Window, page_of
from tally.errors import invalid

GROUPING = {"hour": HOUR, "day": DAY}
MAX_WINDOWS = 10_000


@dataclass(frozen=True)
class EventSummary:
    """A meter's aggregated value for a customer over [start, end)."""

    meter: str
    start: int
    end: int
    value: int
    livemode: bool
    # Grouped by dimensions (`dimension_group_by_keys`): the group's values ({} keys without a
    # value left out); None when not grouped (the field is then absent, as on Stripe).
    dimensions: dict[str, str] | None = None
    group: str = ""  # the group's digest: keeps ids unique across a window's groups

    @property
    def id(self) -> str:
        return f"mtrusg_{self.start}_{self.end}" + (f"_{self.group}" if self.group else "")


def windows(start: int, end: int, grouping: str | None) -> list[tuple[int, int]]:
    """[start, end) whole, or cut at hour/day boundaries; at most MAX_WINDOWS of them."""
    step = GROUPING.get(grouping or "")
    if step is None:
        return [(start, end)]
    out = [(max(w, start), min(w + step, end)) for w in range(floor_to(start, step), end, step)]
    if len(out) > MAX_WINDOWS:
        raise invalid("value_grouping_window", "Too many windows: narrow start_time/end_time.")
    return out


def page(items: list[EventSummary], w: Window) -> Page[EventSummary]:
    """Stripe's cursor semantics over summaries (newest first), by summary id."""
    return page_of(
        items, w, lambda s: s.id, lambda cursor, param: invalid(param, f"No such summary: '{cursor}'")
    )
