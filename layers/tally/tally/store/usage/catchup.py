"""Catching the usage table's stream up: every stored event added to its buckets (issue 15).

`catch_up()` reads each shard of the stream from its checkpoint to its current end, hands the
records to `aggregator.apply` and then advances the checkpoint. It is the aggregator's one entry:
the aggregator function runs it (its event source mapping only wakes it), and so does every
reader that must not miss an event (the period close, previews, summaries: `settle`). Any number
of catch-ups may run at once — the aggregator's per-item markers make each record count once.

Checkpoint item (one per shard): pk `_usage_stream`, sk = the shard id, `seq` = the last sequence
number applied to every item (zero-padded: strings sort), `closed` once a closed shard was read to
its end. It only moves forward (`seq < :new`), and only after the records before it are applied:
so a catch-up starting at it never skips a record (the aggregator's exactness needs this). A
process saves it at most every 10 s (`SAVE_EVERY_SECONDS`) and keeps its own position in
memory in between.

The watermark: when `catch_up()` returns, every event item whose write was acknowledged before it
started is in the buckets (the stream holds each write once it is acknowledged; moto at once, AWS
within about a second — see docs/DATA-MODEL.md).

Crash points: a failure while applying leaves the checkpoint where it was (the next catch-up
re-reads the records; what was applied is skipped per item); a failure of the checkpoint's write
only makes the next catch-up re-read records already applied.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from tally.settings import settings
from tally.store.aws import dynamodb, streams
from tally.store.usage import aggregator
from tally.store.usage.stats import STATS

CHECKPOINT_PK = "_usage_stream"
PAGE = 1000
SHARDS_KEPT_SECONDS = 60.0  # the shard list is re-read at most this often (and when one closes)
# A shard's stored checkpoint is moved at most this often by one process (its own position is
# kept in memory): under steady traffic it costs 1 write per 10 s, not one per catch-up. A lag
# only makes another process re-read records whose items skip them (their markers).
SAVE_EVERY_SECONDS = 10.0

# This process's knowledge: the stream, its shards (parents first), the position read last per
# shard (a lower bound of the stored checkpoint: starting there is safe, only slower).
_stream: dict[str, Any] = {}
_positions: dict[str, str] = {}
_saved: dict[str, float] = {}  # shard → when this process last saved its checkpoint (monotonic)


@dataclass
class Caught:
    records: int = 0
    applied: int = 0
    writes: int = 0
    touched: set[tuple[str, str, str]] = field(default_factory=set)


def reset() -> None:
    """Forget what this process knows of the stream (tables recreated: tests)."""
    _stream.clear()
    _positions.clear()
    _saved.clear()


def _arn() -> str | None:
    table = settings().usage_table
    if _stream.get("table") != table:
        _stream.clear()
        _positions.clear()
        desc = dynamodb().describe_table(TableName=table)["Table"]
        _stream.update(table=table, arn=desc.get("LatestStreamArn"), at=0.0, shards=[])
    return _stream["arn"]


def _shards(arn: str, refresh: bool = False) -> list[dict[str, Any]]:
    """The stream's shards, each parent before its children."""
    if refresh or time.monotonic() - _stream["at"] > SHARDS_KEPT_SECONDS:
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamArn": arn}
        while True:
            desc = streams().describe_stream(**kwargs)["StreamDescription"]
            found += desc.get("Shards", [])
            if not desc.get("LastEvaluatedShardId"):
                break
            kwargs["ExclusiveStartShardId"] = desc["LastEvaluatedShardId"]
        ids = {s["ShardId"] for s in found}
        ordered: list[dict[str, Any]] = []
        placed: set[str] = set()
        while len(ordered) < len(found):
            for s in found:
                parent = s.get("ParentShardId")
                if s["ShardId"] not in placed and (parent is None or parent not in ids or parent in placed):
                    ordered.append(s)
                    placed.add(s["ShardId"])
        _stream.update(shards=ordered, at=time.monotonic())
    return _stream["shards"]


