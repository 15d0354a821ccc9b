"""The bench's local stack: moto on 127.0.0.1, tables from template.yaml, handlers in-process.

Nothing here leaves 127.0.0.1: the environment gets fake credentials and AWS_ENDPOINT_URL pointing
at the moto server before any AWS client exists (clients are created lazily by tally.store.aws).
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import io
import json
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tally.api.parsing import encode_form
from tally.store.usage.actions import inserted, item_bytes, value_bytes

warnings.filterwarnings("ignore", message="No application metrics to publish")

# -- Stripe's form encoding (as the SDKs send it): the parser's own inverse -------------------------


form_encode = encode_form


# -- counting every DynamoDB request the process sends ---------------------------------------------
def inserted_items(params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table, item) of each PartiQL INSERT of a BatchExecuteStatement (`usage.write`'s batches)."""
    return [found for s in params.get("Statements", []) if (found := inserted(s)) is not None]


@dataclass
class DynamoCounter:
    """Counts DynamoDB API calls made by any botocore client (boto3 and PynamoDB alike).

    `usage.STATS` covers the usage store; this also sees the objects table (auth, meter and
    customer lookups) so the report can say what else is on the ingest path.
    """

    ops: Counter = field(default_factory=Counter)
    consistent_gets: int = 0
    eventual_gets: int = 0
    writes_outside_usage: int = 0
    sdk_cpu_s: float = 0.0  # CPU of the calling thread inside botocore API calls (not moto's)
    other_wru: int = 0  # modelled WRU of writes outside the usage store (idempotency records)
    _last_put: int = 0
    _tables: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        self.ops.clear()
        self.consistent_gets = self.eventual_gets = self.writes_outside_usage = 0
        self.sdk_cpu_s = 0.0
        self.other_wru = self._last_put = 0

    def table_label(self, name: str | None) -> str:
        return self._tables.get(name or "", name or "?")

    def install(self, table_labels: dict[str, str]) -> None:
        import botocore.client

        self._tables = dict(table_labels)
        original = botocore.client.BaseClient._make_api_call
        counter = self

        def counted(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if (
                client.meta.service_model.service_name == "dynamodb"
                and threading.current_thread().name != "moto"
            ):
                counter.record(operation_name, api_params)
            t0 = time.thread_time()
            try:
                return original(client, operation_name, api_params)
            finally:
                counter.sdk_cpu_s += time.thread_time() - t0

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]

    def record(self, operation: str, params: dict[str, Any]) -> None:
        tables: set[str] = set()
        if "TableName" in params:
            tables.add(params["TableName"])
        for item in params.get("TransactItems", []):
            for action in item.values():
                tables.add(action.get("TableName", ""))
        tables.update(params.get("RequestItems", {}))
        tables.update(table for table, _ in inserted_items(params))
        labels = sorted(self.table_label(t) for t in tables)
        self.ops[f"{operation}({'+'.join(labels)})"] += 1
        # A consistent Query of one partition of the objects table (a meter's claim with its alert
        # watch list, `meter_names.watched`) replaced a GetItem and reads ≤ 4 KB: 1 RRU, like one.
        small_query = operation == "Query" and "IndexName" not in params and labels == ["objects"]
        if operation == "GetItem" or small_query:
            if params.get("ConsistentRead"):
                self.consistent_gets += 1
            else:
                self.eventual_gets += 1
        if operation == "BatchGetItem":  # each key is charged as one GetItem (found or not)
            for wanted in params.get("RequestItems", {}).values():
                if wanted.get("ConsistentRead"):
                    self.consistent_gets += len(wanted.get("Keys", []))
                else:
                    self.eventual_gets += len(wanted.get("Keys", []))
        writes = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
        writes.add("BatchExecuteStatement")
        if operation in writes and (labels != ["usage"]):
            self.writes_outside_usage += 1
            self.other_wru += self._write_units(operation, params)

    def _write_units(self, operation: str, params: dict[str, Any]) -> int:
        """Modelled WRU of a plain (non-transactional) write: ceil(item bytes / 1 KB); an update
        is charged on the larger of the item before and after (before = the last Put we saw)."""
        if operation == "PutItem":
            size = item_bytes(params.get("Item", {}))
            self._last_put = size
            return max(1, -(-size // 1024))
        if operation == "UpdateItem":
            names = params.get("ExpressionAttributeNames", {})
            values = params.get("ExpressionAttributeValues", {})
            before = self._last_put or item_bytes(params.get("Key", {}))
            added = sum(len(n.encode()) for n in names.values()) + sum(
                value_bytes(v) for v in values.values()
            )
            return max(1, -(-(before + added) // 1024))
        if operation == "TransactWriteItems":
            # 2 WRU per started KB of each item; an Update is sized by its key and the values it
            # sets (items it updates in place here are small counters); a Delete or a
            # ConditionCheck at the minimum (2: their items are not in the request).
            units = 0
            for action in params.get("TransactItems", []):
                ((kind, body),) = action.items()
                if kind == "Put":
                    size = item_bytes(body.get("Item", {}))
                elif kind == "Update":
                    size = item_bytes(body.get("Key", {})) + sum(
                        value_bytes(v) for v in body.get("ExpressionAttributeValues", {}).values()
                    )
                else:
                    size = 1
                units += 2 * max(1, -(-size // 1024))
            return units
        if operation == "BatchWriteItem":
            return sum(
                max(1, -(-item_bytes(r["PutRequest"]["Item"]) // 1024)) if "PutRequest" in r else 1
                for requests in params.get("RequestItems", {}).values()
                for r in requests
            )
        if operation == "BatchExecuteStatement":  # each INSERT like a PutItem of its item
            return sum(max(1, -(-item_bytes(item) // 1024)) for _, item in inserted_items(params))
        return 1  # deletes and others: at least 1 WRU each (none are expected on these paths)

    def snapshot(self) -> dict[str, int]:
        return dict(sorted(self.ops.items()))


COUNTER = DynamoCounter()


# -- the stack --------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any


class Bench:
    """moto + tables + one account + the template's handlers, called like API Gateway would."""

    def __init__(self, *, stock_moto: bool = False) -> None:
        from tally_local import aws, moto_patch
        from tally_local.template import compile_routes, load

        self.template = load()
        self.moto = aws.MotoServer(fast_transactions=not stock_moto).start()
        self.names = aws.table_names(self.template)
        self.env = aws.configure_environment(self.template, self.moto.url, self.names)
        assert self.env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        labels = {name: logical.removesuffix("Table").lower() for logical, name in self.names.items()}
        COUNTER.install(labels)

        from tally.api.auth import new_account, register_key
        from tally.clock import Clock
        from tally.store.aws import dynamodb

        aws.create_tables(self.template, self.names, dynamodb())
        from tally.store.aws import sqs

        # The template's queues (the close sends to the billing queue; `!Ref` = its URL).
        self.queues = aws.create_queues(self.template, sqs(), prefix="tally-bench-")
        self.env = aws.configure_environment(self.template, self.moto.url, {**self.names, **self.queues})
        if moto_patch.installed():
            from tally.settings import settings

            moto_patch.canary(dynamodb(), settings().usage_table, "bench")
        _, self.key = new_account()
        self.account = register_key(self.key, Clock.system())
        self.routes = compile_routes(self.template)
        self.handlers: dict[str, Callable[[dict, Any], dict]] = {}

    def stop(self) -> None:
        self.moto.stop()

    def handler(self, logical_id: str) -> Callable[[dict, Any], dict]:
        from tally_local.gateway import load_handler

        if logical_id not in self.handlers:
            self.handlers[logical_id] = load_handler(self.template, logical_id)
        return self.handlers[logical_id]

    def route_keys(self, logical_id: str) -> set[str]:
        """The routeKeys the function's module actually serves (its ROUTES table)."""
        return set(inspect.unwrap(self.handler(logical_id)).__globals__["ROUTES"])

    def event(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotency_key: str | None = None,
    ) -> tuple[Callable[[dict, Any], dict], dict[str, Any], str]:
        """(handler, API Gateway v2 event, function) for one request; nothing is sent yet."""
        from tally_local.gateway import to_event
        from tally_local.template import match

        raw_path, _, query = path.partition("?")
        headers = {"authorization": f"Bearer {self.key}", "user-agent": "tally-bench"}
        if idempotency_key is not None:
            headers["idempotency-key"] = idempotency_key
        body = b""
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
            headers["content-type"] = "application/json"
        elif form is not None:
            body = form_encode(form).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        if body:
            headers["content-length"] = str(len(body))
        found = match(self.routes, method, raw_path)
        if found is None:
            raise LookupError(f"no route for {method} {raw_path} in template.yaml")
        route, params = found
        return (
            self.handler(route.function),
            to_event(method, raw_path, query, headers, body, route, params),
            route.function,
        )

    def call(
        self, method: str, path: str, *, form: Mapping[str, Any] | None = None, json_body: Any = None
    ) -> Reply:
        from tally_local.gateway import LambdaContext

        handler, event, function = self.event(method, path, form=form, json_body=json_body)
        return invoke(handler, event, LambdaContext(function))


class _Swallow(io.TextIOBase):
    """Takes what a handler prints: Powertools Metrics prints an EMF blob whenever a metric reaches
    100 buffered values, even with POWERTOOLS_METRICS_DISABLED (its flush is skipped, so values
    pile up across invocations). Counted, not shown."""

    def __init__(self) -> None:
        self.emf_blobs = 0

    def write(self, text: str) -> int:
        self.emf_blobs += text.count('{"_aws"')
        return len(text)


STDOUT = _Swallow()


def invoke(handler: Callable[[dict, Any], dict], event: dict[str, Any], context: Any) -> Reply:
    with contextlib.redirect_stdout(STDOUT):
        result = handler(event, context)
    raw = result.get("body") or ""
    text = base64.b64decode(raw).decode() if result.get("isBase64Encoded") else raw
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    return Reply(int(result.get("statusCode", 200)), body)


def expect_ok(reply: Reply, what: str) -> dict[str, Any]:
    if reply.status != 200:
        raise RuntimeError(f"{what}: HTTP {reply.status}: {reply.body}")
    assert isinstance(reply.body, dict)
    return reply.body
