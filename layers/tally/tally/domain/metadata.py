"""Stripe's metadata updates: set keys, delete keys (None), or clear everything."""

from __future__ import annotations

from tally.errors import invalid

# {key: value, key: None (delete)}; {"*": None} clears all (`metadata=`); None changes nothing.
MetadataUpdate = dict[str, str | None] | None
MAX_KEYS = 50


def apply_metadata(current: dict[str, str], updates: MetadataUpdate) -> dict[str, str]:
    """Merge Stripe-style metadata updates (None deletes a key; {"*": None} clears all)."""
    if updates is None:
        return current
    if updates == {"*": None}:
        return {}
    merged = dict(current)
    for key, value in updates.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > MAX_KEYS:
        raise invalid("metadata", "Invalid metadata: at most 50 keys.")
    return merged
