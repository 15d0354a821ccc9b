"""SNS deliveries to people and URLs, done locally: moto sends no email and would POST to an HTTP(S)
subscriber synchronously inside `Publish` (making the publisher fail when the subscriber does,
which SNS never does). `install()` changes moto's subscription delivery for `email`, `email-json`,
`http` and `https`, after moto has applied the subscription's filter policy:

- email: one file per message in the mailbox folder (`TALLY_MAILBOX`, default `.tally/mailbox/`;
  `make run` prints it at startup, and one line per mail), named `<time>-<message id>.eml`, with
  the To/Subject headers and the message as the body, as SNS's email would carry it.
- http(s): a real POST of SNS's notification JSON (`Type: Notification`, the message, its
  attributes, the `x-amz-sns-*` headers) from a background thread, with SNS-like retries
  (immediate, then 1 s, then 5 s); a failing subscriber never fails the publisher.

`sqs` subscriptions are delivered by moto itself (filter policies included). Subscriptions are
confirmed at once locally (moto marks them confirmed): there is no SubscriptionConfirmation
message and no confirmation link to follow.

It also makes moto's `Subscribe` behave like SNS's for an endpoint already subscribed to the same
topic: with other attributes (another filter policy) SNS refuses with InvalidParameter, where moto
would silently overwrite the standing subscription's filter policy. (Each account has its own
topic, so this binds within one account only.) Not emulated: SNS's confirmation of email and HTTPS
subscriptions (docs/API.md, "Notifications", threat model).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tally_local.template import ROOT

DEFAULT_MAILBOX = ROOT / ".tally" / "mailbox"
RETRY_DELAYS = (0.0, 1.0, 5.0)
_jobs: queue.Queue[tuple[str, Any] | None] = queue.Queue()
_worker: threading.Thread | None = None
_lock = threading.Lock()
_installed = False


def mailbox() -> Path:
    return Path(os.environ.get("TALLY_MAILBOX") or DEFAULT_MAILBOX)


def install() -> None:
    """Patch moto (once per process); deliveries then run on one background thread."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.sns.models import Subscription
        from moto.sns.responses import SNSResponse

        original_publish = Subscription.publish
        original_subscribe = SNSResponse.subscribe

        def publish(
            self: Any,
            message: str,
            message_id: str,
            subject: str | None = None,
            message_attributes: dict[str, Any] | None = None,
            **kwargs: Any,
        ) -> None:
            if self.protocol not in ("email", "email-json", "http", "https"):
                return original_publish(
                    self,
                    message,
                    message_id,
                    subject=subject,
                    message_attributes=message_attributes,
                    **kwargs,
                )
            if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(
                message_attributes, message
            ):
                return None
            _enqueue(
                self.protocol,
                {
                    "endpoint": self.endpoint,
                    "subscription_arn": self.arn,
                    "topic_arn": self.topic.arn,
                    "message": message,
                    "message_id": message_id,
                    "subject": subject,
                    "attributes": message_attributes or {},
                },
            )
            return None

        def subscribe(self: Any) -> Any:
            from moto.sns.exceptions import SNSInvalidParameter

            standing = self.backend._find_subscription(
                self._get_param("TopicArn"), self._get_param("Endpoint"), self._get_param("Protocol")
            )
            wanted = self._get_param("Attributes", {}) or {}
            if standing is not None and _policy(wanted.get("FilterPolicy")) != _policy(
                standing.attributes.get("FilterPolicy")
            ):
                raise SNSInvalidParameter(
                    "Invalid parameter: Attributes Reason: "
                    "Subscription already exists with different attributes"
                )
            return original_subscribe(self)

        Subscription.publish = publish  # type: ignore[method-assign,assignment]
        SNSResponse.subscribe = subscribe  # type: ignore[method-assign]
        _installed = True


def _policy(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) and text else None


