"""Request bodies and query strings: Stripe's bracket notation and JSON, into plain dicts.

`a[b][c]=1` → {"a": {"b": {"c": "1"}}}; `items[0][price]=p` → {"items": [{"price": "p"}]};
`expand[]=x` → {"expand": ["x"]}. Values stay strings; the Params reader converts and checks them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from tally.errors import InvalidRequest

MAX_DEPTH = 5
# v2 JSON bodies nest deeper than v1 forms (an intent action's component configuration sits 7
# levels down: actions[].subscribe.pricing_plan_subscription_details.component_configurations[])
MAX_JSON_DEPTH = 10
MAX_KEYS = 1000
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def _split_key(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not head:
        raise InvalidRequest(
            f"Invalid parameter name: {key[:100]!r}.", code="parameter_invalid", param=key[:100]
        )
    parts = [head]
    if bracket:
        rest = "[" + rest
        pos = 0
        for match in _SEGMENT.finditer(rest):
            if match.start() != pos:
                break
            parts.append(match.group(1))
            pos = match.end()
        if pos != len(rest):
            raise InvalidRequest(f"Invalid parameter name: {key!r}.", code="parameter_invalid", param=head)
    if len(parts) > MAX_DEPTH + 1:
        raise InvalidRequest(f"Parameter {head} is nested too deeply.", code="parameter_invalid", param=head)
    return parts


def _listify(node: Any, name: str) -> Any:
    """Turn dicts whose keys are all indices (`items[0]`, `items[1]`) into lists, recursively."""
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            indices = sorted(node, key=int)
            if [int(i) for i in indices] != list(range(len(indices))):
                raise InvalidRequest(
                    f"Invalid array indices for {name}: they must be 0, 1, 2, … without gaps.",
                    code="parameter_invalid",
                    param=name,
                )
            return [_listify(node[i], f"{name}[{i}]") for i in indices]
        return {k: _listify(v, f"{name}[{k}]") for k, v in node.items()}
    return node


def parse_form(body: str) -> dict[str, Any]:
    """Parse a form-encoded body (or query string) with bracket notation.

    Raises InvalidRequest for malformed names, conflicting shapes, deep nesting or too many keys.
    """
    try:
        pairs = parse_qsl(
            body, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_KEYS, errors="strict"
        )
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            "A parameter is not valid percent-encoded UTF-8.", code="parameter_invalid"
        ) from exc
    except ValueError as exc:
        raise InvalidRequest(
            f"Too many parameters in the request (at most {MAX_KEYS}).", code="parameter_invalid"
        ) from exc
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            if part == "":  # `x[]=v` appends
                if not isinstance(node, list):
                    raise InvalidRequest(f"Invalid array parameter: {key}.", param=parts[0])
                if last:
                    node.append(value)
                    break
                node.append({})
                node = node[-1]
                continue
            if not isinstance(node, dict):
                raise InvalidRequest(f"Conflicting values for parameter {parts[0]}.", param=parts[0])
            if last:
                if part in node:
                    raise InvalidRequest(f"Parameter {key} was given more than once.", param=parts[0])
                node[part] = value
            else:
                child = node.get(part)
                if child is None:
                    child = [] if nxt == "" else {}
                    node[part] = child
                elif not isinstance(child, list | dict) or (nxt == "") != isinstance(child, list):
                    raise InvalidRequest(f"Conflicting values for parameter {parts[0]}.", param=parts[0])
                node = child
    return {k: _listify(v, k) for k, v in root.items()}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(text: str) -> None:
    if _SURROGATE.search(text):
        raise InvalidRequest("The JSON body contains an unpaired surrogate (invalid Unicode).")


def _check_depth(node: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise InvalidRequest("The JSON body is nested too deeply.", code="parameter_invalid")
    if isinstance(node, str):
        _check_text(node)
    elif isinstance(node, dict):
        for k, v in node.items():
            _check_text(k)
            _check_depth(v, depth + 1)
    elif isinstance(node, list):
        for v in node:
            _check_depth(v, depth + 1)


def parse_json(body: str) -> dict[str, Any]:
    """Parse a JSON object body; raises InvalidRequest for anything else."""
    if not body.strip():
        return {}
    try:
        data = json.loads(body, parse_float=str, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(
            "Invalid JSON received. Check the body is a JSON object.", code="parameter_invalid"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidRequest("The JSON body must be an object.", code="parameter_invalid")
    _check_depth(data)
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def parse_body(body: str, content_type: str) -> dict[str, Any]:
    """Choose the parser from the Content-Type (JSON when it says so or the body looks like it)."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/json" or (not ctype and body.lstrip().startswith("{")):
        return parse_json(body)
    return parse_form(body)


def _pairs(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        if not value and prefix:
            return [(prefix, "")]
        out: list[tuple[str, str]] = []
        for key, item in value.items():
            out += _pairs(f"{prefix}[{key}]" if prefix else str(key), item)
        return out
    if isinstance(value, list | tuple):
        out = []
        for i, item in enumerate(value):
            out += _pairs(f"{prefix}[{i}]", item)
        return out
    if value is None:
        return [(prefix, "")]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, str(value))]


def encode_form(data: Mapping[str, Any] | None) -> str:
    """The inverse of parse_form, as Stripe's SDKs encode: `a[b]=1`, `items[0][price]=p`;
    None and {} send '' (Stripe's "unset")."""
    return urlencode(_pairs("", data or {}))
