"""License fees (v2) with versioned prices, and service actions (recurring credit grants).

A license fee's price (unit amount, tiers, packaging) lives in immutable versions: changing it
writes a new version and moves the fee's `latest_version` in one transaction. `live_version`
(what a plan component naming no version pins) moves only when asked ("latest" or an id).
A service action's only mutable fields are its lookup key and its grant's name (Stripe).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tally.billing.changes import rekeyed
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain.catalog import LicensedItem
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.plans import CreditGrantTemplate, LicenseFee, LicenseFeeVersion, ServiceAction
from tally.errors import InvalidRequest, NotFound
from tally.ids import new_id
from tally.settings import settings
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Unique, Write

LOOKUP_KEY = "license_fee_lookup_key"
ACTION_LOOKUP_KEY = "service_action_lookup_key"
PRICE_FIELDS = ("unit_amount", "tiers", "tiering_mode", "divide_by", "round")


def _claim(kind: str, key: str, what: str) -> Unique:
    taken = InvalidRequest(
        f"A {what} with the lookup_key {key!r} already exists.",
        code="lookup_key_already_exists",
        param="lookup_key",
    )
    return Unique(kind, key, taken)


def create(
    account: str, fields: dict[str, Any], price: dict[str, Any], metadata: MetadataUpdate, clock: Clock
) -> tuple[LicenseFee, LicenseFeeVersion]:
    referenced(account, fields["licensed_item"], LicensedItem, "licensed_item", clock)
    version = LicenseFeeVersion(
        id=new_id("licfv", 24),
        created=clock.now,
        livemode=settings().livemode,
        license_fee="",
        seq=1,
        **price,
    )
    fee = LicenseFee(
        id=new_id("licf", 24),
        created=clock.now,
        livemode=settings().livemode,
        latest_version=version.id,
        live_version=version.id,
        metadata=apply_metadata({}, metadata),
        **fields,
    )
    version = replace(version, license_fee=fee.id)
    claims = [_claim(LOOKUP_KEY, fee.lookup_key, "license fee")] if fee.lookup_key else []
    transactions.commit(
        account, [Write(Change(fee, None, {}, claim=claims)), Write(Change(version, None, {}))], clock
    )
    return fee, version


def retrieve(account: str, fee_id: str, clock: Clock) -> tuple[LicenseFee, LicenseFeeVersion]:
    """The fee and its latest version (whose price the fee shows)."""
    fee = objects.get(account, fee_id, LicenseFee, clock)
    return fee, objects.get(account, fee.latest_version, LicenseFeeVersion, clock)


def update(
    account: str,
    fee_id: str,
    fields: dict[str, Any],
    price: dict[str, Any] | None,
    metadata: MetadataUpdate,
    clock: Clock,
) -> tuple[LicenseFee, LicenseFeeVersion]:
    """Display name, lookup key, metadata, `live_version`; a new price makes a version."""
    stored = objects.load(account, fee_id, LicenseFee, clock)
    before = stored.record
    if not before.active:
        raise InvalidRequest("This license fee is inactive: it cannot be modified.", param="id")
    latest = objects.get(account, before.latest_version, LicenseFeeVersion, clock)
    writes: list[Write] = []
    version = latest
    if price is not None and any(price[k] != getattr(latest, k) for k in PRICE_FIELDS):
        version = LicenseFeeVersion(
            id=new_id("licfv", 24),
            created=clock.now,
            livemode=settings().livemode,
            license_fee=before.id,
            seq=latest.seq + 1,
            **price,
        )
        writes.append(Write(Change(version, None, {})))
        fields["latest_version"] = version.id
    live = fields.pop("live_version", None)
    if live == "latest":
        fields["live_version"] = version.id
    elif live is not None:
        fields["live_version"] = version_of(account, before, live, clock, param="live_version").id
    after = replace(before, **fields, metadata=apply_metadata(before.metadata, metadata))
    if after == before and not writes:
        return before, latest
    change = Change(after, None, {})
    rekeyed(
        change,
        LOOKUP_KEY,
        before.lookup_key,
        after.lookup_key,
        _claim(LOOKUP_KEY, after.lookup_key, "license fee") if after.lookup_key else None,
    )
    transactions.commit(account, [Write(change, stored), *writes], clock)
    return after, version


def version_of(
    account: str, fee: LicenseFee, version_id: str, clock: Clock, *, param: str = "id"
) -> LicenseFeeVersion:
    try:
        version = objects.get(account, version_id, LicenseFeeVersion, clock, param=param)
    except NotFound:
        version = None
    if version is None or version.license_fee != fee.id:
        if param == "id":
            raise NotFound("v2.billing.license_fee_version", version_id)
        raise InvalidRequest(
            f"No such license fee version: '{version_id}'", code="resource_missing", param=param
        )
    return version


def versions(account: str, fee: LicenseFee, clock: Clock) -> list[LicenseFeeVersion]:
    """Every version of `fee`, the most recent first."""
    found: list[LicenseFeeVersion] = []
    after: str | None = None
    while True:
        page = lists.list_records(
            account, LicenseFeeVersion, Window(100, after, None), clock, any_of=[("license_fee", fee.id)]
        )
        found.extend(page.data)
        if not page.has_more or not page.data:
            return sorted(found, key=lambda v: -v.seq)
        after = page.data[-1].id


def list_(
    account: str, window: Window, clock: Clock, lookup_keys: list[str] | None, licensed_item: str | None
) -> Page[LicenseFee]:
    def matches(fee: LicenseFee) -> bool:
        return licensed_item is None or fee.licensed_item == licensed_item

    if lookup_keys:
        return lists.list_claimed(account, LicenseFee, LOOKUP_KEY, lookup_keys, window, clock, where=matches)
    return lists.list_records(account, LicenseFee, window, clock, where=matches)


# -- service actions -------------------------------------------------------------------------


def create_action(
    account: str, fields: dict[str, Any], grant: CreditGrantTemplate, clock: Clock
) -> ServiceAction:
    action = ServiceAction(
        id=new_id("svca", 24), created=clock.now, livemode=settings().livemode, credit_grant=grant, **fields
    )
    claims = [_claim(ACTION_LOOKUP_KEY, action.lookup_key, "service action")] if action.lookup_key else []
    objects.create(account, Change(action, None, {}, claim=claims), clock)
    return action


def retrieve_action(account: str, action_id: str, clock: Clock) -> ServiceAction:
    return objects.get(account, action_id, ServiceAction, clock)


def update_action(
    account: str, action_id: str, lookup_key: str | None, clear_key: bool, name: str | None, clock: Clock
) -> ServiceAction:
    stored = objects.load(account, action_id, ServiceAction, clock)
    before = stored.record
    after = before
    if name is not None:
        after = replace(after, credit_grant=replace(after.credit_grant, name=name))
    if lookup_key is not None or clear_key:
        after = replace(after, lookup_key=lookup_key)
    if after == before:
        return before
    change = Change(after, None, {})
    rekeyed(
        change,
        ACTION_LOOKUP_KEY,
        before.lookup_key,
        after.lookup_key,
        _claim(ACTION_LOOKUP_KEY, after.lookup_key, "service action") if after.lookup_key else None,
    )
    objects.update(account, stored, change, clock)
    return after
