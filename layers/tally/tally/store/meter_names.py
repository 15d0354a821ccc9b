"""An active meter's claim on its `event_name`, which also carries the meter for ingestion.

One meter per event name may be active. The claim is created when a meter is created or
reactivated and deleted when it is deactivated, so it always names the active meter — and since
none of what ingestion needs changes while a meter is active, the claim keeps the whole meter
record: accepting an event reads one item, not two. This module is the only one that writes or
reads that coupling.

The same partition holds each meter's watch list of alerts on every customer (sk
`alerts#<meter id>`, `tally.store.alerts`), so ingestion reads the claim and the watch list in
one Query — a meter without alerts costs nothing more.
"""

from __future__ import annotations

import json

from pynamodb.exceptions import GetError, QueryError

from tally.clock import Clock
from tally.domain.alerts import Watch
from tally.domain.records import Meter
from tally.errors import InvalidRequest
from tally.store import codec, objects
from tally.store.changes import Unique
from tally.store.errors import raise_translated
from tally.store.models import OBJECT_SK, ObjectItem, bind

KIND = "meter_event_name"


def claim(meter: Meter) -> Unique:
    """The claim an active meter holds (fails with Stripe's error if another active meter has it)."""
    return Unique(
        KIND,
        meter.event_name,
        InvalidRequest(
            f"An active meter with event_name '{meter.event_name}' already exists. Deactivate it or use "
            "another event_name.",
            code="resource_already_exists",
            param="event_name",
        ),
        data=codec.to_plain(meter),
    )


def release(meter: Meter) -> tuple[str, str]:
    return (KIND, meter.event_name)


def watch_key(account: str, meter: Meter) -> tuple[str, str]:
    """(pk, sk) of the meter's watch list of alerts on every customer."""
    return ObjectItem.unique_key(account, KIND, meter.event_name), ObjectItem.watch_sk(meter.id)


def watch_of(item: ObjectItem | None) -> Watch:
    """The watch list kept in `item` (an empty one when there is no item)."""
    if item is None or item.body is None:
        return Watch()
    plain = json.loads(item.body)
    plain.pop("version", None)
    return codec.from_plain(Watch, {**plain, "version": int(item.version)})


def claim_key(account: str, event_name: str) -> tuple[str, str]:
    """(pk, sk) of the claim on `event_name`."""
    return ObjectItem.unique_key(account, KIND, event_name), OBJECT_SK


def watch_key_of(account: str, event_name: str, meter_id: str) -> tuple[str, str]:
    """(pk, sk) of meter `meter_id`'s watch list in `event_name`'s claim partition."""
    return ObjectItem.unique_key(account, KIND, event_name), ObjectItem.watch_sk(meter_id)


def meter_of(account: str, claim: ObjectItem | None, clock: Clock) -> Meter | None:
    """The active meter a claim item (as read; None: absent) names, or None."""
    if claim is None or claim.owner is None:
        return None
    if claim.body:
        meter = codec.from_plain(Meter, json.loads(claim.body))
    else:  # a claim written before claims carried their meter
        meter = objects.get(account, str(claim.owner), Meter, clock)
    return meter if meter.active else None


def read_watch(keys: list[tuple[str, str]]) -> dict[tuple[str, str], ObjectItem]:
    """A meter's watch list item alone (`keys`: its one key), by key as `objects.read_many`
    answers (absent: left out): one consistent GetItem."""
    (key,) = keys
    bind()
    try:
        item = ObjectItem.get(*key, consistent_read=True)
    except ObjectItem.DoesNotExist:
        return {}
    except GetError as exc:
        raise_translated(exc)
    return {key: item}


def watched(account: str, event_name: str, clock: Clock) -> tuple[Meter | None, Watch]:
    """The active meter for `event_name` (or None) and its watch list, in ONE Query of the
    claim's partition (consistent)."""
    bind()
    pk = ObjectItem.unique_key(account, KIND, event_name)
    try:
        items = {str(i.sk): i for i in ObjectItem.query(pk, consistent_read=True)}
    except QueryError as exc:
        raise_translated(exc)
    meter = meter_of(account, items.get(OBJECT_SK), clock)
    if meter is None:
        return None, Watch()
    return meter, watch_of(items.get(ObjectItem.watch_sk(meter.id)))
