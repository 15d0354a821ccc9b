"""moto as the local AWS endpoint: served single-threaded on 127.0.0.1 (moto is not thread-safe),
with the template's tables created in it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

from tally_local import moto_patch, wake
from tally_local.template import Template

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # DynamoDB Streams in moto answer only without account-based endpoints (MOTO-NOTES).
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


# The local default is quieter than the template's (LogLevel INFO on AWS, where logs are searched,
# not read as they scroll): WARNING shows failures only; TALLY_LOG_LEVEL=INFO adds a line per period
# closed, invoice finalized, event fanned out to webhooks, clock advanced (README: Run it locally).
DEFAULT_LOG_LEVEL = "WARNING"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class BadLogLevel(ValueError):
    """TALLY_LOG_LEVEL names no logging level."""


def log_level() -> str:
    """The handlers' log level locally: TALLY_LOG_LEVEL (any case), else WARNING. Raises BadLogLevel
    for another value, so a typo is said at start rather than silently logging everything."""
    level = os.environ.get("TALLY_LOG_LEVEL", "").strip().upper() or DEFAULT_LOG_LEVEL
    if level not in LOG_LEVELS:
        raise BadLogLevel(f"TALLY_LOG_LEVEL={level!r} is not one of {', '.join(LOG_LEVELS)}.")
    return level


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Requests that create no work for a poller: they do not ring the bell (`tally_local.wake`). The
# pollers' own reads are among them, so an idle poll never wakes the others. Everything else (any
# write, any SNS call, whose protocol names no target) rings it.
READS = frozenset(
    {
        "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "ListTables",
        "DescribeTimeToLive", "ReceiveMessage", "GetQueueAttributes", "GetQueueUrl", "ListQueues",
        "DescribeStream", "GetShardIterator", "GetRecords", "ListStreams",
    }
)  # fmt: skip


class MotoServer:
    """moto's app behind a single-threaded werkzeug server: requests are handled one at a time,
    each under `lock` (which snapshots and inspections take too); every request that may create
    work rings `wake.BELL` and counts in `writes`."""

    def __init__(self, port: int = 0, *, fast_transactions: bool = True) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        if fast_transactions:  # item-level rollback instead of a table copy per action
            moto_patch.install()

        self.port = port or free_port()
        self.lock = threading.RLock()
        self.writes = 0
        self._app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", self.port, self._serve, threaded=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    def _serve(self, environ: dict[str, Any], start_response: Any) -> Any:
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        with self.lock:
            answer = self._app(environ, start_response)
            if operation not in READS:
                self.writes += 1
                wake.BELL.ring()  # after the write: a woken poller sees it
        return answer

    def next_visible(self, queue_url: str) -> float | None:
        """When the earliest delayed or in-flight message of a queue becomes visible (epoch
        seconds), or None when it has none: how long an idle poller of that queue may sleep."""
        from moto.backends import get_backend

        name = queue_url.rstrip("/").rpartition("/")[2]
        now_ms = time.time() * 1000
        with self.lock:
            for regions in get_backend("sqs").values():
                for backend in regions.values():
                    queue = backend.queues.get(name)
                    if queue is None:
                        continue
                    dues = [max(m.visible_at, m.delayed_until) for m in queue._messages]
                    later = [d for d in dues if d > now_ms]
                    return min(later) / 1000 if later else None
        return None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def table_names(template: Template, prefix: str = "tally-local-") -> dict[str, str]:
    return {logical_id: f"{prefix}{logical_id}" for logical_id in template.tables}


def stack_name(template: Template, names: dict[str, str]) -> str:
    """What `AWS::StackName` stands for locally: the prefix of the local names (`tally-local`), as
    CloudFormation names a stack's queues `<stack>-<logical id>-<suffix>`."""
    logical_id = next(iter(template.tables))
    return names.get(logical_id, f"tally-local-{logical_id}").removesuffix(f"-{logical_id}")


