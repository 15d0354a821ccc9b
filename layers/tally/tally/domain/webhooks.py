"""Webhook endpoints and their deliveries: the pure rules (no I/O).

- Which event types an endpoint may subscribe to (`tally.domain.event_types`: every type Stripe
  documents, Tally's own, or `*`), and which events match (`*` means Stripe's types only).
- The `Stripe-Signature` header: `t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`, what
  `stripe.Webhook.construct_event` verifies.
- The retry schedule: after a failed attempt n, wait `retry_delay(n)` (1 min doubling, capped at
  12 h); no attempt starts more than `RETRY_WINDOW` (3 days, Stripe's) after the first one.
- When an endpoint is disabled: every attempt failed for `DISABLE_AFTER` (5 days).
- Which URLs and addresses may receive deliveries: https only, and never a private, loopback,
  link-local, multicast or reserved address, nor an IPv6 address wrapping one (NAT64, 6to4,
  IPv4-compatible, -mapped or -translated), nor a private name (localhost, `.internal`) — except
  127.0.0.1 (and http) in local mode. The same rules hold for `https` notification subscriptions.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

from tally.domain.event_types import EVENT_TYPES, in_all

ALL = "*"
MAX_ENDPOINTS = 16  # Stripe's limit of webhook endpoints per account
MAX_URL_LENGTH = 2048

SECRET_PREFIX = "whsec_"
TOLERANCE = 300  # seconds: the official SDKs' default tolerance for `t`
TIMEOUT = 10.0  # seconds a delivery waits for the endpoint's answer

RETRY_WINDOW = 3 * 86400  # no attempt starts later than this after the first one
FIRST_RETRY = 60
MAX_RETRY_DELAY = 12 * 3600
DISABLE_AFTER = 5 * 86400  # an endpoint whose every attempt failed this long is disabled


@dataclass(frozen=True)
class WebhookEndpoint:
    """A webhook endpoint. Its signing secret is not part of the record: it is stored apart
    (`tally.store.webhooks`) and shown only in the create answer."""

    OBJECT: ClassVar[str] = "webhook_endpoint"

    id: str
    created: int
    livemode: bool
    url: str
    enabled_events: tuple[str, ...]
    api_version: str | None = None
    description: str | None = None
    status: str = "enabled"  # enabled | disabled
    metadata: dict[str, str] = field(default_factory=dict)

    def wants(self, event_type: str) -> bool:
        """Whether an event of `event_type` is delivered to this endpoint (enabled and matching)."""
        if self.status != "enabled":
            return False
        return event_type in self.enabled_events or (ALL in self.enabled_events and in_all(event_type))


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt of an event to an endpoint (Tally's `webhook_endpoint.attempt`)."""

    OBJECT: ClassVar[str] = "webhook_endpoint.attempt"

    id: str
    created: int
    endpoint: str
    event: str
    event_type: str
    attempt: int  # 1 for the first try
    succeeded: bool
    duration_ms: int
    status_code: int | None = None  # the endpoint's HTTP status, when it answered
    error: str | None = None  # why there was no answer (timeout, refused address, …)
    next_retry: int | None = None  # when the next attempt is due; None: delivered or given up


def unknown_events(enabled_events: list[str]) -> list[str]:
    """The entries of `enabled_events` that are neither `*` nor a known type (Stripe's or Tally's)."""
    return [e for e in enabled_events if e != ALL and e not in EVENT_TYPES]


# -- signatures -----------------------------------------------------------------------------------
def signature(secret: str, timestamp: int, payload: str) -> str:
    """Hex HMAC-SHA256 of `"{timestamp}.{payload}"` keyed with the whole secret (`whsec_…`), as
    Stripe signs and its SDKs verify."""
    signed = f"{timestamp}.{payload}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, payload: str) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, payload)}"


# -- retries --------------------------------------------------------------------------------------
def retry_delay(attempt: int) -> int:
    """Seconds to wait after failed attempt `attempt` (1-based): 1 min, 2, 4, … capped at 12 h."""
    return min(FIRST_RETRY * 2 ** min(attempt - 1, 20), MAX_RETRY_DELAY)


