"""Rate cards (v2): create, read, update, and versioned rates (`modify_rates`, one rate's create and
delete, reads of any version).

`modify_rates` takes up to 100 creates and 100 deletes, atomically, though that is more writes
than one DynamoDB transaction holds. So rates are written first, invisible, and one small
transaction commits them (`tally.domain.catalog.visible` serves a rate only once its commit
marker exists):

1. Rates are written in transactions of at most `_CHUNK` rates, each naming its commit marker:
   the new version's id, or (a modification that only adds rates) a batch id.
   Crash here: the rates are leftovers nobody serves; a retry writes new ones.
2. The commit: the rate card (checked against the revision read: a concurrent modification
   makes one of them a 409) and the marker (the version, with the ids of the rates it ends),
   in one transaction. From here the modification is visible, all of it.
3. The ended rates get `ended_seq`. Crash here: reads of the latest version also drop the rates
   it names as ended, and the next modification first finishes this step for the latest
   version, so only the latest version's ends are ever pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from tally.billing import billable_items
from tally.billing.changes import rekeyed
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain.catalog import (
    MeteredItem,
    RateCard,
    RateCardBatch,
    RateCardRate,
    RateCardVersion,
    RateTier,
    plan,
    visible,
)
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.errors import InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.settings import settings
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Unique, Write

LOOKUP_KEY = "rate_card_lookup_key"
_CHUNK = 40  # rates per transaction in step 1 (each rate is its record and one filter entry)
_READ_PAGE = 100


@dataclass
class RateInput:
    """One rate to create: an existing metered item, or the data of a new one."""

    metered_item: str | None
    metered_item_data: dict[str, Any] | None
    unit_amount: Decimal | None
    tiers: tuple[RateTier, ...] = ()
    tiering_mode: str | None = None
    divide_by: int | None = None
    round: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    param: str = "rates_to_create[0]"


def _lookup_claim(key: str) -> Unique:
    taken = InvalidRequest(
        f"A rate card with the lookup_key {key!r} already exists.",
        code="lookup_key_already_exists",
        param="lookup_key",
    )
    return Unique(LOOKUP_KEY, key, taken)


def create(account: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock) -> RateCard:
    """A rate card with its first (empty) version, live at once."""
    version = RateCardVersion(
        id=new_id("rcdv", 24), created=clock.now, livemode=settings().livemode, rate_card="", seq=1
    )
    card = RateCard(
        id=new_id("rcd", 24),
        created=clock.now,
        livemode=settings().livemode,
        latest_version=version.id,
        live_version=version.id,
        metadata=apply_metadata({}, metadata),
        **fields,
    )
    version = replace(version, rate_card=card.id)
    claims = [_lookup_claim(card.lookup_key)] if card.lookup_key else []
    transactions.commit(
        account, [Write(Change(card, None, {}, claim=claims)), Write(Change(version, None, {}))], clock
    )
    return card


def retrieve(account: str, card_id: str, clock: Clock) -> RateCard:
    return objects.get(account, card_id, RateCard, clock)


def update(
    account: str, card_id: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock
) -> RateCard:
    """`active`, `display_name`, `lookup_key` (None clears), `metadata`, and `live_version`: a
    version of this card, or "latest"."""
    stored = objects.load(account, card_id, RateCard, clock)
    before = stored.record
    live = fields.pop("live_version", None)
    if live == "latest":
        fields["live_version"] = before.latest_version
    elif live is not None:
        version = version_of(account, before, live, clock, param="live_version")
        fields["live_version"] = version.id
    after = replace(before, **fields, metadata=apply_metadata(before.metadata, metadata))
    if after == before:
        return before
    change = Change(after, None, {})
    rekeyed(
        change,
        LOOKUP_KEY,
        before.lookup_key,
        after.lookup_key,
        _lookup_claim(after.lookup_key) if after.lookup_key else None,
    )
    objects.update(account, stored, change, clock)
    return after


def list_(
    account: str,
    window: Window,
    clock: Clock,
    *,
    active: bool | None = None,
    lookup_keys: list[str] | None = None,
) -> Page[RateCard]:
    if lookup_keys:
        return lists.list_claimed(account, RateCard, LOOKUP_KEY, lookup_keys, window, clock)
    if active is None:
        return lists.list_records(account, RateCard, window, clock)
    flag = "true" if active else "false"
    return lists.list_records(
        account, RateCard, window, clock, where=lambda c: c.active == active, any_of=[("active", flag)]
    )


# -- versions --------------------------------------------------------------------------------


def version_of(
    account: str, card: RateCard, version_id: str, clock: Clock, *, param: str = "id"
) -> RateCardVersion:
    """A version of `card` (a 404 naming `param` when it is not one of its versions)."""
    try:
        version = objects.get(account, version_id, RateCardVersion, clock, param=param)
    except NotFound:
        version = None
    if version is None or version.rate_card != card.id:
        if param == "id":
            raise NotFound("v2.billing.rate_card_version", version_id, param=param)
        raise InvalidRequest(
            f"No such rate card version: '{version_id}'", code="resource_missing", param=param
        )
    return version


def versions(account: str, card: RateCard, clock: Clock) -> list[RateCardVersion]:
    """Every version of `card`, the most recent first."""
    found = _all(account, RateCardVersion, card.id, clock)
    return sorted(found, key=lambda v: -v.seq)


def _all(account: str, cls: Any, card_id: str, clock: Clock) -> list[Any]:
    out: list[Any] = []
    after: str | None = None
    while True:
        page = lists.list_records(
            account, cls, Window(_READ_PAGE, after, None), clock, any_of=[("rate_card", card_id)]
        )
        out.extend(page.data)
        if not page.has_more or not page.data:
            return out
        after = page.data[-1].id


# -- rates -----------------------------------------------------------------------------------


def rates(account: str, card: RateCard, version: RateCardVersion, clock: Clock) -> list[RateCardRate]:
    """The rates of `version`, oldest first."""
    latest = (
        version
        if version.id == card.latest_version
        else objects.get(account, card.latest_version, RateCardVersion, clock)
    )
    every, committed = _every(account, card, clock)
    return visible(every, committed, version.seq, latest)


def _every(account: str, card: RateCard, clock: Clock) -> tuple[list[RateCardRate], set[str]]:
    """Every rate ever written for `card` and which of their commit markers exist."""
    every: list[RateCardRate] = _all(account, RateCardRate, card.id, clock)
    return every, objects.existing(account, [r.batch for r in every])


def rate(account: str, card: RateCard, rate_id: str, clock: Clock) -> RateCardRate:
    """One committed rate of `card` (any version)."""
    try:
        found = objects.get(account, rate_id, RateCardRate, clock)
    except NotFound:
        found = None
    if found is None or found.rate_card != card.id or not objects.existing(account, [found.batch]):
        raise NotFound("v2.billing.rate_card_rate", rate_id)
    return found


def modify_rates(
    account: str, card_id: str, creates: list[RateInput], deletes: list[str], clock: Clock
) -> tuple[RateCardVersion, list[RateCardRate]]:
    """Create and delete rates atomically (module docstring); the version that holds the result
    (a new one when the modification ends a rate, else the latest) and the rates created."""
    stored = objects.load(account, card_id, RateCard, clock)
    card = stored.record
    if not card.active:
        raise invalid("id", "This rate card is inactive: it takes no new rates.")
    latest = objects.get(account, card.latest_version, RateCardVersion, clock)
    every, committed = _every(account, card, clock)
    current = visible(every, committed, latest.seq, latest)
    _finish_ends(account, latest, every, clock)
    items = [_metered_item(account, c, clock) for c in creates]
    decided = plan(current, [i.id for i in items], deletes)
    seq = latest.seq + 1 if decided.new_version else latest.seq
    marker: RateCardVersion | RateCardBatch
    if decided.new_version:
        marker = RateCardVersion(
            id=new_id("rcdv", 24),
            created=clock.now,
            livemode=settings().livemode,
            rate_card=card.id,
            seq=seq,
            ended=tuple(sorted(decided.ended)),
        )
    else:
        marker = RateCardBatch(id=new_id("rcdb", 24), created=clock.now, rate_card=card.id)
    version_id = marker.id if decided.new_version else latest.id
    made = [
        RateCardRate(
            id=new_id("rcdr", 24),
            created=clock.now,
            livemode=settings().livemode,
            rate_card=card.id,
            rate_card_version=version_id,
            batch=marker.id,
            created_seq=seq,
            metered_item=item.id,
            unit_amount=given.unit_amount,
            tiers=given.tiers,
            tiering_mode=given.tiering_mode,
            divide_by=given.divide_by,
            round=given.round,
            metadata=dict(given.metadata),
        )
        for given, item in zip(creates, items, strict=True)
    ]
    for start in range(0, len(made), _CHUNK):  # step 1: invisible until the marker exists
        chunk = made[start : start + _CHUNK]
        transactions.commit(account, [Write(Change(r, None, {})) for r in chunk], clock)
    after = replace(
        card,
        revision=card.revision + 1,
        latest_seq=seq,
        latest_version=version_id,
        rates=len(current) - len(decided.ended) + len(made),
    )
    transactions.commit(  # step 2: the commit
        account, [Write(Change(after, None, {}), stored), Write(Change(marker, None, {}))], clock
    )
    if isinstance(marker, RateCardVersion):
        _finish_ends(account, marker, every, clock)  # step 3
        return marker, made
    return latest, made


def _finish_ends(account: str, version: RateCardVersion, every: list[RateCardRate], clock: Clock) -> None:
    """Write `ended_seq` on the rates `version` ended (idempotent: done ones are skipped)."""
    ended = set(version.ended)
    for r in every:
        if r.id in ended and r.ended_seq is None:
            stored = objects.load(account, r.id, RateCardRate, clock)
            if stored.record.ended_seq is None:
                objects.update(
                    account, stored, Change(replace(stored.record, ended_seq=version.seq), None, {}), clock
                )


def metered_items(account: str, item_ids: list[str], clock: Clock) -> dict[str, MeteredItem]:
    """The metered items named (each read once)."""
    return {i: objects.get(account, i, MeteredItem, clock) for i in dict.fromkeys(item_ids)}


def _metered_item(account: str, given: RateInput, clock: Clock) -> MeteredItem:
    if given.metered_item is not None:
        return referenced(account, given.metered_item, MeteredItem, f"{given.param}.metered_item", clock)
    assert given.metered_item_data is not None  # the API requires exactly one
    data = dict(given.metered_item_data)
    conditions = data.pop("meter_segment_conditions", [])
    return billable_items.create_metered(account, data, conditions, None, clock)
