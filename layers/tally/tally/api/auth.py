"""Authentication of a request: the secret key from the Authorization header (Bearer or Basic),
or a v2 meter-event session token. Keys themselves are managed in `tally.billing.accounts`.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from tally.billing import accounts
from tally.billing.accounts import (  # noqa: F401 — the names callers know this module by
    SESSION_SECONDS,
    account_of,
    is_session_token,
    key_hash,
    new_account,
    register_key,
)
from tally.clock import Clock
from tally.errors import AuthenticationError, SessionExpired

if TYPE_CHECKING:  # only portal routes build one; the ingest path never imports it
    from tally.domain.portal import PortalSession


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


def authenticate(authorization: str | None, clock: Clock) -> str:
    """The account id for the request's secret key; raises AuthenticationError (401)."""
    key = bearer_key(authorization)
    account = accounts.account_for_key(key, clock)
    if account is None:
        raise AuthenticationError(f"Invalid API Key provided: {mask(key)}")
    return account


def _session_refusal() -> SessionExpired:
    return SessionExpired(
        "Invalid or expired meter event session token: create a new one with "
        "POST /v2/billing/meter_event_session."
    )


def authenticate_session(token: str, clock: Clock) -> str:
    account = accounts.account_for_session(token, clock)
    if account is None:
        raise _session_refusal()
    return account


def presented(authorization: str | None, *, session: bool) -> accounts.Presented:
    """The secret key (or, when `session`, a v2 meter-event session token) the header presents,
    for the use case to confirm with its own reads (`accounts.Presented`); a missing, malformed
    or never-valid one is refused here (401), with the same error `authenticate` gives."""
    if session and authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
        if accounts.is_session_token(token):
            refusal: AuthenticationError = _session_refusal()
            found = accounts.presented_session(token, refusal)
            if found is None:
                raise refusal
            return found
    key = bearer_key(authorization)
    refusal = AuthenticationError(f"Invalid API Key provided: {mask(key)}")
    found = accounts.presented_key(key, refusal)
    if found is None:
        raise refusal
    return found


def authenticate_portal(authorization: str | None, clock: Clock) -> PortalSession:
    """The customer portal session a `Bearer <portal link token>` grants; 401 otherwise (an API
    key opens no portal route: the portal shows one customer, never the account)."""
    from tally.billing import portal_sessions  # lazy: only portal routes verify portal tokens

    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("A customer portal link's session is required: open the portal link again.")
    return portal_sessions.verify(token.strip(), clock)
