"""Hostile input to webhook endpoints and notification subscriptions (issue 12, points 5 and 7):
each request gets Stripe's error shape with a 4xx naming the parameter, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

HOOKS = "/v1/webhook_endpoints"
NSUB = "/v1/notification_subscriptions"
URL = "https://hooks.example.com/tally"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

PRIVATE_URLS = [
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[64:ff9b:1::a00:1]/",
    "https://[2002:7f00:1::]/",
    "https://[2002:a9fe:a9fe::]/",
    "https://[::127.0.0.1]/",
    "https://[::ffff:a9fe:a9fe]/",
    "https://[::ffff:0:7f00:1]/",
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "https://[fd00:ec2::254]/",  # the metadata service's IPv6 address
    "https://[fe80::a9fe:a9fe%25eth0]/",
    "https://2852039166/",  # 169.254.169.254 as one number
    "https://0xa9.0xfe.0xa9.0xfe/",
    "https://localhost/",
    "https://metadata.google.internal/",
]

# (name, content type, body, param)
WEBHOOK_CREATES = [
    ("empty enabled_events", FORM, f"url={URL}&enabled_events=", "enabled_events"),
    ("empty enabled_events[]", FORM, f"url={URL}&enabled_events[]=", "enabled_events[0]"),
    ("null enabled_events", JSON, {"url": URL, "enabled_events": None}, "enabled_events"),
    ("[] enabled_events", JSON, {"url": URL, "enabled_events": []}, "enabled_events"),
    ("a number as enabled_events", JSON, {"url": URL, "enabled_events": 5}, "enabled_events"),
    ("null in enabled_events", JSON, {"url": URL, "enabled_events": [None]}, "enabled_events[0]"),
    ("an unknown type", JSON, {"url": URL, "enabled_events": ["invoice.nope"]}, "enabled_events"),
    ("a prefix", JSON, {"url": URL, "enabled_events": ["invoice.*"]}, "enabled_events"),
    ("null url", JSON, {"url": None, "enabled_events": ["*"]}, "url"),
    *[(f"url {u}", JSON, {"url": u, "enabled_events": ["*"]}, "url") for u in PRIVATE_URLS],
]


@pytest.fixture
def aws_mode(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Settings as on AWS: no local http, no 127.0.0.1/localhost endpoints."""
    from tally import settings

    monkeypatch.setenv("TALLY_ALLOW_LOCAL_HTTP", "false")
    monkeypatch.setenv("TALLY_WEBHOOKS_LOCAL", "false")
    settings.reset()
    yield
    monkeypatch.undo()
    settings.reset()


def _send(api: support.Api, path: str, ctype: str, body: Any) -> support.Response:
    if ctype == JSON:
        return api.post(path, json=body)
    return api.post(path, body=body, content_type=ctype)


def _listing(api: support.Api, path: str) -> tuple[list[dict], list[dict]]:
    return api.get(path, {"limit": 100}).json["data"], support.stored_events(api.account.id)


@pytest.mark.parametrize(
    ("name", "ctype", "body", "param"), WEBHOOK_CREATES, ids=[r[0] for r in WEBHOOK_CREATES]
)
def test_hostile_webhook_endpoint_creates_are_400s_that_change_nothing(
    api, aws_mode, name, ctype, body, param
):
    before = _listing(api, HOOKS)
    resp = _send(api, HOOKS, ctype, body)
    support.assert_stripe_error(resp.status, resp.json, 400, type="invalid_request_error", param=param)
    assert _listing(api, HOOKS) == before


@pytest.mark.parametrize(
    ("ctype", "body", "param"),
    [
        (FORM, "enabled_events=", "enabled_events"),
        (JSON, {"enabled_events": None}, "enabled_events"),
        (JSON, {"enabled_events": []}, "enabled_events"),
        (JSON, {"url": "https://[::127.0.0.1]/"}, "url"),
        (JSON, {"url": "https://[64:ff9b::a9fe:a9fe]/"}, "url"),
    ],
)
def test_hostile_webhook_endpoint_updates_are_400s_that_change_nothing(api, ctype, body, param):
    made = api.post(HOOKS, {"url": URL, "enabled_events": ["invoice.paid"]})
    assert made.status == 200, made.text
    before = _listing(api, HOOKS)
    resp = _send(api, f"{HOOKS}/{made.json['id']}", ctype, body)
    support.assert_stripe_error(resp.status, resp.json, 400, param=param)
    assert _listing(api, HOOKS) == before


def test_event_types_stripe_accepts_and_tally_sends_can_be_enabled(api):
    wanted = [
        "invoice.upcoming",
        "customer.subscription.trial_will_end",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "tally.account_settings.updated",
    ]
    made = api.post(HOOKS, {"url": URL, "enabled_events": wanted})
    assert made.status == 200, made.text
    assert made.json["enabled_events"] == wanted
    updated = api.post(f"{HOOKS}/{made.json['id']}", {"enabled_events": ["invoice.overdue"]})
    assert updated.status == 200 and updated.json["enabled_events"] == ["invoice.overdue"]


