"""Billing profiles and cadences (v2): create, read, update, list; a cadence's cancel.

A profile belongs to one customer; its lookup key is unique per customer. A cadence is paid by a
profile (so by its customer) and runs on that customer's test clock, if any: its
`next_billing_date` is read at the clock's time. Cancelling a cadence that still bills an
active pricing plan subscription is Stripe's 400 `billing_cadence_active`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tally.billing.clocks import clock_for
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain import v2_events as events
from tally.domain.cadences import BillingCycle, BillingProfile, Cadence, anchor, resolve
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.records import Customer
from tally.errors import InvalidRequest
from tally.ids import new_id
from tally.settings import settings
from tally.store import lists, objects
from tally.store.changes import Change, Unique

PROFILE_KEY = "billing_profile_lookup_key"
CADENCE_KEY = "cadence_lookup_key"


def _claim(kind: str, value: str, what: str) -> Unique:
    taken = InvalidRequest(
        f"A {what} with the lookup_key {value.split('/', 1)[-1]!r} already exists.",
        code="lookup_key_already_exists",
        param="lookup_key",
    )
    return Unique(kind, value, taken)


# -- billing profiles ------------------------------------------------------------------------


def create_profile(
    account: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock
) -> BillingProfile:
    customer = referenced(account, fields["customer"], Customer, "customer", clock)
    profile = BillingProfile(
        id=new_id("bprof", 24),
        created=clock.now,
        livemode=settings().livemode,
        metadata=apply_metadata({}, metadata),
        **fields,
    )
    claims = (
        [_claim(PROFILE_KEY, f"{customer.id}/{profile.lookup_key}", "billing profile")]
        if profile.lookup_key
        else []
    )
    objects.create(account, Change(profile, None, {}, claim=claims), clock)
    return profile


def retrieve_profile(account: str, profile_id: str, clock: Clock) -> BillingProfile:
    return objects.get(account, profile_id, BillingProfile, clock)


def update_profile(
    account: str, profile_id: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock
) -> BillingProfile:
    stored = objects.load(account, profile_id, BillingProfile, clock)
    before = stored.record
    after = replace(before, **fields, metadata=apply_metadata(before.metadata, metadata))
    if after == before:
        return before
    change = Change(after, None, {})
    if after.lookup_key != before.lookup_key:
        if before.lookup_key:
            change.release.append((PROFILE_KEY, f"{before.customer}/{before.lookup_key}"))
        if after.lookup_key:
            change.claim.append(
                _claim(PROFILE_KEY, f"{after.customer}/{after.lookup_key}", "billing profile")
            )
    objects.update(account, stored, change, clock)
    return after


def list_profiles(
    account: str, window: Window, clock: Clock, *, customer: str | None, status: str | None
) -> Page[BillingProfile]:
    def matches(p: BillingProfile) -> bool:
        return (customer is None or p.customer == customer) and (status is None or p.status == status)

    if customer is not None:
        return lists.list_records(account, BillingProfile, window, clock, where=matches, customer=customer)
    return lists.list_records(account, BillingProfile, window, clock, where=matches)


# -- cadences --------------------------------------------------------------------------------


def create_cadence(
    account: str,
    profile_id: str,
    cycle: BillingCycle,
    lookup_key: str | None,
    metadata: MetadataUpdate,
    request_clock: Clock,
) -> Cadence:
    """A cadence paid by `profile_id`, on its customer's test clock (created at the clock's time)."""
    profile = referenced(account, profile_id, BillingProfile, "payer.billing_profile", request_clock)
    if profile.status != "active":
        raise InvalidRequest("This billing profile is inactive.", param="payer.billing_profile")
    customer = objects.get(account, profile.customer, Customer, request_clock)
    clock = clock_for(account, customer.id, request_clock, changing=True)
    resolved = resolve(cycle, clock.now)
    cadence = Cadence(
        id=new_id("bc", 24),
        created=clock.now,
        livemode=settings().livemode,
        billing_profile=profile.id,
        customer=customer.id,
        cycle=resolved,
        anchor=anchor(resolved, clock.now),
        test_clock=customer.test_clock,
        lookup_key=lookup_key,
        metadata=apply_metadata({}, metadata),
    )
    claims = [_claim(CADENCE_KEY, lookup_key, "cadence")] if lookup_key else []
    thin = [(events.CADENCE_CREATED, events.cadence(cadence.id))]
    objects.create(account, Change(cadence, None, {}, claim=claims, thin=thin), clock)
    return cadence


def retrieve_cadence(account: str, cadence_id: str, clock: Clock) -> Cadence:
    return objects.get(account, cadence_id, Cadence, clock)


def cadence_clock(account: str, cadence: Cadence, request_clock: Clock) -> Clock:
    """The time a cadence lives at: its customer's test clock's, else the request's."""
    return clock_for(account, cadence.customer, request_clock)


def update_cadence(
    account: str,
    cadence_id: str,
    profile_id: str | None,
    lookup_key: str | None,
    clear_key: bool,
    metadata: MetadataUpdate,
    clock: Clock,
) -> Cadence:
    """The payer (another profile of the same customer), lookup key, metadata."""
    stored = objects.load(account, cadence_id, Cadence, clock)
    before = stored.record
    after = replace(before, metadata=apply_metadata(before.metadata, metadata))
    if profile_id is not None:
        profile = referenced(account, profile_id, BillingProfile, "payer.billing_profile", clock)
        if profile.customer != before.customer:
            raise InvalidRequest(
                "A cadence's payer must stay the same customer: this billing profile is another's.",
                param="payer.billing_profile",
            )
        after = replace(after, billing_profile=profile.id)
    if lookup_key is not None or clear_key:
        after = replace(after, lookup_key=lookup_key)
    if after == before:
        return before
    change = Change(after, None, {})
    if after.lookup_key != before.lookup_key:
        if before.lookup_key:
            change.release.append((CADENCE_KEY, before.lookup_key))
        if after.lookup_key:
            change.claim.append(_claim(CADENCE_KEY, after.lookup_key, "cadence"))
    objects.update(account, stored, change, clock)
    return after


def cancel_cadence(account: str, cadence_id: str, request_clock: Clock) -> Cadence:
    stored = objects.load(account, cadence_id, Cadence, request_clock)
    cadence = stored.record
    if cadence.status == "canceled":
        raise InvalidRequest("This billing cadence is already canceled.", code="billing_cadence_canceled")
    clock = clock_for(account, cadence.customer, request_clock, changing=True)
    after = replace(cadence, status="canceled", canceled_at=clock.now)
    thin = [(events.CADENCE_CANCELED, events.cadence(cadence.id))]
    objects.update(account, stored, Change(after, None, {}, thin=thin), clock)
    return after


def list_cadences(
    account: str,
    window: Window,
    clock: Clock,
    *,
    customer: str | None,
    test_clock: str | None,
    lookup_keys: list[str] | None,
) -> Page[Cadence]:
    def matches(c: Cadence) -> bool:
        return (customer is None or c.customer == customer) and (
            test_clock is None or c.test_clock == test_clock
        )

    if lookup_keys:
        return lists.list_claimed(account, Cadence, CADENCE_KEY, lookup_keys, window, clock, where=matches)
    if customer is not None:
        return lists.list_records(account, Cadence, window, clock, where=matches, customer=customer)
    return lists.list_records(account, Cadence, window, clock, where=matches)
