"""The pure webhook rules: signatures the official SDK verifies, the retry schedule, which events
match, and which URLs and addresses deliveries may reach."""

from __future__ import annotations

import itertools
import time

import pytest
import stripe

from tally.domain import webhooks as rules
from tally.domain.webhooks import WebhookEndpoint

SECRET = "whsec_" + "ab" * 32


# -- signatures -----------------------------------------------------------------------------------
def test_the_header_verifies_with_the_official_sdk():
    payload = '{"id": "evt_1", "object": "event", "type": "customer.created", "data": {"object": {}}}'
    now = int(time.time())
    header = rules.signature_header(SECRET, now, payload)
    assert header.startswith(f"t={now},v1=")
    assert stripe.WebhookSignature.verify_header(payload, header, SECRET, tolerance=300)


def test_stripes_published_example_signature():
    # HMAC-SHA256("whsec_test_secret", "1614556800.{}"), computed independently with hashlib
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_test_secret", b"1614556800.{}", hashlib.sha256).hexdigest()
    assert rules.signature("whsec_test_secret", 1614556800, "{}") == expected


def test_unicode_payloads_are_signed_as_utf8():
    payload = '{"name": "Zoë 🚀"}'
    header = rules.signature_header(SECRET, int(time.time()), payload)
    assert stripe.WebhookSignature.verify_header(payload, header, SECRET)


# -- schedule -------------------------------------------------------------------------------------
def test_the_retry_delay_doubles_from_a_minute_up_to_12_hours():
    delays = [rules.retry_delay(n) for n in range(1, 14)]
    assert delays[:5] == [60, 120, 240, 480, 960]
    assert delays[-3:] == [12 * 3600] * 3
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert rules.retry_delay(10_000) == 12 * 3600  # no overflow on absurd attempt numbers


def test_retries_span_three_days_then_stop():
    first, at, attempt = 1_900_000_000, 1_900_000_000, 1
    while (due := rules.next_retry(first, attempt, at)) is not None:
        assert due - at == rules.retry_delay(attempt)
        at, attempt = due, attempt + 1
    assert at <= first + rules.RETRY_WINDOW < at + rules.retry_delay(attempt)
    assert 12 <= attempt <= 20  # about 15 attempts in all


def test_disable_after_five_days_of_failures():
    assert not rules.should_disable(0, rules.DISABLE_AFTER - 1)
    assert rules.should_disable(0, rules.DISABLE_AFTER)


# -- matching -------------------------------------------------------------------------------------
def _endpoint(events: tuple[str, ...], status: str = "enabled") -> WebhookEndpoint:
    return WebhookEndpoint("we_1", 0, False, "https://x.example.com", events, status=status)


@pytest.mark.parametrize(
    ("events", "status", "event_type", "wanted"),
    [
        (("*",), "enabled", "invoice.paid", True),
        (("invoice.paid",), "enabled", "invoice.paid", True),
        (("invoice.paid",), "enabled", "invoice.voided", False),
        (("customer.created",), "enabled", "customer.subscription.created", False),
        (("*",), "disabled", "invoice.paid", False),
    ],
)
def test_which_events_an_endpoint_wants(events, status, event_type, wanted):
    assert _endpoint(events, status).wants(event_type) is wanted


def test_unknown_event_types_are_named():
    assert rules.unknown_events(["*", "invoice.paid", "invoice.*", "nope"]) == ["invoice.*", "nope"]


def test_every_event_type_tally_writes_can_be_subscribed_to():
    # GIVEN every event type string the use cases write WHEN compared with EVENT_TYPES THEN none is missing
    import re
    from pathlib import Path

    import tally

    root = Path(tally.__file__).parent
    written = set()
    for path in [*(root / "billing").glob("*.py"), *(root / "store").glob("*.py")]:
        written |= set(
            re.findall(
                r'"((?:customer|invoice|price|product|billing|test_helpers)\.[a-z_.]+)"', path.read_text()
            )
        )
    written = {t for t in written if t.rsplit(".", 1)[-1] in _VERBS}
    assert written, "the scan found nothing: the pattern is stale"
    assert written - rules.EVENT_TYPES == set()


_VERBS = {
    "created",
    "updated",
    "deleted",
    "finalized",
    "paid",
    "voided",
    "marked_uncollectible",
    "deactivated",
    "reactivated",
    "advancing",
    "ready",
    "triggered",
}


# -- where deliveries may go ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "local", "problem"),
    [
        ("https://hooks.example.com/x?y=1", False, None),
        ("https://8.8.8.8/x", False, None),
        ("https://[2606:4700::1111]/x", False, None),
        ("http://hooks.example.com/x", False, "must use https"),
        ("https://10.0.0.1/", False, "must not point to a private address"),
        ("https://172.16.5.4/", False, "must not point to a private address"),
        ("https://100.64.0.1/", False, "must not point to a private address"),
        ("https://169.254.169.254/", False, "must not point to a private address"),
        ("https://0.0.0.0/", False, "must not point to a private address"),
        ("https://224.0.0.1/", False, "must not point to a private address"),
        ("https://[fe80::1]/", False, "must not point to a private address"),
        ("https://[fd00::1]/", False, "must not point to a private address"),
        ("https://[::ffff:127.0.0.1]/", False, "must not point to a private address"),
        ("http://127.0.0.1:8080/x", False, "must use https"),
        ("http://127.0.0.1:8080/x", True, None),
        ("http://localhost:8080/x", True, None),
        ("https://10.0.0.1/", True, "must not point to a private address"),
        ("http://10.0.0.1/", True, "must use https"),
        ("ftp://hooks.example.com/", False, "must be an absolute https URL (https://host/path)"),
        ("hooks.example.com/x", False, "must be an absolute https URL (https://host/path)"),
        ("https:///x", False, "must be an absolute https URL (https://host/path)"),
        ("https://u:p@hooks.example.com/", False, "must not carry a user name or password"),
        ("https://hooks.example.com:99999/", False, "is not a valid URL"),
        ("https://hooks.example.com:0/", False, "must not use port 0"),
        ("https://hooks.example.com/a b", False, "must not contain spaces or control characters"),
        ("https://hooks.example.com/\r\nX: 1", False, "must not contain spaces or control characters"),
    ],
)
def test_url_problems(url, local, problem):
    assert rules.url_problem(url, local=local) == problem


@pytest.mark.parametrize(
    ("address", "local", "allowed"),
    [
        ("93.184.216.34", False, True),
        ("127.0.0.1", False, False),
        ("127.0.0.1", True, True),
        ("127.0.0.2", True, False),
        ("10.1.2.3", True, False),
        ("169.254.169.254", False, False),
        ("::1", True, False),
        ("::ffff:10.0.0.1", False, False),
        ("::ffff:93.184.216.34", False, True),
        ("fe80::1%eth0", False, False),
    ],
)
def test_addresses_deliveries_may_reach(address, local, allowed):
    assert rules.address_allowed(address, local=local) is allowed
