"""Secret keys: random, shown once, stored only as SHA-256 hashes, each tied to one account.

A generated key embeds its account (`sk_test_tly_<acct>_<secret>`) so the lookup key starts with
the account id. A key supplied from outside (TALLY_API_KEY) belongs to an account derived from its
hash. Either way the key's hash must be stored under that account to authenticate.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
import time

from tally.errors import AuthenticationError
from tally.store import objects

_GENERATED = re.compile(r"sk_(?:test|live)_tly_([A-Za-z0-9]{16})_[A-Za-z0-9]{32}")
_ALNUM = string.ascii_letters + string.digits
_cache: dict[str, tuple[str, float]] = {}
CACHE_SECONDS = 60.0


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


def register_key(key: str) -> str:
    """Store the key's hash under its account; returns the account id."""
    account = account_of(key)
    objects.put_api_key(account, key_hash(key), int(time.time()))
    return account


def mask(key: str) -> str:
    return f"{key[:8]}{'*' * 4}{key[-4:]}" if len(key) > 12 else "****"


def bearer_key(authorization: str | None) -> str:
    """Extract the secret key from `Bearer sk_…` or Basic (`curl -u sk_…:`)."""
    if not authorization:
        raise AuthenticationError(
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY') or Basic auth with the key "
            "as the user name (curl -u YOUR_SECRET_KEY:)."
        )
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            user = base64.b64decode(value, validate=True).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            user = ""
        if user:
            return user
    raise AuthenticationError(
        "Invalid Authorization header: use 'Bearer YOUR_SECRET_KEY' or Basic auth with the key as user."
    )


def authenticate(authorization: str | None) -> str:
    """The account id for the request's secret key; raises AuthenticationError (401)."""
    key = bearer_key(authorization)
    digest = key_hash(key)
    hit = _cache.get(digest)
    now = time.monotonic()
    if hit and hit[1] > now:
        return hit[0]
    account = account_of(key)
    if len(key) > 200 or not key.startswith(("sk_", "rk_")) or not objects.api_key_exists(account, digest):
        raise AuthenticationError(f"Invalid API Key provided: {mask(key)}")
    _cache[digest] = (account, now + CACHE_SECONDS)
    return account


# -- v2 meter event sessions ----------------------------------------------------------------
SESSION_SECONDS = 15 * 60
_SESSION = re.compile(r"mes_tok_([A-Za-z0-9]{16})_[A-Za-z0-9]{32}")


def is_session_token(token: str) -> bool:
    return token.startswith("mes_tok_")


def new_session_token(account: str) -> str:
    """A fresh session token for `account` (stored hashed with a 15-minute expiry)."""
    secret = "".join(secrets.choice(_ALNUM) for _ in range(32))
    token = f"mes_tok_{account.removeprefix('acct_')}_{secret}"
    objects.put_api_key(
        account, key_hash(token), int(time.time()), expires=int(time.time()) + SESSION_SECONDS
    )
    return token


def authenticate_session(token: str) -> str:
    match = _SESSION.fullmatch(token)
    account = f"acct_{match.group(1)}" if match else ""
    if not match or not objects.api_key_exists(account, key_hash(token), now=time.time()):
        raise AuthenticationError(
            "Invalid or expired meter event session token: create a new one with "
            "POST /v2/billing/meter_event_session."
        )
    return account
