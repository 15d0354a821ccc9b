"""Issue 12, points 5 and 7, at the pure-rule level: which addresses notifications and webhooks may
reach (IPv6 forms that wrap a private IPv4 address included), which endpoints a notification
subscription may name, and which event types a webhook endpoint may ask for and receives."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tally.domain import notifications as n
from tally.domain import webhooks as rules
from tally.domain.webhooks import WebhookEndpoint
from tally.errors import InvalidRequest


# -- addresses --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a9fe:a9fe",  # NAT64 (RFC 6052) of 169.254.169.254, the instance metadata service
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::a9fe:a9fe",  # local-use NAT64 (RFC 8215): never a public address
        "64:ff9b:1:ffff::",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:c0a8:101::",  # 6to4 of 192.168.1.1
        "::127.0.0.1",  # IPv4-compatible (deprecated, RFC 4291)
        "::a9fe:a9fe",
        "::8.8.8.8",  # the whole deprecated IPv4-compatible range
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "::ffff:0:127.0.0.1",  # IPv4-translated (RFC 2765)
        "2001::1",  # Teredo: the embedded client address is obfuscated; the range is refused
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "fc00::1",  # unique local
        "fd12:3456::1",
        "fe80::1",  # link-local
        "fe80::1%eth0",
        "fec0::1",  # site-local (deprecated)
        "ff02::1",  # multicast
        "::1",
        "::",
        "100::1",  # discard-only
        "2001:db8::1",  # documentation
    ],
)
def test_ipv6_forms_of_private_addresses_are_refused(address):
    assert rules.address_allowed(address, local=False) is False
    assert rules.address_allowed(address, local=True) is False


@pytest.mark.parametrize(
    "address",
    ["2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:93.184.216.34", "93.184.216.34"],
)
def test_public_addresses_stay_allowed(address):
    assert rules.address_allowed(address, local=False) is True


@pytest.mark.parametrize(
    "url",
    [
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[2002:7f00:1::]/x",
        "https://[::127.0.0.1]/x",
        "https://[::ffff:a9fe:a9fe]/",
        "https://2130706433/",  # 127.0.0.1 written as one number: resolvers read it as an address
        "https://0x7f.1/",
        "https://0177.0.0.1/",
        "https://127.1/",
        "https://localhost/",  # a name that is this machine wherever it is resolved
        "https://api.localhost/",
        "https://metadata.google.internal/",
    ],
)
def test_urls_that_reach_private_addresses_are_refused(url):
    assert rules.url_problem(url, local=False) is not None


# -- notification endpoints -------------------------------------------------------------------------
def _check(protocol: str, endpoint: str, *, local: bool = False, stack: str | None = "tally-prod") -> str:
    return n.check_endpoint(
        protocol,
        endpoint,
        region="us-east-1",
        aws_account="123456789012",
        allow_local_http=local,
        stack=stack,
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[::127.0.0.1]/",
        "https://[2002:7f00:1::]/",
        "https://localhost/",
        "https://2130706433/",
    ],
)
def test_https_notification_endpoints_get_the_webhook_address_checks(endpoint):
    with pytest.raises(InvalidRequest) as raised:
        _check("https", endpoint)
    assert raised.value.param == "endpoint"


@pytest.mark.parametrize(
    "queue",
    [
        "arn:aws:sqs:us-east-1:123456789012:tally-prod-BillingQueue-AbC123",
        "arn:aws:sqs:us-east-1:123456789012:tally-prod-WebhookQueue-XyZ",
        "arn:aws:sqs:us-east-1:123456789012:tally-prod-anything",
    ],
)
def test_queues_of_tallys_own_stack_are_refused(queue):
    with pytest.raises(InvalidRequest) as raised:
        _check("sqs", queue)
    assert raised.value.param == "endpoint"
    assert _check("sqs", "arn:aws:sqs:us-east-1:123456789012:orders-billing") is not None


def test_the_account_topic_is_named_after_the_stack_topic_and_the_account():
    shared = "arn:aws:sns:us-east-1:123456789012:tally-prod-NotificationTopic-AbC"
    assert n.account_topic_arn(shared, "acct_123") == f"{shared}-acct_123"
    assert n.account_topic_arn(shared, "acct_123") != n.account_topic_arn(shared, "acct_124")


@pytest.mark.parametrize(
    ("policy", "granted"),
    [
        (None, False),
        ("", False),
        ("not json", False),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": "*",
                        "Condition": {"ArnEquals": {"aws:SourceArn": "TOPIC"}},
                    }
                ]
            },
            True,
        ),
        (  # a list of actions, the service as a list, StringEquals
            {
                "Statement": {
                    "Effect": "Allow",
                    "Principal": {"Service": ["sns.amazonaws.com"]},
                    "Action": ["sqs:ReceiveMessage", "sqs:SendMessage"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceArn": ["TOPIC"]}},
                }
            },
            True,
        ),
        (  # another account's topic
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": "*",
                        "Condition": {"ArnEquals": {"aws:SourceArn": "OTHER"}},
                    }
                ]
            },
            False,
        ),
        (  # any topic of the AWS account: does not name this account's topic
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                    }
                ]
            },
            False,
        ),
        (  # a wildcard that matches every account's topic
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": "*",
                        "Condition": {"ArnLike": {"aws:SourceArn": "TOPIC*"}},
                    }
                ]
            },
            False,
        ),
        (  # a Deny names the topic: no grant
            {
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": "*",
                        "Condition": {"ArnEquals": {"aws:SourceArn": "TOPIC"}},
                    }
                ]
            },
            False,
        ),
    ],
)
def test_a_queue_names_an_account_only_through_its_topic_in_the_queue_policy(policy, granted):
    import json

    topic = "arn:aws:sns:us-east-1:123456789012:tally-prod-NotificationTopic-AbC-acct_1"
    text = policy if not isinstance(policy, dict) else json.dumps(policy).replace("TOPIC", topic)
    text = text.replace("OTHER", topic[:-1] + "2") if isinstance(text, str) else text
    assert n.queue_grants_topic(text, topic) is granted


# -- webhook event types ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "event_type",
    [
        "invoice.upcoming",
        "customer.subscription.trial_will_end",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.overdue",
        "charge.succeeded",
        "billing.credit_grant.created",
    ],
)
def test_every_event_type_stripe_documents_can_be_enabled(event_type):
    assert rules.unknown_events([event_type]) == []


def test_the_stripe_list_is_stripes():
    from tally.domain.event_types import STRIPE_EVENT_TYPES, TALLY_EVENT_TYPES

    assert len(STRIPE_EVENT_TYPES) > 250
    assert "*" not in STRIPE_EVENT_TYPES
    assert not TALLY_EVENT_TYPES & STRIPE_EVENT_TYPES
    assert rules.unknown_events(["nope.created", "invoice.*"]) == ["nope.created", "invoice.*"]


def _written_event_types() -> set[str]:
    """Every string the layer's code holds that reads as an event type: `<object>[.<sub>].<verb>`
    with a verb that Stripe's or Tally's event types end with (object names such as
    `billing.meter` or `test_helpers.test_clock` end with a noun, not a verb)."""
    import tally
    from tally.domain.event_types import STRIPE_EVENT_TYPES, TALLY_EVENT_TYPES

    verbs = {t.rsplit(".", 1)[-1] for t in STRIPE_EVENT_TYPES | TALLY_EVENT_TYPES}
    shape = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")
    found = set()
    for path in Path(tally.__file__).parent.rglob("*.py"):
        if path.name == "event_types.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and shape.fullmatch(value) and value.rsplit(".", 1)[-1] in verbs:
                found.add(value)
    return found


def test_every_event_type_tally_writes_anywhere_is_in_the_list():
    from tally.domain.event_types import EVENT_TYPES

    written = _written_event_types()
    assert {
        "invoice.upcoming",
        "customer.subscription.trial_will_end",
        "tally.account_settings.updated",
    } <= written
    assert written - EVENT_TYPES == set()


def _endpoint(*events: str) -> WebhookEndpoint:
    return WebhookEndpoint("we_1", 0, False, "https://x.example.com", events)


def test_star_endpoints_receive_stripes_types_but_not_tallys_own_unless_named():
    assert _endpoint("*").wants("invoice.paid")
    assert _endpoint("*").wants("invoice.upcoming")
    for tally_only in ("tally.account_settings.updated", "v1.billing.meter.error_report_triggered"):
        assert not _endpoint("*").wants(tally_only)
        assert _endpoint("*", tally_only).wants(tally_only)
        assert _endpoint(tally_only).wants(tally_only)


def test_a_queue_policy_written_the_older_way_names_the_topic_too():
    import json

    topic = "arn:aws:sns:us-east-1:123456789012:tally-prod-NotificationTopic-AbC-acct_1"
    for principal in ("*", {"AWS": "*"}):
        statement = {
            "Effect": "Allow",
            "Principal": principal,
            "Action": "SQS:SendMessage",
            "Condition": {"ArnEquals": {"AWS:SourceArn": topic}},
        }
        assert n.queue_grants_topic(json.dumps({"Statement": [statement]}), topic)
        statement["Principal"] = {"AWS": "arn:aws:iam::123456789012:root"}  # a person, not SNS
        assert not n.queue_grants_topic(json.dumps({"Statement": [statement]}), topic)


def test_the_stripe_list_is_what_the_script_generates_from_the_sdk():
    # GIVEN the installed stripe SDK WHEN the generator renders its list THEN it is the committed module
    from tally.domain.stripe_event_types import SDK_VERSION
    from tally_local import stripe_event_types as generator

    version, types = generator.stripe_event_types()
    if version != SDK_VERSION:
        pytest.skip(f"stripe {version} installed, the list is from {SDK_VERSION}: re-run the generator")
    assert Path(generator.TARGET).read_text(encoding="utf-8") == generator.render(version, types)


def test_the_local_stack_name_is_the_prefix_of_its_queues():
    # GIVEN the template's ApiFunction environment, resolved as `make run` and the tests resolve it
    from tally_local import aws
    from tally_local.template import load

    template = load()
    env = template.functions["ApiFunction"].environment
    for prefix, stack in (("tally-local-", "tally-local"), ("tally-test-", "tally-test")):
        names = aws.table_names(template, prefix=prefix)
        # THEN STACK_NAME is the stack whose queues are `<stack>-<logical id>`
        assert aws.resolve_env(template, env, names)["STACK_NAME"] == stack
