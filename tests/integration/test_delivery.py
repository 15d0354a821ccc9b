"""The outbox delivered (docs/ARCHITECTURE.md, "The path of one event"): every event written with a
change reaches the notification topic (SNS, filtered per account) and the webhook queue, through
the objects table's stream and DispatchFunction, exactly as Lambda's event source mapping would
feed it (`support.Outbox`: the template's filters, batch item failures retried).

Also the notification subscriptions API (/v1/notification_subscriptions) and its crash points."""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

NSUB = "/v1/notification_subscriptions"
ALERT = "billing.alert.triggered"


# -- helpers ------------------------------------------------------------------------------------------
def _subscribe(api: support.Api, protocol: str, endpoint: str, types: list[str], **extra: Any) -> dict:
    resp = api.post(NSUB, {"protocol": protocol, "endpoint": endpoint, "event_types": types, **extra})
    assert resp.status == 200, resp.text
    return resp.json


def _queue(name: str, account: str) -> tuple[str, str]:
    """A queue whose policy lets `account`'s topic send to it (what an sqs endpoint must have)."""
    import os

    from tally.store.aws import sqs

    url = sqs().create_queue(QueueName=name)["QueueUrl"]
    arn = sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = f"{os.environ['NOTIFICATION_TOPIC_ARN']}-{account}"
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
    }
    sqs().set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Statement": [statement]})})
    return url, arn


def _receive(url: str) -> list[dict]:
    """Every message in the queue (received and deleted), bodies parsed."""
    from tally.store.aws import sqs

    out = []
    while True:
        got = (
            sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        )
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs().delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


_webhook_seen: list[dict] = []


def _webhook_messages(account: str) -> list[dict]:
    """The webhook queue's messages of `account` (the queue is shared by the session's tests)."""
    import os

    _webhook_seen.extend(_receive(os.environ["WEBHOOK_QUEUE_URL"]))
    return [m for m in _webhook_seen if m == {"account": account, "event": m.get("event")}]


def _events(api: support.Api) -> list[dict]:
    return support.stored_events(api.account.id)


