"""The segments a customer has on a meter with dimensions: one small item per segment seen, and
a count that caps them (`tally.domain.dimensions.MAX_SEGMENTS`).

  segment  pk = acct#usageseg#<meter>#<customer>   sk = "g#<digest>"   d = JSON list of its values
  count    same pk                                  sk = "n"            n = segments registered

A segment is registered (`ensure`) in its own transaction BEFORE the usage transaction that adds
its events: a conditional Put per new segment (`attribute_not_exists`) and `ADD n` conditional on
the cap. Registrations are never undone, so a crash between the two leaves a listed segment with
no usage (read as 0), and the retry finds it registered: usage itself stays exactly once, since
only the usage transaction writes it. Reads of the registry are eventually consistent on the
ingest path (a stale "absent" only makes the conditional Put fail, and the segment is then known).
"""

from __future__ import annotations

import json
import time
from typing import Any

from tally.domain.dimensions import Segment, Values
from tally.settings import settings
from tally.store import errors
from tally.store.aws import dynamodb
from tally.store.usage.keys import UsageKeys
from tally.store.usage.stats import STATS
from tally.store.usage.write import ATTEMPTS, transact

COUNT_SK = "n"
CHUNK = 50  # new segments per registration transaction (+ the count: well under 100 actions)
BATCH_GET = 100


def _sk(digest: str) -> str:
    return f"g#{digest}"


def _batch_get(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = settings().usage_table
    found: list[dict[str, Any]] = []
    pending = list(keys)
    while pending:
        chunk, pending = pending[:BATCH_GET], pending[BATCH_GET:]
        STATS.requests += 1
        resp = dynamodb().batch_get_item(RequestItems={table: {"Keys": chunk}})
        items = resp.get("Responses", {}).get(table, [])
        STATS.items_read += len(items)
        STATS.read_units += 0.5 * len(items)  # eventually consistent, each item < 4 KB
        found += items
        pending += resp.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return found


def ensure(
    account: str, meter_id: str, wanted: dict[str, dict[str, Values]], cap: int
) -> set[tuple[str, str]]:
    """Register every segment of `wanted` (customer → {digest: values}, in arrival order) that is
    not yet registered, while the customer has fewer than `cap`. Returns the (customer, digest)
    pairs refused for the cap (their events must not be stored). One BatchGetItem when every
    segment is known; one more transaction per customer with new segments."""
    keys = []
    for customer, segments in wanted.items():
        pk = UsageKeys.segments(account, meter_id, customer)
        keys.append({"pk": {"S": pk}, "sk": {"S": COUNT_SK}})
        keys += [{"pk": {"S": pk}, "sk": {"S": _sk(d)}} for d in segments]
    known: set[tuple[str, str]] = set()
    counts: dict[str, int] = {}
    for item in _batch_get(keys):
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        customer = pk.split("#usageseg#", 1)[1].split("#", 1)[1]
        if sk == COUNT_SK:
            counts[customer] = int(item["n"]["N"])
        else:
            known.add((customer, sk[2:]))
    refused: set[tuple[str, str]] = set()
    for customer, segments in wanted.items():
        new = {d: v for d, v in segments.items() if (customer, d) not in known}
        if new:
            refused |= {
                (customer, d)
                for d in _register(account, meter_id, customer, new, counts.get(customer, 0), cap)
            }
    return refused


def _register(
    account: str, meter_id: str, customer: str, new: dict[str, Values], count: int, cap: int
) -> set[str]:
    """Register `new` segments of one customer (its count read as `count`); the digests refused."""
    pk = UsageKeys.segments(account, meter_id, customer)
    order = list(new)
    refused = set(order[max(0, cap - count) :])
    pending = [d for d in order if d not in refused]
    for attempt in range(ATTEMPTS * 2):
        if not pending:
            return refused
        chunk = pending[:CHUNK]
        actions = [_put(pk, d, new[d]) for d in chunk] + [_count(pk, len(chunk), cap)]
        reasons = transact(actions, 2 * len(actions))
        if reasons is None:
            pending = pending[CHUNK:]
            continue
        if not reasons:
            time.sleep(min(0.5, 0.01 * 2**attempt))  # busy: backoff, not billing time
            continue
        taken = {d for d, r in zip(chunk, reasons, strict=False) if r == errors.CONDITION_FAILED}
        if taken:  # registered meanwhile by a concurrent request: known now
            pending = [d for d in pending if d not in taken]
            continue
        # the cap's condition failed: read the count and keep what still fits, in arrival order
        room = max(0, cap - _count_now(pk))
        refused |= set(pending[room:])
        pending = pending[:room]
    from tally.errors import Conflict

    raise Conflict("Meter segments are contended right now; retry the request (it is safe to retry).")


def _put(pk: str, digest: str, values: Values) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": settings().usage_table,
            "Item": {
                "pk": {"S": pk},
                "sk": {"S": _sk(digest)},
                "d": {"S": json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def _count(pk: str, k: int, cap: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": settings().usage_table,
            "Key": {"pk": {"S": pk}, "sk": {"S": COUNT_SK}},
            "UpdateExpression": "ADD n :k",
            "ConditionExpression": "attribute_not_exists(n) OR n <= :room",
            "ExpressionAttributeValues": {":k": {"N": str(k)}, ":room": {"N": str(cap - k)}},
        }
    }


def _count_now(pk: str) -> int:
    STATS.requests += 1
    item = (
        dynamodb()
        .get_item(
            TableName=settings().usage_table,
            Key={"pk": {"S": pk}, "sk": {"S": COUNT_SK}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return int(item["n"]["N"]) if item else 0


def listed(account: str, meter_id: str, customer: str) -> list[Segment]:
    """Every segment registered for the customer on the meter (one consistent Query; ≤ the cap)."""
    kwargs: dict[str, Any] = {
        "TableName": settings().usage_table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :g)",
        "ExpressionAttributeValues": {
            ":pk": {"S": UsageKeys.segments(account, meter_id, customer)},
            ":g": {"S": "g#"},
        },
        "ConsistentRead": True,
    }
    out: list[Segment] = []
    while True:
        STATS.requests += 1
        resp = dynamodb().query(**kwargs)
        for item in resp.get("Items", []):
            out.append(Segment(item["sk"]["S"][2:], tuple(json.loads(item["d"]["S"]))))
        STATS.items_read += len(resp.get("Items", []))
        if "LastEvaluatedKey" not in resp:
            return out
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
