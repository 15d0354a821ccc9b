"""Each account's customer-portal signing secret: one item, written once, read on every portal
request. The secret signs portal links (`tally.billing.portal_sessions`); it never leaves the store
except to sign or check a link."""

from __future__ import annotations

from pynamodb.exceptions import GetError, PutError

from tally.store import errors
from tally.store.errors import raise_translated
from tally.store.models import OBJECT_SK, ObjectItem, bind

KIND = "portal_secret"


def _key(account: str) -> str:
    return f"{account}#{KIND}"


def get(account: str) -> str | None:
    """The account's portal secret (hex), or None when none was made yet."""
    bind()
    try:
        item = ObjectItem.get(_key(account), OBJECT_SK, consistent_read=True)
    except ObjectItem.DoesNotExist:
        return None
    except GetError as exc:
        raise_translated(exc)
    return item.body


def get_or_put(account: str, candidate: str, created: int) -> str:
    """The account's secret: the stored one, else `candidate`, stored only if none was (a
    conditional put, so two first sessions racing agree on one secret)."""
    found = get(account)
    if found is not None:
        return found
    bind()
    try:
        ObjectItem(pk=_key(account), kind=KIND, owner=account, version=created, body=candidate).save(
            condition=ObjectItem.pk.does_not_exist()
        )
    except PutError as exc:
        if errors.code_of(exc) != "ConditionalCheckFailedException":
            raise_translated(exc)
        stored = get(account)  # another request stored first: use its secret
        if stored is None:  # pragma: no cover — a condition failed on an item that is not there
            raise
        return stored
    return candidate
