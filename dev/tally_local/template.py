"""Read template.yaml: the functions, their routes and environment, and the tables.

The local runtime and the tests take everything from here, so nothing is declared twice.
"""

from __future__ import annotations

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


@dataclass
class Function:
    logical_id: str
    code_dir: Path
    handler: str
    routes: list[str] = field(default_factory=list)  # "METHOD /path/{param}" or "$default"
    environment: dict[str, Any] = field(default_factory=dict)


@dataclass
class Template:
    raw: dict[str, Any]
    functions: dict[str, Function]
    tables: dict[str, dict[str, Any]]


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
        for event in props.get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            path, method = event["Properties"]["Path"], event["Properties"]["Method"].upper()
            fn.routes.append("$default" if path == "$default" else f"{method} {path}")
        functions[logical_id] = fn
    tables = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::DynamoDB::Table"}
    return Template(raw, functions, tables)


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
