"""The event log every object change writes (30-day retention): retrieve and list.

`type` matches exactly or, with a trailing `*`, by prefix (`customer.*` matches
`customer.subscription.created`); `types` takes exact types. An event older than the retention
window reads as missing, whether or not DynamoDB's TTL has removed it yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tally.clock import Clock
from tally.domain.listing import Page, Window
from tally.errors import invalid
from tally.store import event_log, lists


def type_matcher(pattern: str) -> Callable[[str], bool]:
    """Exact match, or prefix match for a pattern ending in `.*` (or `*` alone). Raises ValueError
    otherwise."""
    if "*" in pattern[:-1] or (pattern.endswith("*") and pattern != "*" and not pattern.endswith(".*")):
        raise ValueError("Only a trailing '.*' wildcard is supported (e.g. 'customer.*').")
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        return lambda t: t.startswith(prefix)
    return lambda t: t == pattern


def retrieve(account: str, event_id: str, clock: Clock) -> dict[str, Any]:
    return event_log.load(account, event_id, clock)  # past the retention: 404


def list_(
    account: str,
    window: Window,
    clock: Clock,
    *,
    pattern: str | None = None,
    types: list[str] | None = None,
) -> Page[dict[str, Any]]:
    if pattern is not None and types is not None:
        raise invalid("types", "You may only specify one of these parameters: type, types.")
    tests: list[Callable[[str], bool]] = []
    any_of: list[tuple[str, str]] | None = None  # the by_field partitions (store/filters.py)
    if pattern is not None:
        try:
            tests.append(type_matcher(pattern))
        except ValueError as exc:
            raise invalid("type", str(exc)) from None
        if pattern != "*":
            any_of = [("type", pattern)]  # `a.b.*` is indexed as such, like exact types
    if types is not None:
        wanted = set(types)
        tests.append(lambda t: t in wanted)
        any_of = [("type", t) for t in types]
    return lists.list_events(
        account,
        window,
        clock,
        where=(lambda e: all(test(e["type"]) for test in tests)) if tests else None,
        any_of=any_of,
    )
