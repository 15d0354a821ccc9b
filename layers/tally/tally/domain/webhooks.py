"""Webhook endpoints and their deliveries: the pure rules (no I/O).

- Which event types an endpoint may subscribe to (`EVENT_TYPES`, or `*`), and which events match.
- The `Stripe-Signature` header: `t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`, what
  `stripe.Webhook.construct_event` verifies.
- The retry schedule: after a failed attempt n, wait `retry_delay(n)` (1 min doubling, capped at
  12 h); no attempt starts more than `RETRY_WINDOW` (3 days, Stripe's) after the first one.
- When an endpoint is disabled: every attempt failed for `DISABLE_AFTER` (5 days).
- Which URLs and addresses may receive deliveries: https only, and never a private, loopback,
  link-local, multicast or reserved address — except 127.0.0.1 (and http) in local mode.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

from tally.domain.meter_error_reports import ERROR_REPORT, NO_METER_FOUND

# Every event type Tally records (Stripe rejects subscribing to a type it does not know).
EVENT_TYPES = frozenset(
    {
        "billing.alert.triggered",
        "billing.meter.created",
        "billing.meter.deactivated",
        "billing.meter.reactivated",
        "billing.meter.updated",
        "customer.created",
        "customer.deleted",
        "customer.updated",
        "customer.subscription.created",
        "customer.subscription.deleted",
        "customer.subscription.updated",
        "invoice.created",
        "invoice.finalized",
        "invoice.marked_uncollectible",
        "invoice.paid",
        "invoice.updated",
        "invoice.voided",
        "price.created",
        "price.deleted",
        "price.updated",
        "product.created",
        "product.deleted",
        "product.updated",
        "test_helpers.test_clock.advancing",
        "test_helpers.test_clock.created",
        "test_helpers.test_clock.deleted",
        "test_helpers.test_clock.ready",
        ERROR_REPORT,
        NO_METER_FOUND,
    }
)
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
        return self.status == "enabled" and (ALL in self.enabled_events or event_type in self.enabled_events)


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
    """The entries of `enabled_events` that are neither `*` nor a type Tally records."""
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


def url_problem(url: str, *, local: bool) -> str | None:
    """Why `url` cannot be a webhook endpoint, or None. On AWS only `https` is accepted, and a
    host given as an address must be public; in local mode `http://127.0.0.1` (or localhost)
    is accepted too."""
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
        return None  # a name: its addresses are checked at each delivery
    return None if address_allowed(str(address), local=local) else "must not point to a private address"


def address_allowed(address: str, *, local: bool) -> bool:
    """Whether a delivery may connect to `address`: a global unicast address, or 127.0.0.1 in
    local mode. Refused: private, loopback, link-local (169.254.169.254: instance metadata),
    multicast, reserved, unspecified, shared (100.64/10) and IPv4-mapped private addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if local and ip == ipaddress.IPv4Address("127.0.0.1"):
        return True
    return ip.is_global and not ip.is_multicast
