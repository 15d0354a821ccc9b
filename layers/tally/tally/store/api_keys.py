"""API keys and meter-event session tokens, stored only as hashes under their account."""

from __future__ import annotations

from pynamodb.exceptions import GetError, PutError

from tally.store.errors import raise_translated
from tally.store.models import OBJECT_SK, ObjectItem, bind


def put(account: str, key_hash: str, created: int, expires: int | None = None) -> None:
    """Store a key's (or session token's) hash for an account; the secret itself is never stored."""
    bind()
    try:
        ObjectItem(
            pk=ObjectItem.api_key_key(account, key_hash),
            kind="api_key" if expires is None else "session",
            owner=account,
            version=created,
            expires=expires,
        ).save()
    except PutError as exc:
        raise_translated(exc)


def key_of(account: str, key_hash: str) -> tuple[str, str]:
    """(pk, sk) of a key's (or session token's) stored hash."""
    return ObjectItem.api_key_key(account, key_hash), OBJECT_SK


def read(account: str, key_hash: str) -> ObjectItem | None:
    """The stored hash's item (consistent), or None."""
    bind()
    try:
        item = ObjectItem.get(*key_of(account, key_hash), consistent_read=True)
    except ObjectItem.DoesNotExist:
        return None
    except GetError as exc:
        raise_translated(exc)
    return item


def valid(item: ObjectItem | None, now: int) -> bool:
    """Whether `item` (as read) authenticates: present and, for a session, not expired at `now`."""
    return item is not None and (item.expires is None or item.expires > now)


def exists(account: str, key_hash: str, now: int) -> bool:
    """Whether the hash is stored under the account (and, for sessions, not expired at `now`)."""
    return valid(read(account, key_hash), now)
