"""The usage table's stream records as the aggregator reads them (issue 15): which records add an
event to the buckets (`counted`), and the shard positions the aggregator's markers compare.

Counted: an INSERT of an event item carrying `fm` (written by `write.record`), and a MODIFY that
replaced an expired event (its new image has no `cancelled`: a cancel's mark is the only other
MODIFY of an event item). Everything else is ignored (see `aggregator`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from tally.domain.aggregation import Formula
from tally.domain.records import MeterEvent
from tally.store.usage.duplicates import event_of
from tally.store.usage.keys import EVENT_SK, FIGURES_MARK, FORMULA_MARK, SEGMENT_MARK

SEQ_DIGITS = 40  # stream sequence numbers are decimal strings of up to 40 digits: padded, they sort


@dataclass(frozen=True)
class Counted:
    """One event a stream record adds: its position, account, bucket pk and meter's formula."""

    seq: str
    account: str
    bucket: str
    formula: Formula
    figures: bool
    event: MeterEvent


def seq_key(sequence_number: str) -> str:
    return sequence_number.zfill(SEQ_DIGITS)


def shard_tag(shard_id: str) -> str:
    """The marker attribute of a shard on a bucket item (`q` + 8 hex digits of its id)."""
    return "q" + hashlib.sha256(shard_id.encode()).hexdigest()[:8]


def counted(record: dict[str, Any]) -> Counted | None:
    """The event a stream record adds to the buckets, if any (see the module's rules)."""
    body = record.get("dynamodb", {})
    keys, image = body.get("Keys", {}), body.get("NewImage")
    if not image or keys.get("sk", {}).get("S") != EVENT_SK or FORMULA_MARK not in image:
        return None
    name = record.get("eventName")
    if name not in ("INSERT", "MODIFY") or (name == "MODIFY" and "cancelled" in image):
        return None
    pk = image["pk"]["S"]
    event = replace(
        event_of(image, payload=False), segment=image[SEGMENT_MARK]["S"] if SEGMENT_MARK in image else None
    )
    return Counted(
        seq_key(body["SequenceNumber"]),
        pk.split("#mev#", 1)[0],
        image["bucket"]["S"],
        Formula(image[FORMULA_MARK]["S"]),
        FIGURES_MARK in image,
        event,
    )
