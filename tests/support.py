"""Helpers shared by the test layers: sample events, Stripe form encoding, an in-process API client
that goes through the template's routes exactly like API Gateway, and the local server as a
subprocess for end-to-end tests.

Import it as `import support` (pytest puts tests/ on sys.path because tests/ is not a package).
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import inspect
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

_json = json  # `json` is also a keyword argument of Api.post, as in `requests`

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = REPO_ROOT / "events"
DATA_DIR = REPO_ROOT / "tests" / "data"  # everything the tests read lives in the repository


# -- sample events --------------------------------------------------------------------------------
@cache
def _sample(name: str) -> str:
    return (EVENTS_DIR / name).read_text()


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of a sample trigger from events/ (tweak it freely)."""
    return json.loads(_sample(name))


@cache
def _fixtures() -> str:
    return (DATA_DIR / "stripe-fixtures.json").read_text()


def stripe_fixture(name: str) -> dict[str, Any]:
    """A Stripe object as Stripe documents it (tests/data/stripe-fixtures.json), e.g. "invoice"."""
    return json.loads(_fixtures())["resources"][name]


# -- Stripe's form encoding -----------------------------------------------------------------------
def form_encode(data: Mapping[str, Any] | None) -> str:
    """Encode like Stripe's SDKs: `a[b]=1`, `items[0][price]=p`, `expand[0]=x`; None and {} send ''."""
    from tally.api.parsing import encode_form

    return encode_form(data)


# -- responses and Stripe errors --------------------------------------------------------------------
@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


def assert_stripe_error(
    status: int,
    body: Any,
    expected_status: int | None = None,
    *,
    type: str | None = None,
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """Check Stripe's error envelope (`{"error": {"type", "message", ...}}`); returns the error."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("type"), str) and error["type"], error
    assert isinstance(error.get("message"), str) and error["message"], error
    if expected_status is not None:
        assert status == expected_status, (status, error)
    if type is not None:
        assert error["type"] == type, error
    if code is not None:
        assert error.get("code") == code, error
    if param is not None:
        assert error.get("param") == param, error
    return error


# -- the in-process API (handlers under moto's mock_aws) ----------------------------------------------
@dataclass(frozen=True)
class Account:
    id: str
    key: str


def new_account() -> Account:
    """Create an account and register its secret key in the current (mocked) objects table."""
    from tally.api import auth
    from tally.clock import Clock

    account, key = auth.new_account()
    auth.register_key(key, Clock.system())
    return Account(account, key)


_SAMPLE_ONLY_HEADERS = {"authorization", "content-type", "content-length", "idempotency-key"}


class Functions:
    """The template's functions, loaded once (like warm Lambdas) and matched by route."""

    def __init__(self) -> None:
        from tally_local.template import compile_routes, load

        self.template = load()
        self.routes = compile_routes(self.template)
        self._handlers: dict[str, Callable[[dict, Any], dict]] = {}

    def handler(self, logical_id: str) -> Callable[[dict, Any], dict]:
        from tally_local.gateway import load_handler

        if logical_id not in self._handlers:
            self._handlers[logical_id] = load_handler(self.template, logical_id)
        return self._handlers[logical_id]

    def route_table(self, logical_id: str) -> dict[str, Any]:
        """The function module's `ROUTES` dict (routeKey → Route); tests may patch entries."""
        return routes_of(self.handler(logical_id))

    def drain(self, *, prefix: str = "tally-test-", max_rounds: int = 1000) -> int:
        """Feed every message waiting in the template's SQS queues to the function whose event
        source reads that queue (as the local runtime's pollers and Lambda do: batches of the
        mapping's size, messages that did not fail deleted), until every queue is empty; returns
        how many deliveries were made. A failed message is made visible again at once (its
        visibility timeout "passes"), so it is redelivered with a higher `ApproximateReceiveCount`
        until it succeeds or SQS moves it to the dead-letter queue (the queue's redrive policy).
        Queues are the ones the integration fixtures created (`<prefix><logical id>`)."""
        from tally.store.aws import sqs
        from tally_local.gateway import LambdaContext
        from tally_local.triggers import sqs_event

        client = sqs()
        sources = [
            (logical_id, trigger, client.get_queue_url(QueueName=f"{prefix}{trigger.queue}")["QueueUrl"])
            for logical_id, fn in self.template.functions.items()
            for trigger in fn.queues
        ]
        delivered = 0
        for _ in range(max_rounds):
            received = 0
            for logical_id, trigger, url in sources:
                got = client.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(trigger.batch_size, 10),
                    WaitTimeSeconds=0,
                    AttributeNames=["All"],
                ).get("Messages", [])
                if not got:
                    continue
                received += len(got)
                arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
                answer = (
                    self.handler(logical_id)(sqs_event(got, arn["QueueArn"]), LambdaContext(logical_id)) or {}
                )
                failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
                for m in got:
                    if m["MessageId"] in failed:
                        client.change_message_visibility(
                            QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                        )
                    else:
                        client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            delivered += received
            if not received:
                return delivered
        raise AssertionError(f"the queues were not empty after {max_rounds} rounds")


