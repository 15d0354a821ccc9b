"""Pricing plan subscriptions (v2): read, list, update (metadata; `clear_cancel_at`). They are
created, moved and canceled only by billing intents (`tally.billing.intents`), as in Stripe."""

from __future__ import annotations

from dataclasses import replace

from tally.billing.clocks import clock_for
from tally.clock import Clock
from tally.domain.intents import PlanSubscription, servicing_status
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.errors import InvalidRequest
from tally.store import lists, objects
from tally.store.changes import Change


def retrieve(account: str, sub_id: str, clock: Clock) -> PlanSubscription:
    return objects.get(account, sub_id, PlanSubscription, clock)


def now_of(account: str, sub: PlanSubscription, request_clock: Clock) -> int:
    """The instant a subscription's statuses are read at: its customer's clock."""
    return clock_for(account, sub.customer, request_clock).now


def update(
    account: str, sub_id: str, metadata: MetadataUpdate, clear_cancel_at: bool, request_clock: Clock
) -> PlanSubscription:
    stored = objects.load(account, sub_id, PlanSubscription, request_clock)
    before = stored.record
    clock = clock_for(account, before.customer, request_clock, changing=clear_cancel_at)
    after = replace(before, metadata=apply_metadata(before.metadata, metadata))
    if clear_cancel_at:
        if before.canceled_at is None or servicing_status(before, clock.now) == "canceled":
            raise InvalidRequest(
                "This subscription has no scheduled cancel to clear.", param="clear_cancel_at"
            )
        after = replace(after, canceled_at=None, cancel_comment=None, cancel_feedback=None)
    if after != before:
        objects.update(account, stored, Change(after, None, {}), clock)
    return after


def list_(
    account: str,
    window: Window,
    clock: Clock,
    *,
    cadence: str | None,
    customer: str | None,
    pricing_plan: str | None,
    pricing_plan_version: str | None,
    servicing_status_is: str | None,
) -> Page[PlanSubscription]:
    def matches(s: PlanSubscription) -> bool:
        current = s.current
        return (
            (cadence is None or s.billing_cadence == cadence)
            and (pricing_plan is None or current.pricing_plan == pricing_plan)
            and (pricing_plan_version is None or current.pricing_plan_version == pricing_plan_version)
            and (
                servicing_status_is is None
                or servicing_status(s, now_of(account, s, clock)) == servicing_status_is
            )
        )

    if customer is not None:
        return lists.list_records(account, PlanSubscription, window, clock, where=matches, customer=customer)
    return lists.list_records(account, PlanSubscription, window, clock, where=matches)
