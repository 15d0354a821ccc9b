"""Pricing plans (v2): create, read, update (`live_version`), versions, and components.

Stripe's rule (`tally.domain.plans`): adding a rate card joins the latest version; adding a
license fee or service action, or removing any component, makes a new version. Each change is
one transaction: the plan (checked against the version read, so concurrent changes of one plan
serialize as 409s), the component, and — when it makes a version — the new version and the
previous version's `end_date`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tally.billing import license_fees, rate_cards
from tally.billing.changes import rekeyed
from tally.clock import Clock
from tally.domain import v2_events as events
from tally.domain.catalog import RateCard
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.plans import (
    MAX_COMPONENTS,
    LicenseFee,
    PricingPlan,
    PricingPlanComponent,
    PricingPlanVersion,
    ServiceAction,
    in_version,
    makes_version,
)
from tally.errors import InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.settings import settings
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Stored, Unique, Write

LOOKUP_KEY = "pricing_plan_lookup_key"


def _claim(key: str) -> Unique:
    taken = InvalidRequest(
        f"A pricing plan with the lookup_key {key!r} already exists.",
        code="lookup_key_already_exists",
        param="lookup_key",
    )
    return Unique(LOOKUP_KEY, key, taken)


def create(account: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock) -> PricingPlan:
    """A plan with its first (empty) version; no version is live until one is made live."""
    version = PricingPlanVersion(
        id=new_id("bppv", 24),
        created=clock.now,
        livemode=settings().livemode,
        pricing_plan="",
        seq=1,
        start_date=clock.now,
    )
    plan = PricingPlan(
        id=new_id("bpp", 24),
        created=clock.now,
        livemode=settings().livemode,
        latest_version=version.id,
        metadata=apply_metadata({}, metadata),
        **fields,
    )
    version = replace(version, pricing_plan=plan.id)
    claims = [_claim(plan.lookup_key)] if plan.lookup_key else []
    created = Change(plan, None, {}, claim=claims, thin=[(events.PLAN_CREATED, events.plan(plan.id))])
    made = Change(version, None, {}, thin=[(events.VERSION_CREATED, events.version(plan.id, version.id))])
    transactions.commit(account, [Write(created), Write(made)], clock)
    return plan


def retrieve(account: str, plan_id: str, clock: Clock) -> PricingPlan:
    return objects.get(account, plan_id, PricingPlan, clock)


def update(
    account: str, plan_id: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock
) -> PricingPlan:
    stored = objects.load(account, plan_id, PricingPlan, clock)
    before = stored.record
    live = fields.pop("live_version", None)
    if live == "latest":
        fields["live_version"] = before.latest_version
    elif live is not None:
        fields["live_version"] = version_of(account, before, live, clock, param="live_version").id
    after = replace(before, **fields, metadata=apply_metadata(before.metadata, metadata))
    if after == before:
        return before
    change = Change(after, None, {}, thin=[(events.PLAN_UPDATED, events.plan(after.id))])
    rekeyed(
        change,
        LOOKUP_KEY,
        before.lookup_key,
        after.lookup_key,
        _claim(after.lookup_key) if after.lookup_key else None,
    )
    objects.update(account, stored, change, clock)
    return after


def list_(
    account: str, window: Window, clock: Clock, *, active: bool | None, lookup_keys: list[str] | None
) -> Page[PricingPlan]:
    if lookup_keys:
        return lists.list_claimed(account, PricingPlan, LOOKUP_KEY, lookup_keys, window, clock)
    if active is None:
        return lists.list_records(account, PricingPlan, window, clock)
    flag = "true" if active else "false"
    return lists.list_records(
        account, PricingPlan, window, clock, where=lambda p: p.active == active, any_of=[("active", flag)]
    )


# -- versions --------------------------------------------------------------------------------


def version_of(
    account: str, plan: PricingPlan, version_id: str, clock: Clock, *, param: str = "id"
) -> PricingPlanVersion:
    try:
        version = objects.get(account, version_id, PricingPlanVersion, clock, param=param)
    except NotFound:
        version = None
    if version is None or version.pricing_plan != plan.id:
        if param == "id":
            raise NotFound("v2.billing.pricing_plan_version", version_id)
        raise InvalidRequest(
            f"No such pricing plan version: '{version_id}'", code="resource_missing", param=param
        )
    return version


def versions(account: str, plan: PricingPlan, clock: Clock) -> list[PricingPlanVersion]:
    """Every version of `plan`, the most recent first."""
    return sorted(_all(account, PricingPlanVersion, plan.id, clock), key=lambda v: -v.seq)


def _all(account: str, cls: Any, plan_id: str, clock: Clock) -> list[Any]:
    return lists.every_record(account, cls, clock, any_of=[("pricing_plan", plan_id)])


# -- components ------------------------------------------------------------------------------


def components(
    account: str, plan: PricingPlan, version: PricingPlanVersion, clock: Clock
) -> list[PricingPlanComponent]:
    """The components of `version`, oldest first."""
    return in_version(_all(account, PricingPlanComponent, plan.id, clock), version.seq)


def component(account: str, plan: PricingPlan, component_id: str, clock: Clock) -> PricingPlanComponent:
    try:
        found = objects.get(account, component_id, PricingPlanComponent, clock)
    except NotFound:
        found = None
    if found is None or found.pricing_plan != plan.id:
        raise NotFound("v2.billing.pricing_plan_component", component_id)
    return found


def add_component(
    account: str,
    plan_id: str,
    kind: str,
    target: str,
    target_version: str | None,
    lookup_key: str | None,
    metadata: MetadataUpdate,
    clock: Clock,
) -> PricingPlanComponent:
    """Add a rate card (joins the latest version), a license fee or a service action (a new
    version). A rate card or license fee version left out is its live version, pinned."""
    stored = objects.load(account, plan_id, PricingPlan, clock)
    plan = stored.record
    if not plan.active:
        raise invalid("id", "This pricing plan is inactive: its components cannot change.")
    pinned = _pinned(account, plan, kind, target, target_version, clock)
    latest = objects.get(account, plan.latest_version, PricingPlanVersion, clock)
    current = components(account, plan, latest, clock)
    if any(c.target == target for c in current):
        raise invalid(kind, f"{target} is already a component of this pricing plan.")
    if len(current) >= MAX_COMPONENTS:
        raise invalid("type", f"A pricing plan version holds at most {MAX_COMPONENTS} components.")
    writes, version = _next_version(account, plan, latest, makes_version(kind), clock)
    made = PricingPlanComponent(
        id=new_id("bppc", 24),
        created=clock.now,
        livemode=settings().livemode,
        pricing_plan=plan.id,
        pricing_plan_version=version.id,
        created_seq=version.seq,
        type=kind,
        target=target,
        target_version=pinned,
        lookup_key=lookup_key,
        metadata=apply_metadata({}, metadata),
    )
    after = replace(plan, latest_version=version.id, latest_seq=version.seq, components=len(current) + 1)
    thin = [(events.COMPONENT_CREATED, events.component(plan.id, made.id))]
    transactions.commit(
        account,
        [Write(Change(after, None, {}), stored), *writes, Write(Change(made, None, {}, thin=thin))],
        clock,
    )
    return made


def update_component(
    account: str,
    plan_id: str,
    component_id: str,
    lookup_key: str | None,
    metadata: MetadataUpdate,
    clock: Clock,
) -> PricingPlanComponent:
    """Only `lookup_key` and `metadata` change (no version: they do not change what is billed)."""
    plan = retrieve(account, plan_id, clock)
    found = component(account, plan, component_id, clock)
    stored = objects.load(account, found.id, PricingPlanComponent, clock)
    after = replace(stored.record, metadata=apply_metadata(stored.record.metadata, metadata))
    if lookup_key is not None:
        after = replace(after, lookup_key=lookup_key)
    if after != stored.record:
        thin = [(events.COMPONENT_UPDATED, events.component(plan.id, after.id))]
        objects.update(account, stored, Change(after, None, {}, thin=thin), clock)
    return after


def remove_component(account: str, plan_id: str, component_id: str, clock: Clock) -> PricingPlanComponent:
    """Remove a component from the latest version: a new version without it."""
    stored = objects.load(account, plan_id, PricingPlan, clock)
    plan = stored.record
    if not plan.active:
        raise invalid("id", "This pricing plan is inactive: its components cannot change.")
    latest = objects.get(account, plan.latest_version, PricingPlanVersion, clock)
    current = components(account, plan, latest, clock)
    if component_id not in {c.id for c in current}:
        raise NotFound("v2.billing.pricing_plan_component", component_id)
    writes, version = _next_version(account, plan, latest, True, clock)
    gone = objects.load(account, component_id, PricingPlanComponent, clock)
    ended = replace(gone.record, ended_seq=version.seq)
    after = replace(plan, latest_version=version.id, latest_seq=version.seq, components=len(current) - 1)
    transactions.commit(
        account,
        [Write(Change(after, None, {}), stored), *writes, Write(Change(ended, None, {}), gone)],
        clock,
    )
    return ended


def _next_version(
    account: str, plan: PricingPlan, latest: PricingPlanVersion, new: bool, clock: Clock
) -> tuple[list[Write], PricingPlanVersion]:
    """The writes that make a new version (and end the latest), or none and the latest."""
    if not new:
        return [], latest
    version = PricingPlanVersion(
        id=new_id("bppv", 24),
        created=clock.now,
        livemode=settings().livemode,
        pricing_plan=plan.id,
        seq=latest.seq + 1,
        start_date=clock.now,
    )
    previous: Stored[PricingPlanVersion] = objects.load(account, latest.id, PricingPlanVersion, clock)
    ended = replace(previous.record, end_date=clock.now)
    thin = [(events.VERSION_CREATED, events.version(plan.id, version.id))]
    return [Write(Change(version, None, {}, thin=thin)), Write(Change(ended, None, {}), previous)], version


def _pinned(
    account: str, plan: PricingPlan, kind: str, target: str, version: str | None, clock: Clock
) -> str | None:
    """Check what a component names (currency and activity included) and the version it pins."""
    param = f"{kind}.id"
    if kind == "rate_card":
        card = _named(account, target, RateCard, param, clock)
        if card.currency != plan.currency:
            raise invalid(param, f"The rate card is in {card.currency}; the pricing plan in {plan.currency}.")
        if not card.active:
            raise invalid(param, "This rate card is inactive.")
        if version is None:
            return card.live_version
        return rate_cards.version_of(account, card, version, clock, param=f"{kind}.version").id
    if kind == "license_fee":
        fee = _named(account, target, LicenseFee, param, clock)
        if fee.currency != plan.currency:
            raise invalid(
                param, f"The license fee is in {fee.currency}; the pricing plan in {plan.currency}."
            )
        if not fee.active:
            raise invalid(param, "This license fee is inactive.")
        if version is None:
            return fee.live_version
        return license_fees.version_of(account, fee, version, clock, param=f"{kind}.version").id
    action = _named(account, target, ServiceAction, param, clock)
    if action.credit_grant.currency != plan.currency:
        raise invalid(
            param, "The service action's credit grant is in another currency than the pricing plan."
        )
    return None


def _named(account: str, target: str, cls: Any, param: str, clock: Clock) -> Any:
    try:
        return objects.get(account, target, cls, clock, param=param)
    except NotFound as exc:
        raise InvalidRequest(exc.message, code="resource_missing", param=param) from None