def routes_of(handler: Callable[..., Any]) -> dict[str, Any]:
    """`ROUTES` of the module that defines a (possibly decorated) handler."""
    return inspect.unwrap(handler).__globals__["ROUTES"]


class Api:
    """Calls the handlers the way API Gateway would: template route match → payload 2.0 event.

    `post(path, data)` form-encodes `data` with Stripe's brackets (or sends `json=`, or raw `body=`
    bytes); every method authenticates with `key` (default: this client's account) unless
    `key=None` is passed explicitly.
    """

    _DEFAULT = object()

    def __init__(self, functions: Functions, account: Account) -> None:
        self.functions = functions
        self.account = account

    @property
    def key(self) -> str:
        return self.account.key

    def as_(self, account: Account) -> Api:
        return Api(self.functions, account)

    def post(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        content_type: str | None = None,
        key: Any = _DEFAULT,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        if json is not None:
            payload, ctype = _json.dumps(json).encode(), "application/json"
        elif body is not None:
            payload, ctype = (body.encode() if isinstance(body, str) else body), None
        else:
            payload, ctype = form_encode(data).encode(), "application/x-www-form-urlencoded"
        ctype = content_type or ctype or "application/x-www-form-urlencoded"
        return self.request("POST", path, body=payload, content_type=ctype, key=key, headers=headers)

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        query: str | None = None,
        key: Any = _DEFAULT,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        return self.request(
            "GET", path, query=query if query is not None else form_encode(params), key=key, headers=headers
        )

    def delete(self, path: str, *, key: Any = _DEFAULT, headers: Mapping[str, str] | None = None) -> Response:
        return self.request("DELETE", path, key=key, headers=headers)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        query: str = "",
        content_type: str | None = None,
        key: Any = _DEFAULT,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        from tally_local.gateway import LambdaContext, to_event
        from tally_local.template import match

        event = load_event("api_request.json")
        sent = {k: v for k, v in event["headers"].items() if k not in _SAMPLE_ONLY_HEADERS}
        key = self.key if key is Api._DEFAULT else key
        if key is not None:
            sent["authorization"] = f"Bearer {key}"
        if body:
            sent["content-type"] = content_type or "application/x-www-form-urlencoded"
            sent["content-length"] = str(len(body))
        sent.update({k.lower(): v for k, v in (headers or {}).items()})
        found = match(self.functions.routes, method, path)
        if found is None:  # API Gateway's own answer when no route (not even $default) matches
            return Response(404, {"Content-Type": "application/json"}, '{"message":"Not Found"}')
        route, path_params = found
        built = to_event(method, path, query, sent, body, route, path_params)
        context = {**event["requestContext"], **built.pop("requestContext")}
        context["http"] = {**event["requestContext"]["http"], **context["http"]}
        event.update(built, requestContext=context)
        result = self.functions.handler(route.function)(event, LambdaContext(route.function))
        if AGGREGATE_AFTER_REQUESTS["on"] and "/meter_event" in path:
            # what the usage stream's aggregator does after a meter event's write (only those
            # routes write event items; every usage read catches the stream up by itself)
            aggregate_usage(self.functions)
        raw = result.get("body") or ""
        text = base64.b64decode(raw).decode() if result.get("isBase64Encoded") else raw
        return Response(int(result.get("statusCode", 200)), dict(result.get("headers") or {}), text)


# DynamoDB rejects key values over 2048 bytes on every request (GetItem, Query, DeleteItem…); moto
# checks only on writes. Without this, an over-long id in a URL is a 404 in tests and a 500 on AWS.
KEY_VALUE_MAX_BYTES = 2048
_KEY_OPERATIONS = {"GetItem", "DeleteItem", "UpdateItem"}


def _key_values(operation: str, params: dict[str, Any]) -> list[Any]:
    if operation in _KEY_OPERATIONS:
        return list(params.get("Key", {}).values())
    if operation == "BatchGetItem":
        return [
            v for spec in params.get("RequestItems", {}).values() for k in spec["Keys"] for v in k.values()
        ]
    if operation == "TransactWriteItems":
        ops = [op for item in params.get("TransactItems", []) for op in item.values()]
        return [v for op in ops for v in op.get("Key", {}).values()]
    if operation == "Query" and params.get("KeyConditionExpression"):
        return list(params.get("ExpressionAttributeValues", {}).values())
    return []


def _check_key_sizes(params: dict[str, Any], model: Any, **_: Any) -> None:
    from botocore.exceptions import ClientError

    for value in _key_values(model.name, params):
        text = value.get("S") if isinstance(value, dict) else None
        if isinstance(text, str) and len(text.encode("utf-8", "surrogatepass")) > KEY_VALUE_MAX_BYTES:
            error = {
                "Code": "ValidationException",
                "Message": "One or more parameter values were invalid: Size of hashkey has exceeded the "
                f"maximum size limit of{KEY_VALUE_MAX_BYTES} bytes",
            }
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}, model.name)