def resolve_env(template: Template, env: dict[str, Any], names: dict[str, str]) -> dict[str, str]:
    """Turn a function's template environment into strings (`!Ref Table` → the local table name)."""
    out = {}
    for key, value in env.items():
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref == "AWS::StackName":
                out[key] = stack_name(template, names)
            elif ref in names:
                out[key] = names[ref]
            else:
                params = template.raw.get("Parameters", {})
                out[key] = str(params.get(ref, {}).get("Default", ref))
        else:
            out[key] = str(value)
    return out


def create_tables(template: Template, names: dict[str, str], client: Any) -> None:
    """Create each table from its template properties (the test schema cannot drift)."""
    existing = set(client.list_tables().get("TableNames", []))
    for logical_id, props in template.tables.items():
        name = names[logical_id]
        if name in existing:
            continue
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        stream = props.get("StreamSpecification")
        if stream:  # the outbox's stream (DispatchFunction reads it: tally_local.streams)
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        client.create_table(**args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def table_differences(template: Template, names: dict[str, str], client: Any) -> list[str]:
    """What differs between the existing tables and template.yaml's (keys, attribute types, global
    secondary indexes): a restored local state made by an older template. Missing tables are not
    differences (create_tables makes them)."""

    def indexes(props: dict[str, Any]) -> dict[str, Any]:
        return {g["IndexName"]: g["KeySchema"] for g in props.get("GlobalSecondaryIndexes") or []}

    out = []
    existing = set(client.list_tables().get("TableNames", []))
    for logical_id, props in template.tables.items():
        if names[logical_id] not in existing:
            continue
        table = client.describe_table(TableName=names[logical_id])["Table"]
        wanted = (
            props["KeySchema"],
            {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]},
        )
        found = (
            table["KeySchema"],
            {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]},
        )
        if wanted != found or indexes(props) != indexes(table):
            out.append(logical_id)
    return out


def create_queues(template: Template, client: Any, prefix: str = "tally-local-") -> dict[str, str]:
    """Create the template's SQS queues (dead-letter queues first, so redrive policies resolve);
    returns {logical id: queue URL}, which `!Ref Queue` stands for in a function's environment."""
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    pending = dict(template.queues)
    while pending:
        for logical_id, props in list(pending.items()):
            redrive = props.get("RedrivePolicy")
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] if redrive else None
            if target is not None and target not in arns:
                continue
            attributes = {
                k: str(props[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod") if k in props
            }
            if target is not None:
                attributes["RedrivePolicy"] = json.dumps(
                    {"deadLetterTargetArn": arns[target], "maxReceiveCount": str(redrive["maxReceiveCount"])}
                )
            url = client.create_queue(QueueName=f"{prefix}{logical_id}", Attributes=attributes)["QueueUrl"]
            urls[logical_id] = url
            arns[logical_id] = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            del pending[logical_id]
    return urls


def create_topics(template: Template, client: Any, prefix: str = "tally-local-") -> dict[str, str]:
    """Create the template's SNS topics; returns {logical id: topic ARN} (what `!Ref Topic` is).
    Locally the topic is not encrypted (moto has no KMS behind it); its subscriptions come from the
    API (/v1/notification_subscriptions), and email/HTTP deliveries from `tally_local.sns_delivery`."""
    return {
        logical_id: client.create_topic(Name=f"{prefix}{logical_id}")["TopicArn"]
        for logical_id in template.topics
    }


def configure_environment(
    template: Template, endpoint_url: str | None, names: dict[str, str]
) -> dict[str, str]:
    """Set the process environment the handlers expect (fake credentials, endpoint, table names)."""
    env = dict(FAKE_CREDENTIALS)
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    for fn in template.functions.values():
        env.update(resolve_env(template, fn.environment, names))
    env["TALLY_WEBHOOKS_LOCAL"] = "true"  # webhooks may reach http://127.0.0.1 (never on AWS)
    env["TALLY_ALLOW_LOCAL_HTTP"] = "true"  # so may https notification subscriptions (never on AWS)
    env.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    env["POWERTOOLS_LOG_LEVEL"] = log_level()
    os.environ.update(env)
    from tally import settings
    from tally.store import aws

    settings.reset()
    aws.reset()
    return env
