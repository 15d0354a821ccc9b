"""Large JSON bodies kept compressed, and the size of an item as DynamoDB counts it.

DynamoDB refuses items over 400 KB. A body (a record, an event, an idempotent answer) whose UTF-8
text exceeds `COMPRESS_OVER` is kept zlib-compressed in a Binary attribute instead of the text
attribute; readers call `unpack` and get the text either way. What still does not fit after
compression is refused before anything is written (`check_item`: 400 `object_too_large`), so a
request never fails with a 5xx from DynamoDB's item limit. Sizes follow DynamoDB's rules:
attribute names plus values, strings in UTF-8, binary raw, numbers about one byte per two digits.
"""

from __future__ import annotations

import zlib
from typing import Any

from tally.errors import InvalidRequest

MAX_ITEM_BYTES = 400 * 1024
COMPRESS_OVER = 32 * 1024


def pack(text: str) -> tuple[str | None, bytes | None]:
    """(text, None) when small, else (None, zlib bytes) — whichever attribute is to be set."""
    raw = text.encode("utf-8")
    if len(raw) <= COMPRESS_OVER:
        return text, None
    return None, zlib.compress(raw, 9)


def unpack(text: str | None, packed: bytes | None) -> str | None:
    if packed is not None:
        return zlib.decompress(packed).decode("utf-8")
    return text


def value_size(value: dict[str, Any]) -> int:
    """The size of one low-level attribute value ({"S": …}, {"N": …}, {"B": …}, {"M": …}…)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode("utf-8", "surrogatepass"))
    if kind == "N":
        return (len(str(v).lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("M", "L"):
        members = v.items() if kind == "M" else (("", x) for x in v)
        return 3 + sum(len(k.encode()) + value_size(x) + 1 for k, x in members)
    if kind in ("SS", "BS", "NS"):
        return sum(value_size({kind[0]: x}) for x in v)
    return 1  # BOOL, NULL


def item_size(attributes: dict[str, dict[str, Any]]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in attributes.items())


def too_large(size: int, param: str | None, what: str) -> InvalidRequest:
    return InvalidRequest(
        f"The {what} would take {size:,} bytes once stored, more than the {MAX_ITEM_BYTES:,} bytes a "
        "DynamoDB item holds (even compressed). Use shorter metadata or descriptions"
        + (f" ({param})." if param else "."),
        code="object_too_large",
        param=param,
    )


def check_item(attributes: dict[str, dict[str, Any]], param: str | None, what: str) -> None:
    """Raise 400 `object_too_large` if the item would exceed DynamoDB's 400 KB."""
    size = item_size(attributes)
    if size >= MAX_ITEM_BYTES:
        raise too_large(size, param, what)
