"""DynamoDB stream event sources, run locally: what Lambda's event source mapping does for
DispatchFunction, read from moto's stream (`dynamodbstreams`).

`StreamPoller` reads new records of the table's stream, keeps those matching the mapping's
FilterCriteria (`matches`: Lambda's event filtering on the record, as Lambda applies it before
batching), and hands them to the function in batches of BatchSize, in order. On a reported
batch item failure it keeps the failed record and everything after it and retries them (the
checkpoint stays before the failed record); a function error retries the whole batch. After
MaximumRetryAttempts retries the batch's description goes to the on-failure destination queue
(as Lambda sends it: shard, first and last sequence numbers) and the poller moves on. With nothing
to read it backs off and is woken by the next write (`tally_local.wake`). Not emulated:
BisectBatchOnFunctionError (a failed batch is retried whole), several shards (moto has one).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from typing import Any

from tally_local import wake
from tally_local.gateway import LambdaContext

Handler = Callable[[dict, Any], Any]


# -- Lambda event filtering (the subset the template uses: exact values, exists) --------------------
def matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether `record` matches one FilterCriteria pattern."""
    for key, rule in pattern.items():
        present = isinstance(record, dict) and key in record
        value = record.get(key) if present else None
        if isinstance(rule, dict):
            if not matches(rule, value if isinstance(value, dict) else {}):
                return False
            continue
        if not any(_value_matches(r, present, value) for r in rule):
            return False
    return True


def _value_matches(rule: Any, present: bool, value: Any) -> bool:
    if isinstance(rule, dict):
        if "exists" in rule:
            return present is bool(rule["exists"])
        raise ValueError(f"filter rule not supported locally: {rule!r}")
    return present and value == rule


