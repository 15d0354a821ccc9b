"""Building the store's `Change` (record + its event) for creates, updates and deletes."""

from __future__ import annotations

from typing import Any

from tally.store.changes import Change, Unique


def previous_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Stripe's `data.previous_attributes`: the old value of every field the change altered."""
    return {k: before.get(k) for k in after if after[k] != before.get(k)}


def created(
    record: Any, event_type: str, presented: dict[str, Any], claim: list[Unique] | None = None
) -> Change:
    return Change(record, event_type, presented, claim=list(claim or []))


def updated(
    record: Any, event_type: str, before: dict[str, Any], after: dict[str, Any], **claims: Any
) -> Change | None:
    """The change from the presented `before` to `after`, or None when nothing visible changed."""
    previous = previous_attributes(before, after)
    if not previous:
        return None
    return Change(record, event_type, after, previous, **claims)


def rekeyed(change: Change, kind: str, before: str | None, after: str | None, claim: Unique | None) -> None:
    """Move a lookup-key claim of `kind` from `before` to `after` (`claim` claims `after`) in `change`."""
    if before == after:
        return
    if before:
        change.release.append((kind, before))
    if after and claim is not None:
        change.claim.append(claim)
