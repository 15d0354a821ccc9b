"""Objects named by a request: in the URL path (404 when missing) or in a parameter (400)."""

from __future__ import annotations

from typing import Any

from tally.clock import Clock
from tally.errors import InvalidRequest, NotFound
from tally.store import objects
from tally.store.changes import R


def referenced(
    account: str, object_id: str, cls: type[R], param: str, clock: Clock, *, label: str | None = None
) -> R:
    """An object named by a request parameter; a missing one is Stripe's 400 `resource_missing`
    naming the parameter (a missing object in the URL path is a 404)."""
    try:
        return objects.get(account, object_id, cls, clock, label=label, param=param)
    except NotFound as exc:
        raise InvalidRequest(exc.message, code="resource_missing", param=param) from None


def found(account: str, object_id: str, cls: type[R], clock: Clock) -> R | None:
    """The object, or None when there is none."""
    try:
        return objects.get(account, object_id, cls, clock)
    except NotFound:
        return None


def exists(account: str, object_id: str, cls: Any, clock: Clock) -> bool:
    try:
        objects.get(account, object_id, cls, clock)
    except NotFound:
        return False
    return True