def next_retry(first_attempt_at: int, attempt: int, failed_at: int) -> int | None:
    """When attempt `attempt + 1` is due after attempt `attempt` failed at `failed_at`, or None
    when it would start past the 3-day window from the first attempt (the delivery is given up)."""
    due = failed_at + retry_delay(attempt)
    return due if due <= first_attempt_at + RETRY_WINDOW else None


def should_disable(failing_since: int, now: int) -> bool:
    return now - failing_since >= DISABLE_AFTER


# -- where deliveries may go ----------------------------------------------------------------------
LOCAL_HOSTS = ("127.0.0.1", "localhost")
# Names that are this machine or a private network wherever they are resolved (RFC 6761, 6762,
# 8375; `.internal` is where clouds put their metadata service, e.g. metadata.google.internal).
_PRIVATE_NAMES = ("localhost", "local", "internal", "localdomain", "home.arpa")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")

# IPv6 ranges refused whole: IPv4-compatible (deprecated; `::`, `::1` and `::a.b.c.d` among them),
# local-use NAT64 (RFC 8215: a translator into a private network), Teredo (its embedded client
# address is obfuscated and the range is obsolete), discard-only, documentation, unique local,
# link-local, site-local (deprecated) and multicast.
_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/96",
        "64:ff9b:1::/48",
        "2001::/32",
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # IPv4-mapped
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)


def url_problem(url: str, *, local: bool) -> str | None:
    """Why `url` cannot receive deliveries (a webhook endpoint, an `https` notification
    subscription), or None. On AWS only `https` is accepted, and a host given as an address must be
    public (`address_allowed`), a host given as a name must not be a private name (localhost,
    `.internal`, …) nor a number that resolvers read as an address (`2130706433`, `0x7f.1`); in
    local mode `http://127.0.0.1` (or localhost) is accepted too."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    host = parts.hostname or ""
    if not host or parts.scheme not in ("http", "https"):
        return "must be an absolute https URL (https://host/path)"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if port == 0:
        return "must not use port 0"
    if local and host in LOCAL_HOSTS:
        return None
    if parts.scheme != "https":
        return "must use https"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return _name_problem(host)  # a name: its addresses are checked at each delivery
    return None if address_allowed(str(address), local=local) else "must not point to a private address"


def _name_problem(host: str) -> str | None:
    name = host.rstrip(".")
    labels = name.split(".")
    if ":" in name or "%" in name or not all(labels):
        return "is not a valid URL"
    if _NUMERIC_LABEL.fullmatch(labels[-1]):  # no top-level domain is numeric: an address in disguise
        return "must not point to a private address"
    if any(name == n or name.endswith("." + n) for n in _PRIVATE_NAMES):
        return "must not point to a private address"
    return None


def address_allowed(address: str, *, local: bool) -> bool:
    """Whether a delivery may connect to `address`: a global unicast address, or 127.0.0.1 (written
    so) in local mode. Refused: private, loopback, link-local (169.254.169.254: instance metadata),
    multicast, reserved, unspecified and shared (100.64/10) IPv4 addresses; the IPv6 ranges of
    `_REFUSED_V6`; and IPv6 addresses that carry a refused IPv4 address (IPv4-mapped and
    -translated, NAT64 64:ff9b::/96, 6to4 2002::/16)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        if local and ip == ipaddress.IPv4Address("127.0.0.1"):
            return True
        return _public_v4(ip)
    if any(ip in network for network in _REFUSED_V6):
        return False
    embedded = _embedded_v4(ip)
    if embedded is not None and not _public_v4(embedded):
        return False
    return ip.is_global and not ip.is_multicast


def _public_v4(ip: ipaddress.IPv4Address) -> bool:
    return ip.is_global and not ip.is_multicast


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to (or stands for), if it is of such a form."""
    if ip in _MAPPED or ip in _TRANSLATED or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour  # 2002:AABB:CCDD::/48 is 6to4 for AA.BB.CC.DD, else None