@pytest.mark.parametrize("endpoint", PRIVATE_URLS)
def test_https_notification_endpoints_to_private_addresses_are_400s(api, aws_mode, endpoint):
    before = _listing(api, NSUB)
    resp = api.post(NSUB, {"protocol": "https", "endpoint": endpoint, "event_types": ["*"]})
    support.assert_stripe_error(resp.status, resp.json, 400, param="endpoint")
    assert _listing(api, NSUB) == before


@pytest.mark.parametrize(
    "endpoint",
    [
        "arn:aws:sqs:us-east-1:123456789012:tally-test-BillingQueue",
        "arn:aws:sqs:us-east-1:123456789012:tally-test-WebhookQueue",
        "arn:aws:sqs:us-east-1:123456789012:tally-test-TestClockQueue",
        "arn:aws:sqs:us-east-1:123456789012:no-such-queue",
        "arn:aws:sqs:us-east-1:123456789012:" + "q" * 80,
        "arn:aws:sqs:us-east-1:123456789012:q.fifo.x",
        "arn:aws:sqs:us-east-1:123456789012:../tally-test-BillingQueue",
    ],
)
def test_hostile_sqs_notification_endpoints_are_400s(api, endpoint):
    before = _listing(api, NSUB)
    resp = api.post(NSUB, {"protocol": "sqs", "endpoint": endpoint, "event_types": ["*"]})
    support.assert_stripe_error(resp.status, resp.json, 400, param="endpoint")
    assert _listing(api, NSUB) == before


_BASE = {"protocol": "email", "endpoint": "ops@example.com", "event_types": ["*"]}
_CONFUSED = [
    {"endpoint": 5},
    {"endpoint": ["ops@example.com"]},
    {"endpoint": {"a": "b"}},
    {"endpoint": None},
    {"endpoint": ""},
    {"endpoint": "ops@example.com\x00"},
    {"protocol": ["email"]},
    {"protocol": "EMAIL"},
    {"protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:123456789012:"},
    {"protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:123456789012:a:b"},
    {"protocol": "https", "endpoint": "https://[::1"},
    {"protocol": "https", "endpoint": "https://hooks.example.com:-1/"},
    {"protocol": "https", "endpoint": "https://%00/"},
    {"protocol": "https", "endpoint": "https://a..b/"},
    {"protocol": "https", "endpoint": "https://" + "a" * 2100 + ".com/"},
    {"event_types": None},
    {"event_types": []},
    {"event_types": ""},
    {"event_types": {"0": "*"}},
    {"event_types": [5]},
    {"event_types": ["*"] * 21},
    {"event_types": ["invoice.**"]},
    {"customer": {"id": "cus_1"}},
    {"customer": "cus_nope"},
]


@pytest.mark.parametrize("change", _CONFUSED, ids=[repr(c)[:60] for c in _CONFUSED])
def test_type_confused_notification_subscriptions_are_4xx_that_change_nothing(api, aws_mode, change):
    before = _listing(api, NSUB)
    resp = api.post(NSUB, json={**_BASE, **change})
    assert 400 <= resp.status < 500, resp.text
    support.assert_stripe_error(resp.status, resp.json)
    assert _listing(api, NSUB) == before


_HOOK = {"url": URL, "enabled_events": ["invoice.paid"]}
_HOOK_CONFUSED = [
    {"url": ["https://a.example.com/"]},
    {"url": {"a": "b"}},
    {"url": 5},
    {"url": ""},
    {"url": "https://[::1"},
    {"url": "https://a.example.com:65536/"},
    {"url": "https://\u0430pple.com/\x7f"},
    {"enabled_events": "*"},
    {"enabled_events": {"0": "*"}},
    {"enabled_events": [["*"]]},
    {"enabled_events": ["*", 5]},
    {"enabled_events": ["x" * 101]},
    {"description": {"a": "b"}},
    {"description": "x" * 5001},
    {"metadata": ["a"]},
    {"api_version": ["2025-03-31.basil"]},
]


@pytest.mark.parametrize("change", _HOOK_CONFUSED, ids=[repr(c)[:60] for c in _HOOK_CONFUSED])
def test_type_confused_webhook_endpoints_are_4xx_that_change_nothing(api, aws_mode, change):
    before = _listing(api, HOOKS)
    resp = api.post(HOOKS, json={**_HOOK, **change})
    assert 400 <= resp.status < 500, resp.text
    support.assert_stripe_error(resp.status, resp.json)
    assert _listing(api, HOOKS) == before


@pytest.mark.parametrize(
    "change",
    [c for c in _HOOK_CONFUSED if "api_version" not in c] + [{"disabled": "maybe"}, {"disabled": ["true"]}],
    ids=repr,
)
def test_type_confused_webhook_endpoint_updates_are_4xx_that_change_nothing(api, aws_mode, change):
    made = api.post(HOOKS, _HOOK)
    assert made.status == 200, made.text
    before = _listing(api, HOOKS)
    resp = api.post(f"{HOOKS}/{made.json['id']}", json=change)
    assert 400 <= resp.status < 500, resp.text
    support.assert_stripe_error(resp.status, resp.json)
    assert _listing(api, HOOKS) == before
