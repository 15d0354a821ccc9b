"""Records to and from the JSON kept in DynamoDB items, driven by the records' type hints.

Decimals are stored as strings (exact), enums as their values, tuples of records as lists.
Unknown stored fields are ignored and missing ones take the record's default, so a record may
gain a field with a default without rewriting what is stored.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v) for v in value)
    if origin in (dict, list):
        return value
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return from_plain(hint, value)
        if hint is Decimal:
            return Decimal(value)
        if issubclass(hint, Enum):
            return hint(value)
    return value


def from_plain(cls: type[T], data: dict[str, Any]) -> T:
    hints = _hints(cls)  # type: ignore[arg-type]  # record classes are hashable
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: _convert(hints[k], v) for k, v in data.items() if k in known})


def dumps(record: Any) -> str:
    return json.dumps(to_plain(record), separators=(",", ":"), ensure_ascii=False)


def loads(cls: type[T], text: str) -> T:
    return from_plain(cls, json.loads(text))