def enforce_key_size_limits() -> None:
    """Make every botocore session created from now on reject over-long DynamoDB keys like AWS does."""
    from botocore import handlers

    entry = ("before-parameter-build.dynamodb", _check_key_sizes)
    if entry not in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.append(entry)


# -- IAM grants in template.yaml ----------------------------------------------------------------------
# A permission as (table, queue, topic or key logical id, IAM action, "table", "index", "queue",
# "topic" or "key"): what a function's inline policy grants, and what a recorded call needs.
# DynamoDB actions lose their `dynamodb:` prefix; SQS, SNS and KMS actions keep theirs.
Grant = tuple[str, str, str]


def _grant_target(resource: Any) -> tuple[str, str]:
    """`!GetAtt T.Arn` → (T, "table"), or (Q, "queue") for an SQS queue; `!Sub "${T.Arn}/index/*"`
    → (T, "index")."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        from tally_local.template import load

        logical_id, attribute = resource["Fn::GetAtt"]
        if attribute == "StreamArn":  # DynamoDB Streams calls (the usage catch-up) are not recorded
            return logical_id, "stream"
        assert attribute == "Arn", resource
        if logical_id in load().queues:
            return logical_id, "queue"
        if load().raw["Resources"][logical_id]["Type"] == "AWS::KMS::Key":
            return logical_id, "key"
        return logical_id, "table"
    if isinstance(resource, dict) and "Ref" in resource and resource["Ref"] in _topics():
        return resource["Ref"], "topic"  # !Ref of a topic is its ARN
    if isinstance(resource, dict) and resource.get("Fn::Sub") in _ACCOUNT_WIDE:
        return _ACCOUNT_WIDE[resource["Fn::Sub"]]
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        found = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/\*", resource["Fn::Sub"])
        assert found, resource
        return found.group(1), "index"
    raise AssertionError(f"unexpected policy resource {resource!r}")


# Resources named by a pattern: each account's notification topic, and any queue of the AWS account
# (a notification subscription reads a customer queue's policy).
ACCOUNT_TOPICS = "NotificationTopic-acct_*"
ANY_QUEUE = "*"
_ACCOUNT_WIDE = {
    "${NotificationTopic}-acct_*": (ACCOUNT_TOPICS, "topic"),
    "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*": (ANY_QUEUE, "queue"),
}


def template_grants(logical_id: str) -> set[Grant]:
    """The DynamoDB, SQS, SNS and KMS permissions a function's inline policy statements grant."""
    from tally_local.template import load

    grants: set[Grant] = set()
    for policy in load().raw["Resources"][logical_id]["Properties"].get("Policies", []):
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow", statement
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                table, scope = _grant_target(resource)
                grants.update((table, action.removeprefix("dynamodb:"), scope) for action in actions)
    return grants


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