def _alert_crossed(api: support.Api) -> tuple[str, str, str]:
    """A meter, a customer and an alert at 10 on it, crossed by one meter event of 12 (as
    tests/integration/test_alerts.py does): (customer, meter, the billing.alert.triggered event id)."""
    meter = api.post(
        "/v1/billing/meters",
        {"display_name": "T", "event_name": "dlv_alert_tokens", "default_aggregation": {"formula": "sum"}},
    ).json["id"]
    cus = api.post("/v1/customers", {"name": "Alerted"}).json["id"]
    rule = {"meter": meter, "gte": 10, "recurrence": "one_time"}
    made = api.post(
        "/v1/billing/alerts", {"alert_type": "usage_threshold", "title": "T", "usage_threshold": rule}
    )
    assert made.status == 200, made.text
    ts = (int(time.time()) // 60 + 2) * 60  # after the alert's creation, so it counts
    payload = {"stripe_customer_id": cus, "value": "12"}
    sent = api.post(
        "/v1/billing/meter_events", {"event_name": "dlv_alert_tokens", "payload": payload, "timestamp": ts}
    )
    assert sent.status == 200, sent.text
    (event,) = [e for e in _events(api) if e["type"] == ALERT]
    return cus, meter, event["id"]


def _mail_events(outbox: support.Outbox, address: str) -> list[tuple[dict, dict]]:
    """(event, message attributes) of each mail to `address`."""
    out = []
    for text in outbox.mail_to(address):
        head, _, body = text.partition("\n\n")
        attrs = json.loads(head.split("X-SNS-Message-Attributes: ", 1)[1].split("\n", 1)[0])
        out.append((json.loads(body), attrs))
    return out


# -- delivery -------------------------------------------------------------------------------------------
def test_each_change_reaches_an_sqs_subscriber_with_its_attributes_and_the_webhook_queue(api, outbox):
    # GIVEN an SQS queue subscribed to the account's customer events
    url, arn = _queue(f"sub-{api.account.id[-10:]}", api.account.id)
    _subscribe(api, "sqs", arn, ["customer.*"])
    # WHEN a customer is created and updated, and the outbox delivers
    cus = api.post("/v1/customers", {"name": "Jenny"}).json["id"]
    assert api.post(f"/v1/customers/{cus}", {"name": "Jenny R"}).status == 200
    outbox.drain()
    # THEN the queue got both events, in order, each as SNS's envelope with the event as its message
    events = list(reversed(_events(api)))
    got = _receive(url)
    assert [json.loads(m["Message"]) for m in got] == events
    assert [e["type"] for e in events] == ["customer.created", "customer.updated"]
    # AND each message carries the account, event type and customer as attributes
    for message, event in zip(got, events, strict=True):
        attributes = {k: v["Value"] for k, v in message["MessageAttributes"].items()}
        assert attributes == {"account": api.account.id, "event_type": event["type"], "customer": cus}
    # AND the webhook queue got {"account", "event"} once per event
    assert _webhook_messages(api.account.id) == [
        {"account": api.account.id, "event": e["id"]} for e in events
    ]


def test_sns_publish_failing_twice_then_succeeding_delivers_each_event_once(api, outbox, monkeypatch):
    # GIVEN an email subscriber of every event, and three changes
    _subscribe(api, "email", "every@example.com", ["*"])
    for name in ("a", "b", "c"):
        assert api.post("/v1/customers", {"name": name}).status == 200
    events = list(reversed(_events(api)))
    # AND SNS refuses the second event's publish twice
    from tally.store import notifications

    real = notifications.publish
    calls: list[str] = []

    def flaky(message: str, attributes: dict[str, str], account: str | None = None) -> str | None:
        event_id = json.loads(message)["id"]
        if account is None:  # the stack topic's publish, the first of each event's
            calls.append(event_id)
            if event_id == events[1]["id"] and calls.count(event_id) <= 2:
                raise RuntimeError("injected: SNS unavailable")
        return real(message, attributes, account=account)

    monkeypatch.setattr(notifications, "publish", flaky)
    # WHEN the outbox delivers (the stream batch is retried from the failed event)
    outbox.drain()
    # THEN the publish was tried 1, 3 and 1 times, and each event reached the subscriber exactly once
    assert [calls.count(e["id"]) for e in events] == [1, 3, 1]
    mailed = [event["id"] for event, _ in _mail_events(outbox, "every@example.com")]
    assert mailed == [e["id"] for e in events]
    # AND the webhook queue got each event exactly once: nothing lost, nothing twice
    assert [m["event"] for m in _webhook_messages(api.account.id)] == [e["id"] for e in events]


def test_a_webhook_queue_failure_after_the_publish_loses_nothing(api, outbox, monkeypatch):
    # GIVEN an SQS subscriber and a change whose webhook message fails once (crash point 2)
    url, arn = _queue(f"crash-{api.account.id[-10:]}", api.account.id)
    _subscribe(api, "sqs", arn, ["*"])
    assert api.post("/v1/customers", {"name": "a"}).status == 200
    from tally.store import notifications

    real, failed = notifications.enqueue_webhook, []

    def flaky(account: str, event_id: str) -> None:
        if not failed:
            failed.append(event_id)
            raise RuntimeError("injected: SQS unavailable")
        real(account, event_id)

    monkeypatch.setattr(notifications, "enqueue_webhook", flaky)
    # WHEN the outbox delivers
    outbox.drain()
    # THEN the webhook message was sent once, and the topic got the event at least once (here twice:
    # the retry publishes again; subscribers dedupe on the event id)
    (event,) = _events(api)
    assert [m["event"] for m in _webhook_messages(api.account.id)] == [event["id"]]
    assert {json.loads(m["Message"])["id"] for m in _receive(url)} == {event["id"]}


def test_an_email_subscriber_of_one_account_never_sees_another_accounts_alert(api, other_account, outbox):
    # GIVEN account A and account B each subscribe an address to their usage alerts
    b = api.as_(other_account)
    _subscribe(api, "email", "alerts-a@example.com", [ALERT])
    _subscribe(b, "email", "alerts-b@example.com", [ALERT])
    # WHEN each account's usage crosses its alert (ingest writes the trigger event) and the outbox delivers
    cus_a, meter_a, alert_a = _alert_crossed(api)
    _, _, alert_b = _alert_crossed(b)
    outbox.drain()
    # THEN A's address got A's alert only, and B's address B's alert only (no customer events either)
    mail_a, mail_b = (
        _mail_events(outbox, "alerts-a@example.com"),
        _mail_events(outbox, "alerts-b@example.com"),
    )
    assert [(e["id"], attrs["account"]) for e, attrs in mail_a] == [(alert_a, api.account.id)]
    assert [(e["id"], attrs["account"]) for e, attrs in mail_b] == [(alert_b, other_account.id)]
    assert mail_a[0][1] == {
        "account": api.account.id,
        "event_type": ALERT,
        "customer": cus_a,
        "meter": meter_a,
    }


def test_a_subscription_for_one_customer_hears_of_that_customer_only(api, outbox):
    # GIVEN two customers and an address subscribed to the first one's events
    first = api.post("/v1/customers", {"name": "first"}).json["id"]
    second = api.post("/v1/customers", {"name": "second"}).json["id"]
    _subscribe(api, "email", "first@example.com", ["customer.updated"], customer=first)
    # WHEN both are updated
    for cus in (first, second):
        assert api.post(f"/v1/customers/{cus}", {"name": "renamed"}).status == 200
    outbox.drain()
    # THEN only the first one's update was mailed
    mailed = _mail_events(outbox, "first@example.com")
    assert [(e["type"], e["data"]["object"]["id"]) for e, _ in mailed] == [("customer.updated", first)]


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: list[tuple[dict, dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_an_https_subscriber_receives_a_real_post(api, outbox):
    # GIVEN a receiver on 127.0.0.1 subscribed to invoice and customer events (http is allowed locally)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _Receiver.got = []
        _subscribe(api, "https", f"http://127.0.0.1:{server.server_port}/sns", ["customer.created"])
        # WHEN a customer is created and the outbox delivers
        cus = api.post("/v1/customers", {"name": "Posted"}).json["id"]
        outbox.drain()
        deadline = time.monotonic() + 5
        while not _Receiver.got and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        server.shutdown()
        server.server_close()
    # THEN it received one SNS notification POST carrying the event
    ((headers, body),) = _Receiver.got
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert body["Type"] == "Notification" and body["MessageAttributes"]["account"]["Value"] == api.account.id
    event = json.loads(body["Message"])
    assert event["type"] == "customer.created" and event["data"]["object"]["id"] == cus


def test_a_meter_error_report_is_delivered_once_when_its_body_first_appears(api, outbox):
    # GIVEN an SQS subscriber of meter error reports, a meter and a customer
    url, arn = _queue(f"reports-{api.account.id[-10:]}", api.account.id)
    _subscribe(api, "sqs", arn, ["v1.billing.meter.*"])
    api.post(
        "/v1/billing/meters",
        {"display_name": "T", "event_name": "dlv_tokens", "default_aggregation": {"formula": "sum"}},
    )
    cus = api.post("/v1/customers", {"name": "R"}).json["id"]
    # WHEN two stream requests with invalid events arrive in the same minute (one report, updated)
    for tag in ("r1", "r2"):
        bad = [
            {
                "event_name": "dlv_tokens",
                "identifier": tag,
                "payload": {"stripe_customer_id": cus, "value": "x"},
            }
        ]
        assert api.post("/v2/billing/meter_event_stream", json={"events": bad}).status == 200
    outbox.drain()
    # THEN the report's event was delivered once (its later bodies only refresh GET /v1/events/{id})
    reports = [e for e in _events(api) if e["type"].startswith("v1.billing.meter.")]
    delivered = [json.loads(m["Message"]) for m in _receive(url)]
    assert [d["id"] for d in delivered] == [r["id"] for r in reports]
    assert len(reports) == 1


# -- the subscriptions API ------------------------------------------------------------------------------
def _sns_subscriptions(account: str) -> dict[str, dict]:
    """The subscriptions on the account's own topic, by endpoint."""
    import os

    from tally.store.aws import sns

    arn = f"{os.environ['NOTIFICATION_TOPIC_ARN']}-{account}"
    subs = sns().list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    return {
        s["Endpoint"]: sns().get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"]
        for s in subs
    }


def test_create_list_retrieve_delete(api, other_account):
    import os

    # WHEN an address is subscribed
    created = _subscribe(api, "email", "crud@example.com", ["invoice.*", "customer.created"])
    # THEN the object is as documented, and SNS holds the subscription with the account's filter policy
    assert created == {
        "id": created["id"],
        "object": "notification_subscription",
        "created": created["created"],
        "customer": None,
        "endpoint": "crud@example.com",
        "event_types": ["invoice.*", "customer.created"],
        "livemode": False,
        "protocol": "email",
        "topic": f"{os.environ['NOTIFICATION_TOPIC_ARN']}-{api.account.id}",
    }
    policy = json.loads(_sns_subscriptions(api.account.id)["crud@example.com"]["FilterPolicy"])
    assert policy == {"account": [api.account.id], "event_type": [{"prefix": "invoice."}, "customer.created"]}
    # AND it is listed and retrieved, not by another account
    assert [s["id"] for s in api.get(NSUB).json["data"]] == [created["id"]]
    assert api.get(f"{NSUB}/{created['id']}").json == created
    assert api.as_(other_account).get(f"{NSUB}/{created['id']}").status == 404
    assert api.as_(other_account).delete(f"{NSUB}/{created['id']}").status == 404
    # AND the same endpoint twice is refused, naming the standing subscription
    again = api.post(NSUB, {"protocol": "email", "endpoint": "crud@example.com", "event_types": ["*"]})
    support.assert_stripe_error(
        again.status, again.json, 400, code="resource_already_exists", param="endpoint"
    )
    # WHEN it is deleted THEN SNS no longer holds it, and it is gone
    assert api.delete(f"{NSUB}/{created['id']}").json == {
        "id": created["id"],
        "object": "notification_subscription",
        "deleted": True,
    }
    assert "crud@example.com" not in _sns_subscriptions(api.account.id)
    assert api.get(f"{NSUB}/{created['id']}").status == 404
    assert api.get(NSUB).json["data"] == []


def test_a_crash_after_subscribing_then_a_retry_leaves_one_subscription(api, monkeypatch):
    # GIVEN the record's write fails once, after SNS subscribed the endpoint (crash point 1 → 2)
    from tally.store import notifications

    real, crashed = notifications.save, []

    def crash(*args: Any, **kwargs: Any) -> None:
        if not crashed:
            crashed.append(True)
            raise support.InjectedCrash("after sns:Subscribe")
        real(*args, **kwargs)

    monkeypatch.setattr(notifications, "save", crash)
    body = {"protocol": "email", "endpoint": "retry@example.com", "event_types": ["*"]}
    assert api.post(NSUB, body).status == 500
    # WHEN the request is retried THEN it succeeds, adopting SNS's subscription: one record, one in SNS
    created = api.post(NSUB, body).json
    assert [s["id"] for s in api.get(NSUB).json["data"]] == [created["id"]]
    assert list(_sns_subscriptions(api.account.id)).count("retry@example.com") == 1
    # AND a delete that crashes after unsubscribing is finished by its retry
    monkeypatch.setattr(notifications, "remove", lambda *a: (_ for _ in ()).throw(support.InjectedCrash("x")))
    assert api.delete(f"{NSUB}/{created['id']}").status == 500
    assert "retry@example.com" not in _sns_subscriptions(api.account.id)
    monkeypatch.undo()
    assert api.delete(f"{NSUB}/{created['id']}").status == 200
    assert api.get(NSUB).json["data"] == []


def test_http_endpoints_are_refused_unless_local_http_is_allowed(api, monkeypatch):
    # GIVEN the setting as on AWS (no local http)
    from tally import settings

    monkeypatch.setenv("TALLY_ALLOW_LOCAL_HTTP", "false")
    settings.reset()
    try:
        # WHEN an http://127.0.0.1 URL is subscribed THEN 400 naming the endpoint; https is fine
        resp = api.post(NSUB, {"protocol": "https", "endpoint": "http://127.0.0.1:9/x", "event_types": ["*"]})
        support.assert_stripe_error(resp.status, resp.json, 400, param="endpoint")
        assert _subscribe(api, "https", "https://hooks.example.com/tally", ["*"])["protocol"] == "https"
    finally:
        monkeypatch.undo()
        settings.reset()
