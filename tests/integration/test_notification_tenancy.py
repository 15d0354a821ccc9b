"""Issue 12, point 5: notification tenancy. One account can neither block another from subscribing
its own endpoint nor make another account's endpoint receive its messages, and an `sqs` endpoint is
a queue the account names (its policy names the account's topic) that Tally does not own.

Each account has its own topic (docs/API.md, "Notifications", threat model), so SNS's rule of one
subscription per (topic, protocol, endpoint) no longer lets the first account hold an endpoint."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

NSUB = "/v1/notification_subscriptions"


def _subscribe(api: support.Api, protocol: str, endpoint: str, types: list[str]) -> support.Response:
    return api.post(NSUB, {"protocol": protocol, "endpoint": endpoint, "event_types": types})


def _topic_of(account: support.Account) -> str:
    return f"{os.environ['NOTIFICATION_TOPIC_ARN']}-{account.id}"


def _queue(name: str, *topics: str) -> tuple[str, str]:
    """A queue whose policy lets SNS send from `topics` (as its owner would write it)."""
    from tally.store.aws import sqs

    url = sqs().create_queue(QueueName=name)["QueueUrl"]
    arn = sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if topics:
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": list(topics)}},
        }
        policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        sqs().set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    return url, arn


def _received(url: str) -> list[dict]:
    from tally.store.aws import sqs

    out = []
    while got := sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs().delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def _sns_subscription(subscription_arn: str) -> dict[str, str]:
    from tally.store.aws import sns

    return sns().get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]


def _arn_of(nsub_id: str, account: support.Account) -> str:
    from tally.clock import Clock
    from tally.store import notifications

    return notifications.load(account.id, nsub_id, Clock.system()).subscription_arn


@pytest.mark.parametrize(
    ("protocol", "endpoint"),
    [("email", "owner-a@example.com"), ("https", "https://hooks.a.example.com/sns")],
)
def test_another_account_subscribing_an_endpoint_first_does_not_block_its_owner(
    api, other_account, protocol, endpoint
):
    # GIVEN account B subscribes A's endpoint first
    b = api.as_(other_account)
    first = _subscribe(b, protocol, endpoint, ["*"])
    assert first.status == 200, first.text
    # WHEN A subscribes its own endpoint
    own = _subscribe(api, protocol, endpoint, ["invoice.*"])
    # THEN it is not refused, and each subscription is on its own account's topic, with its own
    # account's filter policy: B's messages travel on B's topic, which A's endpoint must confirm
    # (in AWS) before anything reaches it
    assert own.status == 200, own.text
    assert own.json["topic"] == _topic_of(api.account) != first.json["topic"] == _topic_of(other_account)
    mine = _sns_subscription(_arn_of(own.json["id"], api.account))
    theirs = _sns_subscription(_arn_of(first.json["id"], other_account))
    assert mine["TopicArn"] == _topic_of(api.account) and theirs["TopicArn"] == _topic_of(other_account)
    assert json.loads(mine["FilterPolicy"])["account"] == [api.account.id]
    assert json.loads(theirs["FilterPolicy"])["account"] == [other_account.id]


def test_an_sqs_endpoint_hears_only_the_account_its_policy_names(api, other_account, outbox):
    # GIVEN A's queue, whose policy lets A's topic (and only it) send
    b = api.as_(other_account)
    url, arn = _queue(f"owned-by-a-{api.account.id[-8:]}", _topic_of(api.account))
    # WHEN B tries to subscribe A's queue (first) THEN it is refused: the queue does not name B
    taken = _subscribe(b, "sqs", arn, ["*"])
    support.assert_stripe_error(taken.status, taken.json, 400, param="endpoint")
    assert _topic_of(other_account) in taken.json["error"]["message"]  # it says what to grant
    assert b.get(NSUB).json["data"] == []
    # AND A subscribes it
    assert _subscribe(api, "sqs", arn, ["customer.*"]).status == 200
    # WHEN both accounts create customers and the outbox delivers
    mine = api.post("/v1/customers", {"name": "A's"}).json["id"]
    b.post("/v1/customers", {"name": "B's"})
    outbox.drain()
    # THEN A's queue got A's event only, from A's topic
    got = _received(url)
    assert [json.loads(m["Message"])["data"]["object"]["id"] for m in got] == [mine]
    assert {m["TopicArn"] for m in got} == {_topic_of(api.account)}


def test_a_queue_without_a_policy_naming_the_account_is_refused(api):
    # GIVEN a queue without any policy, and one that lets every topic of the AWS account send
    _, bare = _queue(f"bare-{api.account.id[-8:]}")
    _, lax = _queue(f"lax-{api.account.id[-8:]}")
    # WHEN each is subscribed THEN 400 on endpoint, nothing stored
    for arn in (bare, lax, bare.replace(bare.rsplit(":", 1)[1], "no-such-queue")):
        resp = _subscribe(api, "sqs", arn, ["*"])
        support.assert_stripe_error(resp.status, resp.json, 400, param="endpoint")
    assert api.get(NSUB).json["data"] == []


def test_tallys_own_queues_are_refused_even_when_their_policy_names_the_account(api):
    from tally.store.aws import sqs

    # GIVEN the billing queue (Tally's own) and a queue named like the stack's
    billing = sqs().get_queue_attributes(
        QueueUrl=os.environ["BILLING_QUEUE_URL"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    _, lookalike = _queue("tally-test-Lookalike", _topic_of(api.account))
    # WHEN each is subscribed THEN 400 on endpoint, nothing stored, nothing subscribed
    for arn in (billing, lookalike):
        resp = _subscribe(api, "sqs", arn, ["*"])
        support.assert_stripe_error(resp.status, resp.json, 400, param="endpoint")
        assert "Tally" in resp.json["error"]["message"]
    assert api.get(NSUB).json["data"] == []


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: list[dict] = []

    def do_POST(self) -> None:
        type(self).got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_an_https_receiver_can_tell_its_own_accounts_messages_by_topic(api, other_account, outbox):
    # GIVEN A's receiver, subscribed first by B (locally subscriptions confirm at once), then by A
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}/sns"
    b = api.as_(other_account)
    try:
        _Receiver.got = []
        assert _subscribe(b, "https", endpoint, ["customer.created"]).status == 200
        own = _subscribe(api, "https", endpoint, ["customer.created"])
        assert own.status == 200, own.text
        # WHEN each account creates a customer
        mine = api.post("/v1/customers", {"name": "A's"}).json["id"]
        b.post("/v1/customers", {"name": "B's"})
        outbox.drain()
        deadline = time.monotonic() + 5
        while len(_Receiver.got) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        server.shutdown()
        server.server_close()
    # THEN the messages from A's own subscription's topic are A's only: the topic (which SNS signs,
    # and which the confirmation names in AWS) tells the receiver whose they are
    from_mine = [json.loads(m["Message"]) for m in _Receiver.got if m["TopicArn"] == own.json["topic"]]
    assert [e["data"]["object"]["id"] for e in from_mine] == [mine]


# -- crash points of the new writes (docs/DATA-MODEL.md, "Notification subscriptions") ---------------
def test_a_crash_after_creating_the_topic_then_a_retry_leaves_one_topic_and_one_subscription(
    api, monkeypatch
):
    # GIVEN sns:Subscribe fails once, after the account's topic was created (crash point 1 → 2)
    from tally.store import notifications
    from tally.store.aws import sns

    real, crashed = notifications.subscribe, []

    def crash(*args: Any, **kwargs: Any) -> str:
        if not crashed:
            crashed.append(True)
            raise support.InjectedCrash("after sns:CreateTopic")
        return real(*args, **kwargs)

    monkeypatch.setattr(notifications, "subscribe", crash)
    body = {"protocol": "email", "endpoint": "crash-topic@example.com", "event_types": ["*"]}
    assert api.post(NSUB, body).status == 500
    assert api.get(NSUB).json["data"] == []
    # WHEN the request is retried THEN one topic, one SNS subscription, one record
    created = api.post(NSUB, body)
    assert created.status == 200, created.text
    topics = [t["TopicArn"] for t in sns().list_topics()["Topics"] if t["TopicArn"] == _topic_of(api.account)]
    assert len(topics) == 1
    subs = sns().list_subscriptions_by_topic(TopicArn=_topic_of(api.account))["Subscriptions"]
    assert [s["Endpoint"] for s in subs] == ["crash-topic@example.com"]
    assert [s["id"] for s in api.get(NSUB).json["data"]] == [created.json["id"]]


def test_an_account_topic_publish_failing_then_retried_loses_nothing(api, outbox, monkeypatch):
    # GIVEN A's queue subscribed, and the account topic's publish failing once (dispatch crash point 2)
    url, arn = _queue(f"retry-{api.account.id[-8:]}", _topic_of(api.account))
    assert _subscribe(api, "sqs", arn, ["customer.*"]).status == 200
    from tally.store import notifications

    real, failed = notifications.publish, []

    def flaky(message: str, attributes: dict[str, str], account: str | None = None) -> str | None:
        if account is not None and not failed:
            failed.append(True)
            raise RuntimeError("injected: SNS unavailable")
        return real(message, attributes, account=account)

    monkeypatch.setattr(notifications, "publish", flaky)
    # WHEN a customer is created and the outbox delivers (the batch is retried)
    cus = api.post("/v1/customers", {"name": "Retried"}).json["id"]
    outbox.drain()
    # THEN the queue got the event exactly once (the retry publishes it to the account topic once more)
    assert failed
    assert [json.loads(m["Message"])["data"]["object"]["id"] for m in _received(url)] == [cus]


def test_an_account_without_a_topic_still_gets_its_events_to_the_stack_topic_and_webhooks(api, outbox):
    # GIVEN an account that never subscribed (no topic of its own)
    from tally.store.aws import sns

    assert _topic_of(api.account) not in {t["TopicArn"] for t in sns().list_topics()["Topics"]}
    # WHEN it creates a customer and the outbox delivers THEN the delivery succeeds (nothing retried)
    # and the webhook queue got the event
    api.post("/v1/customers", {"name": "No topic"})
    outbox.drain()
    from test_delivery import _webhook_messages

    assert len(_webhook_messages(api.account.id)) == 1