_SQS_ACTIONS = {"SendMessageBatch": "sqs:SendMessage", "SendMessage": "sqs:SendMessage"}


def _topics() -> dict[str, Any]:
    from tally_local.template import load

    return load().topics


def needed_sns_grants(operation: str, params: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(topic name, IAM action, "topic") an SNS call is authorized against; publishing to a topic
    encrypted with a KMS key also needs kms:GenerateDataKey and kms:Decrypt on that key."""
    if operation == "Unsubscribe":  # authorized on the subscription's topic
        arn = str(params.get("SubscriptionArn", "")).rsplit(":", 1)[0]
    elif operation == "CreateTopic":
        arn = str(params.get("Name", ""))
    else:
        arn = str(params.get("TopicArn", ""))
    name = arn.rsplit(":", 1)[-1]
    stack_topic = name
    if re.search(r"NotificationTopic-acct_\w+$", name):  # an account's topic, encrypted as the stack's
        stack_topic, name = name.rsplit("-", 1)[0], ACCOUNT_TOPICS
    grants = [(name, f"sns:{operation}", "topic")]
    if operation in ("Publish", "PublishBatch"):
        for logical_id, props in _topics().items():
            key = props.get("KmsMasterKeyId")
            if stack_topic.endswith(logical_id) and isinstance(key, dict) and "Ref" in key:
                grants += [(key["Ref"], "kms:GenerateDataKey", "key"), (key["Ref"], "kms:Decrypt", "key")]
    return grants


def needed_sqs_grants(operation: str, params: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(queue name, IAM action, "queue") an SQS call is authorized against."""
    if operation in ("GetQueueUrl", "GetQueueAttributes"):  # only ever of a customer's queue
        return [(ANY_QUEUE, f"sqs:{operation}", "queue")]
    name = str(params.get("QueueUrl", "")).rsplit("/", 1)[-1]
    return [(name, _SQS_ACTIONS.get(operation, f"sqs:{operation}"), "queue")]


def needed_grants(operation: str, params: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(table name, IAM action, scope) an API call is authorized against. Transactions and batches
    are authorized per item action and table (a Put inside TransactWriteItems needs PutItem)."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            (body["TableName"], _TRANSACT_ACTIONS[kind], "table")
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(table, operation, "table") for table in params["RequestItems"]]
    if operation == "BatchExecuteStatement":  # authorized per statement (Tally sends INSERTs only)
        from tally.store.usage.actions import inserted

        return [(found[0], "PartiQLInsert", "table") for s in params["Statements"] if (found := inserted(s))]
    return [(params.get("TableName", "*"), operation, "index" if params.get("IndexName") else "table")]


def advance_clock(api: Api, functions: Functions, clock_id: str, frozen_time: int) -> dict[str, Any]:
    """Advance a test clock as a Stripe user would, then let its worker run (`functions.drain()`);
    returns the clock as retrieved afterwards (`ready` at `frozen_time` when all went well). The
    advance must be accepted (asserts a 200 answering `advancing`)."""
    answer = api.post(f"/v1/test_helpers/test_clocks/{clock_id}/advance", {"frozen_time": frozen_time})
    assert answer.status == 200, answer.text
    assert answer.json["status"] == "advancing", answer.json
    functions.drain()
    clock = api.get(f"/v1/test_helpers/test_clocks/{clock_id}")
    assert clock.status == 200, clock.text
    return dict(clock.json)


def stored_events(account: str) -> list[dict[str, Any]]:
    """An account's event log, newest first, read from the store (not through the API)."""
    from tally.clock import Clock
    from tally.domain.listing import Window
    from tally.store import lists

    out: list[dict[str, Any]] = []
    after = None
    while True:
        page = lists.list_events(account, Window(limit=100, starting_after=after), Clock.system())
        out += page.data
        if not page.has_more:
            return out
        after = page.data[-1]["id"]


# -- the outbox: the objects table's stream delivered by DispatchFunction ------------------------------
@dataclass
class Outbox:
    """The objects table's stream read from now on, fed to DispatchFunction as Lambda would
    (`tally_local.streams`: the template's filters, batch item failures retried), under mock_aws."""

    poller: Any
    mailbox: Path

    @classmethod
    def start(cls, functions: Functions, table: str) -> Outbox:
        from tally.store.aws import dynamodb, sqs
        from tally_local import sns_delivery, streams

        (trigger,) = functions.template.functions["DispatchFunction"].streams
        poller = streams.StreamPoller(
            "DispatchFunction",
            lambda event, context: functions.handler("DispatchFunction")(event, context),
            trigger,
            table,
            dynamodb(),
            streams.streams_client(),
            sqs(),
            os.environ.get("TALLY_TEST_DISPATCH_DLQ_URL"),
            latest=True,
        )
        return cls(poller, sns_delivery.mailbox())

    def drain(self, max_rounds: int = 100) -> None:
        """Deliver every event written so far (retrying failures up to `max_rounds` invocations),
        then wait for the local SNS deliveries (mailbox files, POSTs) to finish."""
        from tally_local import sns_delivery

        self.poller.drain(max_rounds)
        sns_delivery.flush()

    def mail_to(self, address: str) -> list[str]:
        """The mailbox files addressed to `address`, oldest first."""
        return [
            p.read_text() for p in sorted(self.mailbox.glob("*.eml")) if f"\nTo: {address}\n" in p.read_text()
        ]


# -- the usage aggregator: the usage table's stream delivered to UsageAggregatorFunction ------------
_usage_poller: dict[str, Any] = {}
# Tests that delay aggregation on purpose (the close's watermark) turn the harness's drain off.
AGGREGATE_AFTER_REQUESTS = {"on": True}


@contextlib.contextmanager
def dynamodb_calls() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every DynamoDB call made inside, in order: (operation, its parameters). Requests inside do
    not drain the usage stream (`aggregation_paused`): what one request costs, the aggregator's
    own reads apart."""
    from botocore.client import BaseClient

    calls: list[tuple[str, dict[str, Any]]] = []
    original = BaseClient._make_api_call

    def counted(client: Any, operation: str, params: Any) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            calls.append((operation, params))
        return original(client, operation, params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        with aggregation_paused():
            yield calls
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


@contextlib.contextmanager
def aggregation_paused() -> Iterator[None]:
    """Requests made inside do not drain the usage stream (the aggregator is "late")."""
    AGGREGATE_AFTER_REQUESTS["on"] = False
    try:
        yield
    finally:
        AGGREGATE_AFTER_REQUESTS["on"] = True


def reset_usage_stream() -> None:
    """Forget the usage stream's poller and what the store knows of the stream (tables recreated)."""
    from tally.store.usage import catchup

    _usage_poller.clear()
    catchup.reset()


def aggregate_usage(functions: Functions, max_rounds: int = 3) -> None:
    """Deliver the usage table's new stream records to UsageAggregatorFunction, as its event
    source mapping does (under mock_aws; `tally_local.streams`, the template's filters). A failing
    invocation is retried up to `max_rounds` times, then left pending for the next call (as Lambda
    keeps retrying): an injected failure must not stop the test's next request."""
    from tally.settings import settings
    from tally.store.aws import dynamodb
    from tally_local import streams

    if "poller" not in _usage_poller:
        (trigger,) = functions.template.functions["UsageAggregatorFunction"].streams
        _usage_poller["poller"] = streams.StreamPoller(
            "UsageAggregatorFunction",
            lambda event, context: functions.handler("UsageAggregatorFunction")(event, context),
            trigger,
            settings().usage_table,
            dynamodb(),
            streams.streams_client(),
        )
    _usage_poller["poller"].drain(max_rounds)


# -- the local server as a subprocess ----------------------------------------------------------------
def new_test_key() -> str:
    """A secret key for TALLY_API_KEY (its account is derived from the key's hash)."""
    return f"sk_test_e2e{secrets.token_hex(16)}"


_RUNNING = re.compile(r"Tally is running at (http://\S+)")
_MAILBOX = re.compile(r"mailbox \(SNS email deliveries, one file per message\): (\S+)")
_MOTO = re.compile(r"AWS endpoint \(moto\): (http://\S+)\s+objects table: (\S+)")


@dataclass
class LocalServer:
    """`python -m tally_local` in its own process (with its own moto), on a free port."""

    url: str
    keys: list[str]
    process: subprocess.Popen
    log: Path
    unused: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        keys: list[str],
        # No test times the start: on the 2-core machine shared with other suites (load 12–16), a
        # niced start took 32 s, and 30 s here failed whole e2e and concurrency modules.
        timeout: float = 120.0,
        *,
        state_dir: Path | None = None,
        args: tuple[str, ...] = (),
    ) -> LocalServer:
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "TALLY_API_KEY")}
        # TALLY_PORT=0: the gateway binds a free port and prints it, so no port can be taken meanwhile.
        env.update(TALLY_PORT="0", TALLY_API_KEY=",".join(keys), PYTHONUNBUFFERED="1")
        # Its own mailbox (SNS email deliveries), not the developer's .tally/mailbox.
        env["TALLY_MAILBOX"] = tempfile.mkdtemp(prefix="tally-e2e-mailbox-")
        # runtime: its own saved state (tally_local.state), never the developer's .tally/; without a
        # state_dir, nothing is saved (the shared e2e server need not snapshot every test's data).
        env["TALLY_STATE_DIR"] = str(state_dir or tempfile.mkdtemp(prefix="tally-e2e-state-"))
        if state_dir is None:
            args = ("--in-memory", *args)
        fd, name = tempfile.mkstemp(prefix="tally-e2e-", suffix=".log")
        log = Path(name)
        with os.fdopen(fd, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "tally_local", *args],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = _RUNNING.search(log.read_text(errors="replace"))
            if found:
                return cls(found.group(1), list(keys), process, log, list(keys))
            if process.poll() is not None:
                break
            time.sleep(0.05)
        process.kill()
        process.wait(5)
        raise RuntimeError(f"the local server did not start:\n{log.read_text(errors='replace')}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def printed(self, pattern: re.Pattern[str], timeout: float = 15.0) -> re.Match[str] | None:
        """`pattern` in the server's output, waiting for it: the server prints its banner (one line
        per key) after it starts answering, so a line may not be there yet."""
        deadline = time.monotonic() + timeout
        while True:
            found = pattern.search(self.output())
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def aws(self) -> tuple[str, str]:
        """(moto endpoint URL, objects table name) as the server printed them."""
        found = self.printed(_MOTO)
        if not found:
            raise AssertionError(f"the server did not print its AWS endpoint:\n{self.output()}")
        return found.group(1), found.group(2)

    def mailbox(self) -> Path:
        """The folder the server writes SNS email deliveries to, as it printed it."""
        found = self.printed(_MAILBOX)
        if not found:
            raise AssertionError(f"the server did not print its mailbox:\n{self.output()}")
        return Path(found.group(1))

    def take_key(self) -> str:
        """A key whose account no other test has used."""
        if not self.unused:
            raise RuntimeError("all e2e accounts are taken: raise E2E_ACCOUNTS in tests/e2e/conftest.py")
        return self.unused.pop()

    def stop(self, timeout: float = 30.0) -> tuple[int, str]:
        """SIGTERM, as a process manager would; returns (exit code, output). Raises if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise AssertionError(
                f"the local server ignored SIGTERM for {timeout}s:\n{self.output()}"
            ) from None
        output = self.output()
        self.log.unlink(missing_ok=True)
        return code, output


# -- crash injection ----------------------------------------------------------------------------------
class InjectedCrash(RuntimeError):
    """A failure injected in place of one object-store transaction (the process "dies" there)."""


class TransactionCrash:
    """Counts the object store's TransactWriteItems; the `at`-th one fails before reaching DynamoDB.

    Use as a context manager: `with TransactionCrash(at=2) as crash: ...`; `crash.calls` is how many
    transactions were attempted (so a test knows when `at` was past the request's last one).
    """

    def __init__(self, at: int) -> None:
        self.at = at
        self.calls = 0
        self._real: Any = None

    def __enter__(self) -> TransactionCrash:
        from pynamodb.connection.base import Connection

        self._real = Connection.transact_write_items
        crash = self

        def transact_write_items(conn: Any, *args: Any, **kwargs: Any) -> Any:
            crash.calls += 1
            if crash.calls == crash.at:
                raise InjectedCrash(f"injected crash at transaction {crash.at}")
            return crash._real(conn, *args, **kwargs)

        Connection.transact_write_items = transact_write_items  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        from pynamodb.connection.base import Connection

        Connection.transact_write_items = self._real  # type: ignore[method-assign]


# -- a webhook receiver ------------------------------------------------------------------------------
@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 answering the statuses in `answers` in turn (then the last
    one), recording every request (headers, body)."""

    answers: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    drip: int = 0  # header lines sent 0.1 s apart before the answer ends
    got: list[tuple[dict[str, str], str]] = field(default_factory=list)
    server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/stripe"

    def start(self) -> WebhookReceiver:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = outer.answers[min(len(outer.got) - 1, len(outer.answers) - 1)]
                if outer.delay:
                    time.sleep(outer.delay)
                try:
                    self.send_response(status)
                    for n in range(outer.drip):  # one header line at a time, each within any read timeout
                        self.send_header(f"X-Drip-{n}", "1")
                        self.flush_headers()
                        time.sleep(0.1)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up (its timeout): what a slow endpoint sees

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def summed_usage(api: Api, meter_id: str, customer: str) -> int:
    """The customer's usage of the meter over the last day (and the next 10 minutes), summed from
    `GET /v1/billing/meters/{id}/event_summaries` as a user would read it."""
    now = int(time.time())
    resp = api.get(
        f"/v1/billing/meters/{meter_id}/event_summaries",
        {"customer": customer, "start_time": (now - 86400) // 60 * 60, "end_time": (now // 60 + 10) * 60},
    )
    assert resp.status == 200, resp.text
    return sum(s["aggregated_value"] for s in resp.json["data"])


def usage_meter(meter_id: str, formula: str = "sum", shards: int = 1) -> Any:
    """A Meter as the usage store's tests read it (`usage.aggregate`, `hourly`): only its id,
    formula and write shards matter there."""
    from tally.domain.aggregation import Formula
    from tally.domain.records import Meter

    now = int(time.time())
    return Meter(
        id=meter_id,
        created=now,
        updated=now,
        livemode=False,
        display_name="m",
        event_name="e",
        formula=Formula(formula),
        write_shards=shards,
    )