def passes(filters: tuple[dict[str, Any], ...], record: dict[str, Any]) -> bool:
    return not filters or any(matches(f, record) for f in filters)


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A boto3 stream record as Lambda hands it to a function (JSON: binary values base64)."""
    out = json.loads(json.dumps(record, default=_json_default))
    out["eventSourceARN"] = stream_arn
    out.setdefault("awsRegion", "us-east-1")
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def streams_client() -> Any:
    """A DynamoDB Streams client for the configured endpoint (moto's)."""
    import boto3

    from tally.settings import settings

    s = settings()
    return boto3.session.Session().client(
        "dynamodbstreams", region_name=s.region, endpoint_url=s.endpoint_url
    )


class StreamPoller(threading.Thread):
    def __init__(
        self,
        logical_id: str,
        handler: Handler,
        trigger: Any,  # tally_local.template.StreamTrigger
        table_name: str,
        dynamodb: Any,
        streams: Any,
        sqs: Any = None,
        failure_queue_url: str | None = None,
        stop: threading.Event | None = None,
        *,
        latest: bool = False,
        after: str | None = None,
    ) -> None:
        super().__init__(name=f"stream-{logical_id}-{trigger.table}", daemon=True)
        self.logical_id, self.handler, self.trigger = logical_id, handler, trigger
        self.streams, self.sqs, self.failure_queue_url = streams, sqs, failure_queue_url
        self.stop_event = stop or threading.Event()
        self.arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]
        self.shard = shard["ShardId"]
        # `after`: the checkpoint saved with the local state (tally_local.state): resume past it.
        position: dict[str, str] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
            if after
            else {"ShardIteratorType": "LATEST" if latest else "TRIM_HORIZON"}
        )
        self.iterator: str | None = streams.get_shard_iterator(
            StreamArn=self.arn, ShardId=self.shard, **position
        )["ShardIterator"]
        self.checkpoint = after  # the sequence number of the last record checkpointed
        self.pending: list[dict[str, Any]] = []  # read, filtered, not yet delivered (past the checkpoint)
        self.attempts = 0  # retries of the batch at the head of `pending`
        self.delivered = 0

    def read(self) -> int:
        """Read what the stream holds past the iterator into `pending`; returns how many matched."""
        matched = 0
        while self.iterator:
            answer = self.streams.get_records(ShardIterator=self.iterator, Limit=1000)
            self.iterator = answer.get("NextShardIterator")
            records = answer.get("Records", [])
            for record in records:
                shaped = lambda_record(record, self.arn)
                if passes(self.trigger.filters, shaped):
                    self.pending.append(shaped)
                    matched += 1
            if not records:
                break
        return matched

    def deliver_once(self) -> int:
        """Invoke the function with the batch at the head of `pending`; returns records checkpointed."""
        if not self.pending:
            return 0
        batch = self.pending[: self.trigger.batch_size]
        try:
            answer = self.handler({"Records": batch}, LambdaContext(self.logical_id, 60)) or {}
            failures = [f["itemIdentifier"] for f in answer.get("batchItemFailures", [])]
        except Exception as exc:  # the whole batch is retried
            print(f"[{self.logical_id}] batch failed: {exc!r}", flush=True)
            failures = [batch[0]["dynamodb"]["SequenceNumber"]]
        sequences = [r["dynamodb"]["SequenceNumber"] for r in batch]
        if not failures:
            done = len(batch)
        else:
            # Lambda checkpoints before the lowest failed sequence number.
            done = min(sequences.index(f) if f in sequences else 0 for f in failures)
        if done:
            self.attempts = 0
        elif self.trigger.max_retries >= 0 and self.attempts >= self.trigger.max_retries:
            self._give_up(batch)
            done = len(batch)
            self.attempts = 0
        else:
            self.attempts += 1
        if done:
            self.checkpoint = batch[done - 1]["dynamodb"]["SequenceNumber"]
        del self.pending[:done]
        self.delivered += done
        return done

    def _give_up(self, batch: list[dict[str, Any]]) -> None:
        print(
            f"[{self.logical_id}] batch failed {self.attempts + 1} times; sent to the on-failure destination",
            flush=True,
        )
        if self.sqs is None or self.failure_queue_url is None:
            return
        info = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self.attempts + 1,
            },
            "DDBStreamBatchInfo": {
                "shardId": self.shard,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(batch),
                "streamArn": self.arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.failure_queue_url, MessageBody=json.dumps(info))

    def drain(self, max_rounds: int = 100) -> None:
        """Read and deliver until nothing is pending, or `max_rounds` invocations (tests)."""
        self.read()
        for _ in range(max_rounds):
            if not self.pending:
                return
            self.deliver_once()

    def run(self) -> None:
        backoff = wake.Backoff()
        while not self.stop_event.is_set():
            seen = wake.BELL.rings
            try:
                got = self.read()
                progressed = self.deliver_once() if self.pending else 0
            except Exception as exc:
                print(f"[{self.logical_id}] stream polling failed: {exc!r}", flush=True)
                got = progressed = 0
            if got or progressed:
                backoff.reset()
            if not self.pending:  # idle: back off until a write rings (every write reaches moto)
                wake.idle(wake.BELL, seen, backoff, self.stop_event)
            elif not progressed:
                self.stop_event.wait(min(0.2 * 2 ** min(self.attempts, 5), 5.0))  # back off retries


def start(
    template: Any,
    table_names: dict[str, str],
    queue_urls: dict[str, str],
    stop: threading.Event,
    checkpoints: dict[str, str] | None = None,
) -> list[StreamPoller]:
    """Start a poller per DynamoDB stream event source of the template's functions, each past its
    saved checkpoint (`checkpoints`: {poller name: sequence number}) if it has one."""
    from tally.store.aws import dynamodb, sqs
    from tally_local.gateway import load_handler

    streams = streams_client()
    pollers = []
    checkpoints = checkpoints or {}
    for logical_id, fn in template.functions.items():
        for trigger in fn.streams:
            pollers.append(
                StreamPoller(
                    logical_id,
                    load_handler(template, logical_id),
                    trigger,
                    table_names[trigger.table],
                    dynamodb(),
                    streams,
                    sqs(),
                    queue_urls.get(trigger.on_failure) if trigger.on_failure else None,
                    stop,
                    after=checkpoints.get(f"stream-{logical_id}-{trigger.table}"),
                )
            )
    for poller in pollers:
        poller.start()
    return pollers
