"""Pure rules of notifications (`tally.domain.notifications`, `tally.billing.delivery.message_of`):
filter policies always name the account, message attributes, endpoint rules, oversized events."""

from __future__ import annotations

import json

import pytest

from tally.domain import notifications as n
from tally.errors import InvalidRequest

ACCT = "acct_A"


def test_a_filter_policy_always_names_its_account():
    # GIVEN event types, exact and by prefix, with and without a customer THEN the account is always there
    assert n.filter_policy(ACCT, ("invoice.*", "customer.created"), None) == {
        "account": [ACCT],
        "event_type": [{"prefix": "invoice."}, "customer.created"],
    }
    assert n.filter_policy(ACCT, ("*",), "cus_1") == {"account": [ACCT], "customer": ["cus_1"]}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"type": "customer.created", "data": {"object": {"object": "customer", "id": "cus_1"}}},
            {"customer": "cus_1"},
        ),
        (
            {"type": "invoice.paid", "data": {"object": {"object": "invoice", "customer": "cus_2"}}},
            {"customer": "cus_2"},
        ),
        (
            {"type": "billing.meter.created", "data": {"object": {"object": "billing.meter", "id": "mtr_1"}}},
            {"meter": "mtr_1"},
        ),
        (
            {
                "type": "billing.alert.triggered",
                "data": {"object": {"customer": "cus_3", "alert": {"usage_threshold": {"meter": "mtr_2"}}}},
            },
            {"customer": "cus_3", "meter": "mtr_2"},
        ),
        (
            {
                "type": "price.created",
                "data": {"object": {"object": "price", "recurring": {"meter": "mtr_3"}}},
            },
            {"meter": "mtr_3"},
        ),
        (
            {"type": "v1.billing.meter.error_report_triggered", "data": {"object": {"meter": "mtr_4"}}},
            {"meter": "mtr_4"},
        ),
        ({"type": "v1.billing.meter.no_meter_found", "data": {"object": {"meter": None}}}, {}),
        (
            {"type": "invoice.created", "data": {"object": {"customer": {"id": "cus_5"}}}},
            {"customer": "cus_5"},
        ),
    ],
)
def test_message_attributes_name_the_account_type_customer_and_meter(event, expected):
    assert n.message_attributes(ACCT, event) == {"account": ACCT, "event_type": event["type"], **expected}


@pytest.mark.parametrize(
    ("protocol", "endpoint", "local"),
    [
        ("email", "ops@example.com", False),
        ("https", "https://hooks.example.com/tally?x=1", False),
        ("https", "http://127.0.0.1:8080/sns", True),
        ("https", "http://localhost/sns", True),
        ("sqs", "arn:aws:sqs:us-east-1:123456789012:ops", False),
    ],
)
def test_acceptable_endpoints(protocol, endpoint, local):
    assert (
        n.check_endpoint(
            protocol, endpoint, region="us-east-1", aws_account="123456789012", allow_local_http=local
        )
        == endpoint
    )


@pytest.mark.parametrize(
    ("protocol", "endpoint", "local"),
    [
        ("email", "ops@localhost", False),
        ("email", "a@b@example.com", False),
        ("https", "http://127.0.0.1:8080/sns", False),  # http only when local http is allowed
        ("https", "http://example.com/sns", True),  # and then only to 127.0.0.1 / localhost
        ("https", "https://user@example.com/", False),
        ("https", "https:///nohost", False),
        ("sqs", "arn:aws:sqs:eu-west-1:123456789012:ops", False),
        ("sqs", "arn:aws:sqs:us-east-1:210987654321:ops", False),
        ("sqs", "arn:aws:sns:us-east-1:123456789012:ops", False),
    ],
)
def test_refused_endpoints_name_the_endpoint(protocol, endpoint, local):
    with pytest.raises(InvalidRequest) as raised:
        n.check_endpoint(
            protocol, endpoint, region="us-east-1", aws_account="123456789012", allow_local_http=local
        )
    assert raised.value.param == "endpoint"


def test_event_types_are_exact_prefixes_or_all_and_deduplicated():
    assert n.check_event_types(["invoice.*", "invoice.*", "*", "customer.created"]) == (
        "invoice.*",
        "*",
        "customer.created",
    )
    for bad in (["invoice*"], ["Invoice.Paid"], ["a..b"], ["*.paid"], [""]):
        with pytest.raises(InvalidRequest):
            n.check_event_types(bad)


def test_an_event_too_large_for_sns_goes_out_thin():
    # GIVEN an event whose JSON exceeds SNS's message limit
    from tally.billing.delivery import Outboxed, message_of

    big = {
        "id": "evt_1",
        "object": "event",
        "type": "invoice.created",
        "data": {"object": {"lines": "x" * 300_000}},
    }
    small = {"id": "evt_2", "object": "event", "type": "invoice.created", "data": {"object": {"id": "in_1"}}}
    # THEN it is sent without data (flagged), and a small one whole
    thin = json.loads(message_of(Outboxed(ACCT, big)))
    assert thin["data"] is None and thin["tally_thin"] is True and thin["id"] == "evt_1"
    assert json.loads(message_of(Outboxed(ACCT, small))) == small


def test_an_event_is_read_from_its_stream_image_compressed_or_not():
    # GIVEN the sample stream record, and the same event kept compressed (`zbody`, base64 in Lambda's JSON)
    import base64
    import zlib

    import support

    from tally.billing.delivery import from_image

    image = support.load_event("dynamodb_stream_dispatch.json")["Records"][0]["dynamodb"]["NewImage"]
    text = image["body"]["S"]
    packed = {k: v for k, v in image.items() if k != "body"}
    packed["zbody"] = {"B": base64.b64encode(zlib.compress(text.encode())).decode()}
    # THEN both read as the event of the pk's account; items that are not events read as nothing
    for each in (image, packed):
        item = from_image(each)
        assert item is not None
        assert (item.account, item.event) == (image["pk"]["S"].split("#")[0], json.loads(text))
    assert from_image({**image, "kind": {"S": "customer"}}) is None
    assert from_image({k: v for k, v in image.items() if k != "body"}) is None
