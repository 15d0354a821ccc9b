"""Accounts and their secret keys: random, shown once, stored only as SHA-256 hashes.

A generated key embeds its account (`sk_test_tly_<acct>_<secret>`) so the lookup key starts with
the account id. A key supplied from outside (TALLY_API_KEY) belongs to an account derived from its
hash. Either way the key's hash must be stored under that account to authenticate.
v2 meter-event session tokens (`mes_tok_…`) work the same way and expire after 15 minutes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tally.clock import Clock
from tally.errors import StripeError
from tally.store import api_keys, recent

if TYPE_CHECKING:
    from tally.store.models import ObjectItem

_GENERATED = re.compile(r"sk_(?:test|live)_tly_([A-Za-z0-9]{16})_[A-Za-z0-9]{32}")
_SESSION = re.compile(r"mes_tok_([A-Za-z0-9]{16})_[A-Za-z0-9]{32}")
_ALNUM = string.ascii_letters + string.digits
SESSION_SECONDS = 15 * 60
MAX_KEY_LENGTH = 200
CACHE_SECONDS = 60.0
_cache: dict[str, tuple[str, float]] = {}  # key hash → (account, monotonic expiry)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def account_of(key: str) -> str:
    """The account a key would belong to (embedded, or derived from the hash)."""
    match = _GENERATED.fullmatch(key)
    if match:
        return f"acct_{match.group(1)}"
    return f"acct_{key_hash(key)[:16]}"


def new_account(livemode: bool = False) -> tuple[str, str]:
    """A fresh (account id, secret key); the caller stores the key's hash with `register_key`."""
    suffix = "".join(secrets.choice(_ALNUM) for _ in range(16))
    secret = "".join(secrets.choice(_ALNUM) for _ in range(32))
    key = f"sk_{'live' if livemode else 'test'}_tly_{suffix}_{secret}"
    return f"acct_{suffix}", key


def register_key(key: str, clock: Clock) -> str:
    """Store the key's hash under its account (registered at the clock's instant); returns the account."""
    account = account_of(key)
    api_keys.put(account, key_hash(key), clock.now)
    return account


def account_for_key(key: str, clock: Clock) -> str | None:
    """The account a secret key belongs to, or None when the key is unknown."""
    digest = key_hash(key)
    hit = _cache.get(digest)
    if hit and hit[1] > time.monotonic():  # a cache age, not billing time
        return hit[0]
    account = account_of(key)
    if len(key) > MAX_KEY_LENGTH or not key.startswith(("sk_", "rk_")):
        return None
    if not api_keys.exists(account, digest, clock.now):
        return None
    _cache[digest] = (account, time.monotonic() + CACHE_SECONDS)
    return account


@dataclass
class Presented:
    """A secret key (or session token) of the right form for `account`, whose stored hash is not
    read yet: a use case that reads other items anyway reads it in the same consistent
    BatchGetItem (`key`, then `settle`), so checking it costs no request of its own and a
    removed or expired key is refused at once (no cache). `refusal` is the 401 to raise."""

    account: str
    digest: str
    refusal: StripeError
    confirmed: bool = False
    refused: bool = False  # read and found wanting: `confirm` raises `refusal` without a read

    @property
    def key(self) -> tuple[str, str]:
        """(pk, sk) of the key's stored hash."""
        return api_keys.key_of(self.account, self.digest)

    def settle(self, found: ObjectItem | None, clock: Clock) -> None:
        """Confirm the key from its item as read (None: absent) or raise `refusal`."""
        self.refused = not api_keys.valid(found, clock.now)
        if self.refused:
            raise self.refusal
        self.confirmed = True

    def confirm(self, clock: Clock) -> None:
        """Confirm the key with a read of its own (one consistent GetItem; none while this process
        keeps the item it read a moment ago, `store.recent`) or raise `refusal`."""
        if self.refused:
            raise self.refusal
        if not self.confirmed:
            found = recent.read_through(self.account, [self.key], self._read)
            self.settle(found.get(self.key), clock)

    def _read(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], ObjectItem]:
        item = api_keys.read(self.account, self.digest)
        return {} if item is None else {self.key: item}


def presented_key(key: str, refusal: StripeError) -> Presented | None:
    """The key to confirm later, or None when its form alone refuses it (never stored)."""
    if len(key) > MAX_KEY_LENGTH or not key.startswith(("sk_", "rk_")):
        return None
    return Presented(account_of(key), key_hash(key), refusal)


def presented_session(token: str, refusal: StripeError) -> Presented | None:
    """A session token to confirm later, or None when its form alone refuses it."""
    match = _SESSION.fullmatch(token)
    return Presented(f"acct_{match.group(1)}", key_hash(token), refusal) if match else None


def is_session_token(token: str) -> bool:
    return token.startswith("mes_tok_")


def new_session_token(account: str, clock: Clock) -> str:
    """A fresh session token for `account` (stored hashed, valid SESSION_SECONDS)."""
    secret = "".join(secrets.choice(_ALNUM) for _ in range(32))
    token = f"mes_tok_{account.removeprefix('acct_')}_{secret}"
    api_keys.put(account, key_hash(token), clock.now, expires=clock.now + SESSION_SECONDS)
    return token


def account_for_session(token: str, clock: Clock) -> str | None:
    match = _SESSION.fullmatch(token)
    if not match:
        return None
    account = f"acct_{match.group(1)}"
    return account if api_keys.exists(account, key_hash(token), clock.now) else None
