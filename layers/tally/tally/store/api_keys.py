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


def exists(account: str, key_hash: str, now: int) -> bool:
    """Whether the hash is stored under the account (and, for sessions, not expired at `now`)."""
    bind()
    try:
        item = ObjectItem.get(ObjectItem.api_key_key(account, key_hash), OBJECT_SK)
    except ObjectItem.DoesNotExist:
        return False
    except GetError as exc:
        raise_translated(exc)
    if item.expires is not None:
        return item.expires > now
    return True