def _enqueue(protocol: str, delivery: dict[str, Any]) -> None:
    """Email: one file, written now (no network: it must never wait behind an HTTP endpoint's
    retries). HTTP(S): a POST from the background thread, which may retry with delays."""
    global _worker
    if protocol.startswith("email"):
        try:
            print(f"[sns] mail to {delivery['endpoint']}: {write_mail(delivery)}", flush=True)
        except Exception as exc:  # a delivery problem is the subscriber's, never the publisher's
            print(f"[sns] delivery failed: {exc!r}", flush=True)
        return
    with _lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_run, name="sns-delivery", daemon=True)
            _worker.start()
    _jobs.put((protocol, delivery))


def flush(timeout: float = 10.0) -> None:
    """Wait until every delivery handed over so far was written or POSTed (tests)."""
    deadline = time.monotonic() + timeout
    while _jobs.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.01)


def _run() -> None:
    while True:
        job = _jobs.get()
        try:
            if job is not None:
                protocol, delivery = job
                if protocol.startswith("email"):
                    path = write_mail(delivery)
                    print(f"[sns] mail to {delivery['endpoint']}: {path}", flush=True)
                else:
                    post(delivery)
        except Exception as exc:  # a delivery problem is the subscriber's, never the publisher's
            print(f"[sns] delivery failed: {exc!r}", flush=True)
        finally:
            _jobs.task_done()


def _timestamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_mail(delivery: dict[str, Any]) -> Path:
    """One message as one file in the mailbox (written whole, then renamed: readers never see half)."""
    folder = mailbox()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    path = folder / f"{stamp}-{delivery['message_id']}.eml"
    attributes = {k: v.get("Value") for k, v in delivery["attributes"].items()}
    text = (
        f"From: Tally <no-reply@sns.amazonaws.com>\n"
        f"To: {delivery['endpoint']}\n"
        f"Subject: {delivery['subject'] or 'AWS Notification Message'}\n"
        f"Date: {_timestamp()}\n"
        f"X-SNS-Message-Id: {delivery['message_id']}\n"
        f"X-SNS-Topic-Arn: {delivery['topic_arn']}\n"
        f"X-SNS-Subscription-Arn: {delivery['subscription_arn']}\n"
        f"X-SNS-Message-Attributes: {json.dumps(attributes, sort_keys=True)}\n"
        f"\n{delivery['message']}\n"
    )
    partial = path.with_suffix(".tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def notification(delivery: dict[str, Any]) -> dict[str, Any]:
    """SNS's HTTP(S) notification body (unsigned locally: SignatureVersion present, Signature empty)."""
    body: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": delivery["message_id"],
        "TopicArn": delivery["topic_arn"],
        "Message": delivery["message"],
        "Timestamp": _timestamp(),
        "SignatureVersion": "1",
        "Signature": "",
        "SigningCertURL": "",
        "UnsubscribeURL": "",
        "MessageAttributes": {
            k: {"Type": v.get("Type", "String"), "Value": v.get("Value")}
            for k, v in delivery["attributes"].items()
        },
    }
    if delivery.get("subject"):
        body["Subject"] = delivery["subject"]
    return body


def post(delivery: dict[str, Any]) -> None:
    data = json.dumps(notification(delivery)).encode()
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": delivery["message_id"],
        "x-amz-sns-topic-arn": delivery["topic_arn"],
        "x-amz-sns-subscription-arn": delivery["subscription_arn"],
        "User-Agent": "Amazon Simple Notification Service Agent",
    }
    last: Exception | None = None
    for delay in RETRY_DELAYS:
        time.sleep(delay)
        try:
            request = urllib.request.Request(delivery["endpoint"], data=data, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=15) as answer:
                if 200 <= answer.status < 300:
                    return
        except Exception as exc:
            last = exc
    print(
        f"[sns] giving up on {delivery['endpoint']} after {len(RETRY_DELAYS)} attempts: {last!r}", flush=True
    )
