"""Read template.yaml: the functions, their routes, schedules, queue triggers and environment, the
tables and the queues.

The local runtime and the tests take everything from here, so nothing is declared twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _Loader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short tags (!Ref X → {"Ref": "X"})."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class Schedule:
    """A `ScheduleV2` event: `rate(...)` every `seconds`, with its Input template (or None)."""

    name: str
    seconds: int
    input: str | None = None


@dataclass(frozen=True)
class QueueTrigger:
    """An `SQS` event source mapping: the queue's logical id and how it batches."""

    queue: str
    batch_size: int = 10
    report_failures: bool = False


@dataclass(frozen=True)
class StreamTrigger:
    """A `DynamoDB` stream event source: the table, how it batches and filters, where failures go."""

    table: str
    batch_size: int = 100
    filters: tuple[dict[str, Any], ...] = ()  # FilterCriteria patterns (any one matches)
    report_failures: bool = False
    max_retries: int = -1  # -1: until the record expires (AWS's default)
    on_failure: str | None = None  # the on-failure destination queue's logical id


@dataclass
class Function:
    logical_id: str
    code_dir: Path
    handler: str
    routes: list[str] = field(default_factory=list)  # "METHOD /path/{param}" or "$default"
    environment: dict[str, Any] = field(default_factory=dict)
    schedules: list[Schedule] = field(default_factory=list)
    queues: list[QueueTrigger] = field(default_factory=list)
    streams: list[StreamTrigger] = field(default_factory=list)


@dataclass
class Template:
    raw: dict[str, Any]
    functions: dict[str, Function]
    tables: dict[str, dict[str, Any]]
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)


_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int:
    """`rate(1 minute)` → 60. Raises ValueError on what the local scheduler cannot run (cron)."""
    found = _RATE.fullmatch(expression.strip())
    if not found:
        raise ValueError(f"the local scheduler runs rate(...) expressions only, not {expression!r}")
    return int(found.group(1)) * _UNIT[found.group(2).rstrip("s")]


def _queue_of(arn: Any) -> str:
    """`!GetAtt Q.Arn` → Q."""
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        return str(arn["Fn::GetAtt"][0])
    raise ValueError(f"an SQS event source must name a queue of the template: {arn!r}")


@lru_cache(maxsize=1)
def load(path: Path = TEMPLATE) -> Template:
    raw = yaml.load(path.read_text(), Loader=_Loader)
    resources = raw["Resources"]
    global_env = raw.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    functions: dict[str, Function] = {}
    for logical_id, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        fn = Function(
            logical_id,
            ROOT / props["CodeUri"],
            props["Handler"],
            environment={**global_env, **props.get("Environment", {}).get("Variables", {})},
        )
        for name, event in props.get("Events", {}).items():
            ep = event.get("Properties", {})
            if event["Type"] == "ScheduleV2":
                fn.schedules.append(Schedule(name, rate_seconds(ep["ScheduleExpression"]), ep.get("Input")))
                continue
            if event["Type"] == "SQS":
                fn.queues.append(
                    QueueTrigger(
                        _queue_of(ep["Queue"]),
                        int(ep.get("BatchSize", 10)),
                        "ReportBatchItemFailures" in ep.get("FunctionResponseTypes", []),
                    )
                )
                continue
            if event["Type"] == "DynamoDB":
                fn.streams.append(_stream_trigger(ep))
                continue
            if event["Type"] != "HttpApi":
                continue
            path, method = event["Properties"]["Path"], event["Properties"]["Method"].upper()
            fn.routes.append("$default" if path == "$default" else f"{method} {path}")
        functions[logical_id] = fn
    tables = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::DynamoDB::Table"}
    queues = {k: v.get("Properties", {}) for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    topics = {k: v.get("Properties", {}) for k, v in resources.items() if v["Type"] == "AWS::SNS::Topic"}
    return Template(raw, functions, tables, queues, topics)


def _stream_trigger(ep: dict[str, Any]) -> StreamTrigger:
    stream = ep["Stream"]
    if not (isinstance(stream, dict) and stream.get("Fn::GetAtt", [None, None])[1] == "StreamArn"):
        raise ValueError(f"a DynamoDB event source must name a table's StreamArn: {stream!r}")
    failure = ep.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    return StreamTrigger(
        table=str(stream["Fn::GetAtt"][0]),
        batch_size=int(ep.get("BatchSize", 100)),
        filters=tuple(json.loads(f["Pattern"]) for f in ep.get("FilterCriteria", {}).get("Filters", [])),
        report_failures="ReportBatchItemFailures" in ep.get("FunctionResponseTypes", []),
        max_retries=int(ep.get("MaximumRetryAttempts", -1)),
        on_failure=_queue_of(failure) if failure is not None else None,
    )


@dataclass(frozen=True)
class CompiledRoute:
    key: str
    function: str
    method: str
    pattern: re.Pattern[str]
    literal_segments: int
    names: tuple[str, ...]


def compile_routes(template: Template) -> list[CompiledRoute]:
    """Routes in API Gateway's match order: most literal segments first, `$default` last."""
    compiled = []
    for fn in template.functions.values():
        for key in fn.routes:
            if key == "$default":
                compiled.append(CompiledRoute(key, fn.logical_id, "ANY", re.compile(".*"), -1, ()))
                continue
            method, path = key.split(" ", 1)
            names: list[str] = []
            parts = []
            literal = 0
            for seg in path.strip("/").split("/"):
                if seg.startswith("{") and seg.endswith("+}"):
                    names.append(seg[1:-2])
                    parts.append(f"(?P<{seg[1:-2]}>.+)")
                elif seg.startswith("{"):
                    names.append(seg[1:-1])
                    parts.append(f"(?P<{seg[1:-1]}>[^/]+)")
                else:
                    literal += 1
                    parts.append(re.escape(seg))
            compiled.append(
                CompiledRoute(
                    key, fn.logical_id, method, re.compile("/" + "/".join(parts)), literal, tuple(names)
                )
            )
    return sorted(compiled, key=lambda r: -r.literal_segments)


def match(routes: list[CompiledRoute], method: str, path: str) -> tuple[CompiledRoute, dict[str, str]] | None:
    for route in routes:
        if route.method not in (method, "ANY"):
            continue
        m = route.pattern.fullmatch(path)
        if m:
            return route, {k: v for k, v in m.groupdict().items()}
    return None