def _checkpoint(shard: str) -> str | None:
    if shard in _positions:
        return _positions[shard]
    STATS.requests += 1
    item = (
        dynamodb()
        .get_item(
            TableName=settings().usage_table,
            Key={"pk": {"S": CHECKPOINT_PK}, "sk": {"S": shard}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    if item is None:
        return None
    return "closed" if "closed" in item else item["seq"]["S"]


def save(shard: str, seq: str, closed: bool) -> None:
    """Move the shard's checkpoint forward to `seq` (never back); a crash here loses nothing.
    (The checkpoint's write: the seam crash tests patch.)"""
    from tally.store.usage import write

    values: dict[str, Any] = {":s": {"S": seq}}
    expression = "SET seq = :s"
    if closed:
        expression += ", closed = :c"
        values[":c"] = {"N": "1"}
    write.run(
        [
            {
                "Update": {
                    "TableName": settings().usage_table,
                    "Key": {"pk": {"S": CHECKPOINT_PK}, "sk": {"S": shard}},
                    "UpdateExpression": expression,
                    "ConditionExpression": "attribute_not_exists(seq) OR seq < :s",
                    "ExpressionAttributeValues": values,
                }
            }
        ],
        1,
    )  # a failed condition: another catch-up went further — fine


def _read(arn: str, shard: str, after: str | None) -> tuple[list[dict[str, Any]], bool]:
    """The shard's records after `after` (its whole retained content if None), and whether the
    shard is closed and was read to its end."""
    position: dict[str, str] = (
        {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after.lstrip("0") or "0"}
        if after
        else {"ShardIteratorType": "TRIM_HORIZON"}
    )
    iterator = streams().get_shard_iterator(StreamArn=arn, ShardId=shard, **position).get("ShardIterator")
    records: list[dict[str, Any]] = []
    while iterator:
        answer = streams().get_records(ShardIterator=iterator, Limit=PAGE)
        got = answer.get("Records", [])
        records += got
        iterator = answer.get("NextShardIterator")
        if not got:
            break
    return records, iterator is None


def catch_up() -> Caught:
    """Apply every record the usage stream holds past the checkpoints (see the module)."""
    out = Caught()
    arn = _arn()
    if not arn:
        return out
    closed_any = False
    for shard in _shards(arn):
        sid = shard["ShardId"]
        after = _checkpoint(sid)
        if after == "closed":
            _positions[sid] = "closed"
            continue
        records, closed = _read(arn, sid, after)
        closed_any |= closed
        last = aggregator.seq_key(records[-1]["dynamodb"]["SequenceNumber"]) if records else after
        counted = 0
        if records:
            result = aggregator.apply(sid, records)
            counted = result.counted
            out.records += len(records)
            out.applied += result.applied
            out.writes += result.writes
            out.touched |= result.touched
        # Saved only when events were applied (or the shard closed): the aggregator's own writes
        # are records too, and saving past them alone would write on every catch-up.
        due = time.monotonic() - _saved.get(sid, -SAVE_EVERY_SECONDS) >= SAVE_EVERY_SECONDS
        if (counted and due) or closed:
            save(sid, last or "0" * aggregator.SEQ_DIGITS, closed)
            _saved[sid] = time.monotonic()
        if last:
            _positions[sid] = "closed" if closed else last
    if closed_any:
        _shards(arn, refresh=True)
    return out


# Inside `one_watermark()`: whether this block has caught up already (its reads share its start).
_SETTLED: ContextVar[list[bool] | None] = ContextVar("usage_settled", default=None)


def settle() -> Caught:
    """`catch_up` for a reader that must see every acknowledged event (the watermark) — once per
    `one_watermark()` block."""
    block = _SETTLED.get()
    if block is not None and block[0]:
        return Caught()
    caught = catch_up()
    if block is not None:
        block[0] = True
    return caught


@contextmanager
def one_watermark() -> Iterator[None]:
    """Every usage read inside shares ONE catch-up, the first: their watermark is that instant.
    For a worker billing closed periods (the billing queue's batch): usage acknowledged after it
    is late usage, which true-ups bill (docs/DATA-MODEL.md, "Watermark")."""
    token = _SETTLED.set([False])
    try:
        yield
    finally:
        _SETTLED.reset(token)
