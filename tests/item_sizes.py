"""DynamoDB item sizes, computed the way DynamoDB bills and limits them, for tests.

moto rejects items over 400 KB on PutItem/UpdateItem/TransactWriteItems (probed), but it sizes
items its own way; this helper sizes every stored item independently (attribute names + values in
UTF-8; numbers ~1 byte per two digits + 1; binary raw; maps and lists 3 bytes + 1 per element) and
`assert_all_items_fit` scans every table of the test session, so a scenario fails if any item
would exceed DynamoDB's limit on AWS.
"""

from __future__ import annotations

from typing import Any

MAX_ITEM_BYTES = 400 * 1024


def value_size(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode("utf-8", "surrogatepass"))
    if kind == "N":
        return (len(v.lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum((len(s) + 1) // 2 + 1 for s in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(value_size(x) + 1 for x in v)
    raise AssertionError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, dict[str, Any]]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def largest_items(tables: dict[str, str]) -> list[tuple[int, str, str]]:
    """(size, table, pk) of every item of every table, largest first."""
    from tally.store.aws import dynamodb

    client = dynamodb()
    out = []
    for name in tables.values():
        for page in client.get_paginator("scan").paginate(TableName=name):
            for item in page["Items"]:
                key = next((v.get("S", "") for k, v in item.items() if k in ("pk", "id")), "?")
                out.append((item_size(item), name, key))
    return sorted(out, reverse=True)


def assert_all_items_fit(tables: dict[str, str]) -> None:
    sizes = largest_items(tables)
    too_big = [s for s in sizes if s[0] >= MAX_ITEM_BYTES]
    assert not too_big, f"items over DynamoDB's 400 KB: {too_big[:5]}"
