"""The template's non-HTTP triggers, run locally: schedules fire, SQS messages reach their function.

EventBridge Scheduler never fires in moto (MOTO-NOTES), so `Scheduler` fires each `ScheduleV2` of
template.yaml itself, at the start of each period (`rate(1 minute)`: every minute, on the minute),
with the schedule's Input and `<aws.scheduler.scheduled-time>` filled in, as AWS would. `Poller`
reads each `SQS` event source mapping: it receives up to the mapping's batch size, calls the
function with an SQS event, and deletes the messages that did not fail (`batchItemFailures`), so
failed ones come back after their visibility timeout and go to the dead-letter queue after the
redrive limit, as on AWS. An idle `Poller` backs off and is woken at once by new work
(`tally_local.wake`). Nothing is declared here: both come from template.yaml.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from tally_local import wake
from tally_local.gateway import LambdaContext, load_handler
from tally_local.template import QueueTrigger, Schedule, Template

Handler = Callable[[dict, Any], Any]
# Between two polls of a queue while work keeps ringing (Lambda's SQS pollers, with the template's
# 1-s batching window, are not faster); the stream's pollers use wake.IDLE_MIN_S.
QUEUE_POLL_GAP_S = 0.1


def scheduled_event(schedule: Schedule, at: float, arn: str) -> dict[str, Any]:
    """The payload EventBridge Scheduler sends for `schedule` at instant `at`."""
    when = dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if schedule.input is None:
        return {}
    text = schedule.input.replace("<aws.scheduler.scheduled-time>", when)
    return json.loads(text.replace("<aws.scheduler.schedule-arn>", arn))


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


class Scheduler(threading.Thread):
    def __init__(self, logical_id: str, handler: Handler, schedule: Schedule, stop: threading.Event) -> None:
        super().__init__(name=f"schedule-{logical_id}-{schedule.name}", daemon=True)
        self.logical_id, self.handler, self.schedule, self.stop_event = logical_id, handler, schedule, stop
        self.arn = f"arn:aws:scheduler:us-east-1:000000000000:schedule/default/{logical_id}-{schedule.name}"

    def run(self) -> None:
        period = self.schedule.seconds
        due = (time.time() // period + 1) * period  # the next boundary, like a rate schedule
        while not self.stop_event.wait(max(0.0, due - time.time())):
            try:
                self.handler(
                    scheduled_event(self.schedule, due, self.arn), LambdaContext(self.logical_id, 60)
                )
            except Exception as exc:  # the next firing re-runs it, as the scheduler's retry would
                print(f"[{self.logical_id}] scheduled run failed: {exc!r}", flush=True)
            due += period


class Poller(threading.Thread):
    def __init__(
        self,
        logical_id: str,
        handler: Handler,
        trigger: QueueTrigger,
        queue_url: str,
        client: Any,
        stop: threading.Event,
        visibility: Callable[[str], float | None] | None = None,
    ) -> None:
        super().__init__(name=f"sqs-{logical_id}-{trigger.queue}", daemon=True)
        self.logical_id, self.handler, self.trigger = logical_id, handler, trigger
        self.url, self.client, self.stop_event = queue_url, client, stop
        self.visibility = visibility
        attrs = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.arn = attrs["Attributes"]["QueueArn"]

    def poll_once(self) -> int:
        """One receive → invoke → delete round; returns how many messages it received."""
        got = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=min(self.trigger.batch_size, 10),
            WaitTimeSeconds=0,
            AttributeNames=["All"],  # ApproximateReceiveCount, as Lambda's SQS event carries it
        ).get("Messages", [])
        if not got:
            return 0
        try:
            answer = self.handler(sqs_event(got, self.arn), LambdaContext(self.logical_id, 30)) or {}
        except Exception as exc:  # the whole batch failed: every message comes back
            print(f"[{self.logical_id}] batch failed: {exc!r}", flush=True)
            return len(got)
        failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        done = [m for m in got if m["MessageId"] not in failed]
        if done:
            self.client.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)],
            )
        return len(got)

    def run(self) -> None:
        backoff = wake.Backoff(low=QUEUE_POLL_GAP_S)
        while not self.stop_event.is_set():
            seen = wake.BELL.rings
            try:
                received = self.poll_once()
            except Exception as exc:
                print(f"[{self.logical_id}] polling failed: {exc!r}", flush=True)
                received = 0
            if received:
                backoff.reset()
            else:  # idle: back off, but wake for a ring or when a delayed or returning message is due
                wake.idle(wake.BELL, seen, backoff, self.stop_event, due=self.next_due())

    def next_due(self) -> float | None:
        """When the next invisible message of the queue becomes visible (None: none, or unknown)."""
        return self.visibility(self.url) if self.visibility else None


def start(
    template: Template,
    queue_urls: dict[str, str],
    client: Any,
    stop: threading.Event,
    visibility: Callable[[str], float | None] | None = None,
) -> list[threading.Thread]:
    """Start a thread per schedule and per SQS event source of the template's functions.
    `visibility(queue_url)` tells when a queue's next invisible message becomes visible."""
    threads: list[threading.Thread] = []
    for logical_id, fn in template.functions.items():
        if not (fn.schedules or fn.queues):
            continue
        handler = load_handler(template, logical_id)
        threads += [Scheduler(logical_id, handler, s, stop) for s in fn.schedules]
        threads += [
            Poller(logical_id, handler, q, queue_urls[q.queue], client, stop, visibility) for q in fn.queues
        ]
    for thread in threads:
        thread.start()
    return threads
