"""Webhook delivery through the webhooks function: fan-out per endpoint, signed POSTs to a real
HTTP receiver on 127.0.0.1, retries with backoff through the (mocked) webhook queue, attempts
recorded, endpoints disabled after failing for days — and the signature checked with the official
`stripe` SDK.

The worker runs at the instant each test chooses (`process(event, Clock)`); moto's SQS delays
messages in real time, so the tests move moto's SQS clock forward instead of sleeping.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
import support

from tally.clock import Clock
from tally.domain import webhooks as rules

pytestmark = pytest.mark.usefixtures("moto_tables")

URL = "/v1/webhook_endpoints"


# -- a receiver -----------------------------------------------------------------------------------
@pytest.fixture
def receiver() -> Iterator[support.WebhookReceiver]:
    r = support.WebhookReceiver().start()
    yield r
    r.stop()


# -- driving the worker ---------------------------------------------------------------------------
@pytest.fixture
def worker(functions: support.Functions):
    _drain(skew=10**6)  # what another test left behind
    process = inspect.unwrap(functions.handler("WebhooksFunction")).__globals__["process"]

    def run(records: list[dict[str, Any]], at: int) -> list[str]:
        answer = process({"Records": records}, Clock.at(at))
        return [f["itemIdentifier"] for f in answer["batchItemFailures"]]

    return run


def _queue_url() -> str:
    from tally.settings import settings

    url = settings().webhook_queue_url
    assert url
    return url


def _drain(skew: float = 0.0) -> list[dict[str, Any]]:
    """Every message of the webhook queue as the worker gets it (received and deleted), as if
    `skew` more seconds had passed (moto delays messages in real time)."""
    import moto.sqs.models as sqs_models

    from tally.store.aws import sqs

    real = sqs_models.unix_time_millis
    sqs_models.unix_time_millis = lambda *a: real(*a) + skew * 1000  # type: ignore[assignment]
    template = support.load_event("sqs_webhooks.json")["Records"][0]
    out: list[dict[str, Any]] = []
    try:
        while True:
            got = sqs().receive_message(QueueUrl=_queue_url(), MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            out += [{**template, "messageId": m["MessageId"], "body": m["Body"]} for m in got]
            sqs().delete_message_batch(
                QueueUrl=_queue_url(),
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)],
            )
    finally:
        sqs_models.unix_time_millis = real  # type: ignore[assignment]


def _record(body: dict[str, Any]) -> dict[str, Any]:
    template = support.load_event("sqs_webhooks.json")["Records"][0]
    return {**template, "messageId": f"m-{time.monotonic_ns()}", "body": json.dumps(body)}


def _endpoint(api: support.Api, url: str, events: list[str]) -> dict[str, Any]:
    response = api.post(URL, {"url": url, "enabled_events": events})
    assert response.status == 200, response.text
    return response.json


def _customer_created(api: support.Api) -> str:
    """Create a customer; returns the id of its `customer.created` event."""
    assert api.post("/v1/customers", {"name": "Jenny"}).status == 200
    (event,) = [e for e in support.stored_events(api.account.id) if e["type"] == "customer.created"][:1]
    return str(event["id"])


def _attempts(api: support.Api, endpoint_id: str) -> list[dict[str, Any]]:
    response = api.get(f"{URL}/{endpoint_id}/attempts", {"limit": 100})
    assert response.status == 200, response.text
    return list(response.json["data"])


# -- the path -------------------------------------------------------------------------------------
def test_500_500_200_is_three_attempts_and_one_signed_delivery(api, receiver, worker):
    # GIVEN an endpoint whose receiver answers 500, 500, then 200, and a customer.created event
    receiver.answers = [500, 500, 200]
    hook = _endpoint(api, receiver.url, ["customer.created"])
    event_id = _customer_created(api)
    t0 = int(time.time()) - 200
    # WHEN dispatch's message reaches the worker, and then each message it queues, in time
    assert worker([_record({"account": api.account.id, "event": event_id})], t0) == []
    (first,) = _drain()
    assert worker([first], t0) == []
    assert _drain() == []  # the retry waits its minute (moto holds it)
    (second,) = _drain(skew=rules.retry_delay(1))
    assert json.loads(second["body"])["attempt"] == 2
    assert worker([second], t0 + 60) == []
    (third,) = _drain(skew=rules.retry_delay(2))
    assert worker([third], t0 + 180) == []
    # THEN the receiver got three POSTs of the same event, the last one accepted
    assert len(receiver.got) == 3 and _drain(skew=10**6) == []
    headers, payload = receiver.got[-1]
    assert headers["content-type"] == "application/json; charset=utf-8"
    # AND the official SDK verifies the signature with the endpoint's secret
    event = stripe.Webhook.construct_event(payload, headers["stripe-signature"], hook["secret"])
    assert event.id == event_id and event.type == "customer.created"
    assert event.data.object.name == "Jenny"
    # AND the body is the event as GET /v1/events/{id} shows it
    assert json.loads(payload) == api.get(f"/v1/events/{event_id}").json
    # AND three attempts are recorded, newest first: 200, 500 (retry at +3 min), 500 (retry at +1)
    attempts = _attempts(api, hook["id"])
    assert [(a["attempt"], a["status_code"], a["succeeded"]) for a in attempts] == [
        (3, 200, True),
        (2, 500, False),
        (1, 500, False),
    ]
    assert [a["next_retry"] for a in attempts] == [None, t0 + 180, t0 + 60]
    assert {a["event"] for a in attempts} == {event_id} and all(a["duration_ms"] >= 0 for a in attempts)
    assert all(a["object"] == "webhook_endpoint.attempt" and a["id"].startswith("wha_") for a in attempts)
    # AND the endpoint stays enabled
    assert api.get(f"{URL}/{hook['id']}").json["status"] == "enabled"


def test_a_tampered_body_or_an_old_timestamp_is_rejected_by_the_sdk(api, receiver, worker):
    # GIVEN a delivery signed 10 minutes ago (beyond the SDK's 300 s tolerance) and one signed now
    hook = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    now = int(time.time())
    for at in (now - 600, now):
        message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
        assert worker([_record({**message, "attempt": 1, "first": at, "due": at})], at) == []
    (old_headers, old_body), (headers, body) = receiver.got
    # THEN the fresh one verifies, and the SDK rejects the old timestamp
    assert stripe.Webhook.construct_event(body, headers["stripe-signature"], hook["secret"]).id == event_id
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(old_body, old_headers["stripe-signature"], hook["secret"])
    # AND a body changed in transit, or another secret, is rejected
    tampered = body.replace('"Jenny"', '"Mallory"')
    assert tampered != body
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, headers["stripe-signature"], hook["secret"])
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["stripe-signature"], "whsec_" + "0" * 64)


def test_each_matching_endpoint_gets_its_own_delivery(api, receiver, worker):
    # GIVEN three endpoints: customer.created, '*', and invoice.finalized only
    wanted = _endpoint(api, receiver.url + "?a", ["customer.created"])
    everything = _endpoint(api, receiver.url + "?b", ["*"])
    _endpoint(api, receiver.url + "?c", ["invoice.finalized"])
    event_id = _customer_created(api)
    now = int(time.time())
    # WHEN the event is fanned out
    assert worker([_record({"account": api.account.id, "event": event_id})], now) == []
    deliveries = _drain()
    # THEN one delivery message per matching endpoint, none for the other
    assert sorted(json.loads(m["body"])["endpoint"] for m in deliveries) == sorted(
        [wanted["id"], everything["id"]]
    )
    assert worker(deliveries, now) == []
    assert len(receiver.got) == 2


def test_a_failing_endpoint_does_not_hold_back_another(api, receiver, worker):
    # GIVEN two endpoints of one account, one of them unreachable (nothing listens on its port)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    dead = _endpoint(api, f"http://127.0.0.1:{dead_port}/x", ["*"])
    alive = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    now = int(time.time())
    assert worker([_record({"account": api.account.id, "event": event_id})], now) == []
    # WHEN both deliveries run
    assert worker(_drain(), now) == []
    # THEN the live endpoint got its event once, and the dead one has a failed attempt and a retry
    assert len(receiver.got) == 1
    assert _attempts(api, alive["id"])[0]["succeeded"] is True
    (failed,) = _attempts(api, dead["id"])
    assert failed["status_code"] is None and "Connection" in failed["error"]
    assert failed["next_retry"] == now + 60
    (retry,) = _drain(skew=60)
    assert json.loads(retry["body"])["endpoint"] == dead["id"]


def test_another_accounts_event_never_reaches_an_endpoint(api, other_account, receiver, worker):
    # GIVEN account B's endpoint for every event, and account A's customer.created
    other = api.as_(other_account)
    _endpoint(other, receiver.url, ["*"])
    event_id = _customer_created(api)
    now = int(time.time())
    # WHEN A's event is fanned out, or a message names B with A's event
    assert worker([_record({"account": api.account.id, "event": event_id})], now) == []
    assert worker([_record({"account": other_account.id, "event": event_id})], now) == []
    # THEN nothing is queued nor delivered
    assert _drain(skew=10**6) == [] and receiver.got == []


def test_a_disabled_endpoint_gets_nothing(api, receiver, worker):
    hook = _endpoint(api, receiver.url, ["*"])
    assert api.post(f"{URL}/{hook['id']}", {"disabled": "true"}).status == 200
    event_id = _customer_created(api)
    assert worker([_record({"account": api.account.id, "event": event_id})], int(time.time())) == []
    assert _drain(skew=10**6) == [] and receiver.got == []


def test_a_timeout_is_a_failed_attempt(api, receiver, worker, monkeypatch):
    # GIVEN a receiver slower than the delivery timeout
    monkeypatch.setattr(rules, "TIMEOUT", 0.3)
    receiver.delay = 1.0
    hook = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    now = int(time.time())
    message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
    # WHEN delivered THEN the attempt failed with a timeout and a retry is queued
    assert worker([_record({**message, "attempt": 1, "first": now, "due": now})], now) == []
    (attempt,) = _attempts(api, hook["id"])
    assert attempt["succeeded"] is False and "timed out" in attempt["error"]
    assert len(_drain(skew=60)) == 1


def test_an_answer_dripped_slower_than_the_timeout_is_cut_off(api, receiver, worker, monkeypatch):
    # GIVEN a receiver whose every read comes within 0.1 s but whose answer takes 3 s in all
    monkeypatch.setattr(rules, "TIMEOUT", 0.5)
    receiver.drip = 30
    hook = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    now = int(time.time())
    message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
    # WHEN delivered THEN the attempt is cut at the timeout and counts as failed
    started = time.monotonic()
    assert worker([_record({**message, "attempt": 1, "first": now, "due": now})], now) == []
    assert time.monotonic() - started < 2.5
    (attempt,) = _attempts(api, hook["id"])
    assert attempt["succeeded"] is False and "timed out" in attempt["error"]


# -- retries over days ----------------------------------------------------------------------------
def test_retries_stop_three_days_after_the_first_attempt(api, receiver, worker):
    # GIVEN an endpoint that always fails, and an attempt due just before the 3-day window closes
    receiver.answers = [503]
    hook = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    first = int(time.time())
    message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
    late = first + rules.RETRY_WINDOW - 30
    # WHEN attempt 16 fails then
    assert worker([_record({**message, "attempt": 16, "first": first, "due": late})], late) == []
    # THEN it is given up: no retry queued, none announced
    assert _drain(skew=10**6) == []
    (attempt,) = _attempts(api, hook["id"])
    assert (attempt["attempt"], attempt["status_code"], attempt["next_retry"]) == (16, 503, None)


def test_a_message_read_early_waits_again_without_an_attempt(api, receiver, worker):
    hook = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    now = int(time.time())
    due = now + 2 * 3600
    message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
    # WHEN a retry due in 2 hours is read now
    assert worker([_record({**message, "attempt": 5, "first": now, "due": due})], now) == []
    # THEN nothing is POSTed; the same message comes back after SQS's longest delay (15 minutes)
    assert receiver.got == [] and _attempts(api, hook["id"]) == []
    assert _drain(skew=899) == []
    (again,) = _drain(skew=901)
    assert json.loads(again["body"]) == {**message, "attempt": 5, "first": now, "due": due}


def test_an_endpoint_failing_for_five_days_is_disabled(api, receiver, worker):
    # GIVEN an endpoint that always answers 500, first failing now
    receiver.answers = [500]
    hook = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    now = int(time.time())
    message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
    assert worker([_record({**message, "attempt": 1, "first": now, "due": now})], now) == []
    # WHEN it still fails four days later THEN it stays enabled
    day4 = now + 4 * 86400
    assert worker([_record({**message, "attempt": 1, "first": day4, "due": day4})], day4) == []
    assert api.get(f"{URL}/{hook['id']}").json["status"] == "enabled"
    # WHEN it fails again five days after its first failure THEN it is disabled, with no retry
    _drain(skew=10**6)
    day5 = now + rules.DISABLE_AFTER
    assert worker([_record({**message, "attempt": 1, "first": day5, "due": day5})], day5) == []
    assert api.get(f"{URL}/{hook['id']}").json["status"] == "disabled"
    assert _drain(skew=10**6) == []
    # AND a pending retry for it is dropped without a POST
    posts = len(receiver.got)
    assert worker([_record({**message, "attempt": 2, "first": day5, "due": day5})], day5 + 60) == []
    assert len(receiver.got) == posts
    # AND once its owner re-enables it, one more failure does not disable it again at once
    assert api.post(f"{URL}/{hook['id']}", {"disabled": "false"}).json["status"] == "enabled"
    day6 = day5 + 86400
    assert worker([_record({**message, "attempt": 1, "first": day6, "due": day6})], day6) == []
    assert api.get(f"{URL}/{hook['id']}").json["status"] == "enabled"


def test_a_success_resets_the_failure_clock(api, receiver, worker):
    # GIVEN failures on day 0, a success on day 3, and failures again on day 6
    receiver.answers = [500, 200, 500]
    hook = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    now = int(time.time())
    message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
    for day in (0, 3, 6):
        at = now + day * 86400
        assert worker([_record({**message, "attempt": 1, "first": at, "due": at})], at) == []
    # THEN it is not disabled: it has been failing for 3 days only
    assert api.get(f"{URL}/{hook['id']}").json["status"] == "enabled"


def test_a_deleted_endpoints_pending_retry_is_dropped(api, receiver, worker):
    hook = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    assert api.delete(f"{URL}/{hook['id']}").status == 200
    now = int(time.time())
    message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
    assert worker([_record({**message, "attempt": 2, "first": now, "due": now})], now) == []
    assert receiver.got == []


def test_a_store_failure_fails_only_that_message(api, receiver, worker, monkeypatch):
    # GIVEN a delivery whose attempt cannot be recorded (the store fails once), and another
    from tally.store import webhooks as store

    hook = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    now = int(time.time())
    message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
    _fail_once(monkeypatch, store, "record_attempt")
    broken = _record({**message, "attempt": 1, "first": now, "due": now})
    fine = _record({**message, "attempt": 1, "first": now, "due": now})
    # WHEN both are handled THEN only the first is reported failed (SQS retries it)
    assert worker([broken, fine], now) == [broken["messageId"]]
    # AND its retry delivers again: nothing lost (the event may arrive twice, as with Stripe)
    assert worker([broken], now + 1) == []
    assert len(receiver.got) == 3 and len(_attempts(api, hook["id"])) == 2


def _fail_once(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
    real = getattr(module, name)
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError(f"injected crash in {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)


@pytest.mark.parametrize("point", ["record_attempt", "failed", "send"])
def test_a_crash_at_each_write_of_a_failed_delivery_loses_nothing(api, receiver, worker, monkeypatch, point):
    # GIVEN an endpoint answering 500, and a crash injected at one write of the failed delivery:
    # the attempt (1), the health item (2), the retry's message (3)
    from tally.store import webhook_queue
    from tally.store import webhooks as store

    receiver.answers = [500]
    hook = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    now = int(time.time())
    message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
    _fail_once(monkeypatch, webhook_queue if point == "send" else store, point)
    record = _record({**message, "attempt": 1, "first": now, "due": now})
    # WHEN the worker crashes there, and SQS hands it the message again
    assert worker([record], now) == [record["messageId"]]
    assert worker([record], now + 30) == []
    # THEN the event was POSTed again, the failure is recorded, and attempt 2 is queued: the
    # delivery goes on (the attempt may be recorded twice: at least once, never lost)
    assert len(receiver.got) == 2
    recorded = _attempts(api, hook["id"])
    assert 1 <= len(recorded) <= 2 and {a["attempt"] for a in recorded} == {1}
    retries = [json.loads(m["body"]) for m in _drain(skew=10**6)]
    assert [r["attempt"] for r in retries] in ([2], [2, 2])


def test_on_aws_a_name_resolving_to_a_private_address_is_never_contacted(api, receiver, worker, monkeypatch):
    # GIVEN (as deployed: no local-mode exception) an https endpoint whose host name resolves to
    # the loopback address where the receiver listens
    from tally import settings

    port = receiver.server.server_address[1]
    # (made in local mode: on AWS the name `localhost` itself is refused when the endpoint is made;
    # a public-looking name can resolve to it all the same, and only the delivery can tell)
    hook = _endpoint(api, f"https://localhost:{port}/hooks", ["*"])
    monkeypatch.setenv("TALLY_WEBHOOKS_LOCAL", "false")
    settings.reset()
    try:
        event_id = _customer_created(api)
        now = int(time.time())
        message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
        # WHEN a delivery is attempted
        assert worker([_record({**message, "attempt": 1, "first": now, "due": now})], now) == []
    finally:
        monkeypatch.setenv("TALLY_WEBHOOKS_LOCAL", "true")
        settings.reset()
    # THEN nothing reached the receiver, and the attempt says why
    assert receiver.got == []
    (attempt,) = _attempts(api, hook["id"])
    assert attempt["status_code"] is None and "may not reach" in attempt["error"]


def test_the_sample_trigger_is_handled(functions):
    # GIVEN events/sqs_webhooks.json (an event of an account that does not exist here)
    from tally_local.gateway import LambdaContext

    event = support.load_event("sqs_webhooks.json")
    # WHEN the function gets it THEN it is consumed (the event is gone: nothing to deliver)
    answer = functions.handler("WebhooksFunction")(event, LambdaContext("WebhooksFunction"))
    assert answer == {"batchItemFailures": []}


def test_attempts_page_newest_first_with_both_cursors(api, receiver, worker):
    # GIVEN four attempts of one endpoint, a minute apart
    receiver.answers = [500]
    hook = _endpoint(api, receiver.url, ["*"])
    event_id = _customer_created(api)
    now = int(time.time())
    message = {"kind": "deliver", "account": api.account.id, "event": event_id, "endpoint": hook["id"]}
    for n in range(1, 5):
        at = now + 60 * n
        assert worker([_record({**message, "attempt": n, "first": now + 60, "due": at})], at) == []
    path = f"{URL}/{hook['id']}/attempts"
    # WHEN paged two at a time THEN newest first, and the cursors walk both ways
    first = api.get(path, {"limit": 2}).json
    assert [a["attempt"] for a in first["data"]] == [4, 3] and first["has_more"] is True
    second = api.get(path, {"limit": 2, "starting_after": first["data"][-1]["id"]}).json
    assert [a["attempt"] for a in second["data"]] == [2, 1] and second["has_more"] is False
    back = api.get(path, {"limit": 2, "ending_before": second["data"][0]["id"]}).json
    assert [a["attempt"] for a in back["data"]] == [4, 3]
    back_one = api.get(path, {"limit": 1, "ending_before": second["data"][0]["id"]}).json
    assert [a["attempt"] for a in back_one["data"]] == [3] and back_one["has_more"] is True


def test_the_secret_is_shown_once_and_stored_apart(api):
    # GIVEN a created endpoint and its secret
    hook = _endpoint(api, "https://hooks.example.com/x", ["*"])
    secret = hook["secret"]
    # THEN no other answer, no event and no record item carries it
    from tally.settings import settings
    from tally.store.aws import dynamodb
    from tally.store.models import ObjectItem

    answers = [
        api.get(f"{URL}/{hook['id']}").text,
        api.get(URL).text,
        api.post(f"{URL}/{hook['id']}", {"description": "x"}).text,
    ]
    assert all(secret not in text for text in answers)
    assert secret not in json.dumps(support.stored_events(api.account.id))
    record = dynamodb().get_item(
        TableName=settings().objects_table,
        Key={"pk": {"S": ObjectItem.object_key(api.account.id, hook["id"])}, "sk": {"S": "obj"}},
    )["Item"]
    assert secret not in json.dumps(record)
