"""Billable items (v2): metered items (a meter, optionally one segment of it) and licensed items.

A metered item's `meter` and `meter_segment_conditions` never change (Stripe). A lookup key is
unique among items of one kind, held by a uniqueness claim written with the item. Stripe
documents no events for billable items, so none are recorded.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain.catalog import MAX_SEGMENT_CONDITIONS, LicensedItem, MeteredItem, SegmentCondition
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.records import Meter
from tally.errors import InvalidRequest, invalid
from tally.ids import new_id
from tally.settings import settings
from tally.store import lists, objects
from tally.store.changes import Change, Unique

Item = TypeVar("Item", MeteredItem, LicensedItem)
CLAIM = {MeteredItem.OBJECT: "metered_item_lookup_key", LicensedItem.OBJECT: "licensed_item_lookup_key"}
PREFIX = "bli"  # Stripe's "billable item" prefix, shared by both kinds


def _lookup_claim(kind: str, key: str) -> Unique:
    taken = InvalidRequest(
        f"A {kind.rsplit('.', 1)[-1].replace('_', ' ')} with the lookup_key {key!r} already exists.",
        code="lookup_key_already_exists",
        param="lookup_key",
    )
    return Unique(CLAIM[kind], key, taken)


def create_metered(
    account: str,
    fields: dict[str, Any],
    conditions: list[SegmentCondition],
    metadata: MetadataUpdate,
    clock: Clock,
) -> MeteredItem:
    """A metered item of an existing meter. Segment conditions name dimensions the meter
    declares (`dimension_payload_keys`); a meter without dimensions takes none."""
    meter = referenced(account, fields["meter"], Meter, "meter", clock)
    declared = set(getattr(meter, "dimension_payload_keys", ()) or ())
    if len(conditions) > MAX_SEGMENT_CONDITIONS:
        raise invalid("meter_segment_conditions", f"At most {MAX_SEGMENT_CONDITIONS} segment conditions.")
    seen: set[str] = set()
    for index, condition in enumerate(conditions):
        param = f"meter_segment_conditions[{index}].dimension"
        if condition.dimension not in declared:
            raise invalid(param, f"The meter {meter.id} has no dimension {condition.dimension!r}.")
        if condition.dimension in seen:
            raise invalid(param, f"The dimension {condition.dimension!r} is given twice.")
        seen.add(condition.dimension)
    shown: set[str] = set()
    for index, dimension in enumerate(fields.get("invoice_presentation_dimensions", ())):
        if dimension not in declared:
            raise invalid(
                f"invoice_presentation_dimensions[{index}]",
                f"The meter {meter.id} has no dimension {dimension!r}.",
            )
        if dimension in shown:  # one line per group: a dimension named twice groups nothing more
            raise invalid(
                f"invoice_presentation_dimensions[{index}]", f"The dimension {dimension!r} is given twice."
            )
        shown.add(dimension)
    item = MeteredItem(
        id=new_id(PREFIX, 24),
        created=clock.now,
        livemode=settings().livemode,
        meter_segment_conditions=tuple(conditions),
        metadata=apply_metadata({}, metadata),
        **fields,
    )
    return _store_new(account, item, clock)


def create_licensed(
    account: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock
) -> LicensedItem:
    item = LicensedItem(
        id=new_id(PREFIX, 24),
        created=clock.now,
        livemode=settings().livemode,
        metadata=apply_metadata({}, metadata),
        **fields,
    )
    return _store_new(account, item, clock)


def _store_new(account: str, item: Item, clock: Clock) -> Item:
    claims = [_lookup_claim(item.OBJECT, item.lookup_key)] if item.lookup_key else []
    objects.create(account, Change(item, None, {}, claim=claims), clock)
    return item


def retrieve(account: str, item_id: str, cls: type[Item], clock: Clock) -> Item:
    return objects.get(account, item_id, cls, clock)


def update(
    account: str,
    item_id: str,
    cls: type[Item],
    fields: dict[str, Any],
    metadata: MetadataUpdate,
    clock: Clock,
) -> Item:
    """Change display name, lookup key (None clears), unit label (None clears), tax code, metadata."""
    stored = objects.load(account, item_id, cls, clock)
    before = stored.record
    after = replace(before, **fields, metadata=apply_metadata(before.metadata, metadata))
    if after == before:
        return before
    change = Change(after, None, {})
    if after.lookup_key != before.lookup_key:
        if before.lookup_key:
            change.release.append((CLAIM[cls.OBJECT], before.lookup_key))
        if after.lookup_key:
            change.claim.append(_lookup_claim(cls.OBJECT, after.lookup_key))
    objects.update(account, stored, change, clock)
    return after


def list_(
    account: str, cls: type[Item], window: Window, clock: Clock, lookup_keys: list[str] | None = None
) -> Page[Item]:
    if lookup_keys:
        return lists.list_claimed(account, cls, CLAIM[cls.OBJECT], lookup_keys, window, clock)
    return lists.list_records(account, cls, window, clock)
