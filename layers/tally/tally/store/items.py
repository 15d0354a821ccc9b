"""Reading one stored item by its object id: present, live (not past its retention) and of the
kind asked for, or NotFound (404). Below every reader of the table (`tally.store.objects`,
`tally.store.event_log`, `tally.store.lists`).
"""

from __future__ import annotations

import re

from pynamodb.exceptions import GetError

from tally.clock import Clock
from tally.errors import NotFound
from tally.store.errors import raise_translated
from tally.store.models import OBJECT_SK, ObjectItem, bind

_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


def possible(object_id: object) -> bool:
    """Whether `object_id` could name an object of ours (else it is not found, without a read)."""
    return isinstance(object_id, str) and _ID.fullmatch(object_id) is not None


def read_item(
    account: str, object_id: str, kind: str, clock: Clock, *, label: str | None = None, param: str = "id"
) -> ObjectItem:
    """The item of one object of `kind`; raises NotFound (404) if absent, of another kind or
    account, or past its retention (TTL deletes lazily, and never in moto)."""
    if not possible(object_id):
        # No id of ours looks like this (too long for a key, or `#`, `/`, spaces…): not found.
        raise NotFound(label or kind, str(object_id)[:100], param=param)
    bind()
    try:
        item = ObjectItem.get(ObjectItem.object_key(account, object_id), OBJECT_SK, consistent_read=True)
    except ObjectItem.DoesNotExist:
        raise NotFound(label or kind, object_id, param=param) from None
    except GetError as exc:
        raise_translated(exc)
    return checked(item, kind, object_id, clock, label=label, param=param)


def checked(
    item: ObjectItem | None,
    kind: str,
    object_id: str,
    clock: Clock,
    *,
    label: str | None = None,
    param: str = "id",
) -> ObjectItem:
    """`item` if it is a live object of `kind`; else NotFound (absent, of another kind, or past
    its retention: TTL deletes lazily, and never in moto)."""
    if (
        item is None
        or item.kind != kind
        or (item.body is None and item.zbody is None)
        or (item.expires is not None and item.expires <= clock.now)
    ):
        raise NotFound(label or kind, object_id, param=param)
    return item


def created_ms(item: ObjectItem) -> int:
    return int((item.lsk or "0#").split("#")[0])
