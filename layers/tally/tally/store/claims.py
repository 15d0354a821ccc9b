"""Uniqueness claims (a lookup key, an active meter's event name): who holds a value."""

from __future__ import annotations

import json
from typing import Any

from pynamodb.exceptions import GetError

from tally.store.errors import raise_translated
from tally.store.models import OBJECT_SK, ObjectItem, bind


def claim_of(account: str, kind: str, value: str) -> tuple[str, dict[str, Any] | None] | None:
    """(owner id, the data kept on the claim) of a uniqueness claim, if any."""
    bind()
    try:
        item = ObjectItem.get(ObjectItem.unique_key(account, kind, value), OBJECT_SK, consistent_read=True)
    except ObjectItem.DoesNotExist:
        return None
    except GetError as exc:
        raise_translated(exc)
    return str(item.owner), json.loads(item.body) if item.body else None


def owner_of(account: str, kind: str, value: str) -> str | None:
    """The id of the object holding a uniqueness claim, if any."""
    found = claim_of(account, kind, value)
    return found[0] if found else None
