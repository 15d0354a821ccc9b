"""Customer portal sessions (`POST /v1/billing_portal/sessions`) and the links they hand out.

A session is not stored: its link carries it. The link's token is
`v1.<payload>.<signature>`: the payload (base64url JSON) names the account, the customer, the
session id, its expiry, return URL and locale; the signature is HMAC-SHA256 of the payload under the
account's portal secret (`tally.store.portal_secrets`, made on the account's first session). A
token opens that customer's portal pages and nothing else (`tally.api.portal`), until it expires.
Expiry is real time (the request's clock), never a test clock's: it is about the link, not billing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from urllib.parse import urlsplit

from tally.clock import Clock
from tally.domain.portal import PortalSession
from tally.domain.records import Customer
from tally.errors import AuthenticationError, NotFound, invalid
from tally.ids import new_id
from tally.store import objects, portal_secrets

SESSION_SECONDS = 30 * 60  # how long a portal link (and the page it opened) works
MAX_RETURN_URL = 2048
MAX_TOKEN = 4096
CONFIGURATION = "bpc_tally_default"  # Tally's one built-in portal configuration (docs/API.md)
# Stripe's `locale` values for the portal (the page formats numbers and dates with it).
LOCALES = frozenset(
    {
        "auto",
        "bg",
        "cs",
        "da",
        "de",
        "el",
        "en",
        "en-AU",
        "en-CA",
        "en-GB",
        "en-IE",
        "en-IN",
        "en-NZ",
        "en-SG",
        "es",
        "es-419",
        "et",
        "fi",
        "fil",
        "fr",
        "fr-CA",
        "hr",
        "hu",
        "id",
        "it",
        "ja",
        "ko",
        "lt",
        "lv",
        "ms",
        "mt",
        "nb",
        "nl",
        "pl",
        "pt",
        "pt-BR",
        "ro",
        "ru",
        "sk",
        "sl",
        "sv",
        "th",
        "tr",
        "vi",
        "zh",
        "zh-HK",
        "zh-TW",
    }
)
_TOKEN = re.compile(r"v1\.([A-Za-z0-9_-]{1,4000})\.([A-Za-z0-9_-]{43})")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(bytes.fromhex(secret), payload.encode(), hashlib.sha256).digest())


def check_return_url(url: str) -> None:
    """An absolute http(s) URL: the page links to it, so nothing else (`javascript:`…) may pass."""
    parts = urlsplit(url)
    if len(url) > MAX_RETURN_URL or parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("return_url", "return_url must be an absolute http(s) URL of at most 2048 characters.")
    if not url.isascii() or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        # non-ASCII is percent-encoded in a URL (and keeps the link's token short)
        raise invalid(
            "return_url",
            "return_url must be ASCII (percent-encode the rest), without spaces or control characters.",
        )


def create(
    account: str, customer_id: str, return_url: str | None, locale: str | None, clock: Clock
) -> tuple[PortalSession, str]:
    """A new session for a customer of the account, and its link token. Writes at most once (the
    account's secret, the first time; a retry finds it), so a crash anywhere loses nothing."""
    try:
        objects.get(account, customer_id, Customer, clock, param="customer")
    except NotFound as exc:
        raise invalid("customer", exc.message, code="resource_missing") from None
    if return_url is not None:
        check_return_url(return_url)
    if locale is not None and locale not in LOCALES:
        raise invalid("locale", f"Invalid locale: {locale!r} is not one of Stripe's portal locales.")
    session = PortalSession(
        new_id("bps"), account, customer_id, clock.now, clock.now + SESSION_SECONDS, return_url, locale
    )
    secret = portal_secrets.get_or_put(account, secrets.token_hex(32), clock.now)
    return session, token_for(session, secret)


def token_for(session: PortalSession, secret: str) -> str:
    """The signed token of a session (also how a test makes one that has expired)."""
    body = {
        "a": session.account,
        "c": session.customer,
        "s": session.id,
        "t": session.created,
        "x": session.expires_at,
        "r": session.return_url,
        "l": session.locale,
    }
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"v1.{payload}.{_sign(secret, payload)}"


def _refused() -> AuthenticationError:
    # One message for every refusal: a caller learns nothing about why a token failed.
    return AuthenticationError(
        "This customer portal link is invalid or has expired: open the portal again from the site "
        "that sent you here."
    )


def verify(token: str, clock: Clock) -> PortalSession:
    """The session a token grants, if its signature is the account's and it has not expired at
    the clock's instant (and the customer still exists); else 401, the same for every reason."""
    match = _TOKEN.fullmatch(token) if len(token) <= MAX_TOKEN else None
    if match is None:
        raise _refused()
    payload, signature = match.groups()
    try:
        body = json.loads(_unb64(payload))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _refused() from None
    if not isinstance(body, dict) or not isinstance(body.get("a"), str) or not body["a"].startswith("acct_"):
        raise _refused()
    secret = portal_secrets.get(body["a"])
    if secret is None or not hmac.compare_digest(_sign(secret, payload), signature):
        raise _refused()
    # signed by us, so well-formed; expiry is checked against real time
    session = PortalSession(body["s"], body["a"], body["c"], body["t"], body["x"], body["r"], body["l"])
    if session.expires_at <= clock.now:
        raise _refused()
    try:
        objects.get(session.account, session.customer, Customer, clock)
    except NotFound:  # deleted since: the link opens nothing
        raise _refused() from None
    return session
