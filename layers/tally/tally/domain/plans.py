"""Pricing plans (v2): license fees and their versions, service actions, and versioned plans of
components. Records and pure rules, no I/O.

A pricing plan's versions follow Stripe's rule: adding a rate card joins the latest version;
adding a license fee or a service action, or removing any component, makes a new version. A
component pins the version of what it names (a rate card or license fee version), so a plan
version is immutable: what its subscribers pay changes only when they move to another version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from tally.domain.catalog import RateTier

Metadata = dict[str, str]
COMPONENT_TYPES = ("license_fee", "rate_card", "service_action")
SERVICE_ACTION_TYPES = ("credit_grant", "credit_grant_per_tenant")
CREDIT_CATEGORIES = ("paid", "promotional")
EXPIRY_TYPES = ("end_of_service_period",)
MAX_COMPONENTS = 100  # Tally's cap on components of one plan version (Stripe documents none)
NAME_MAX = 100
DESCRIPTION_MAX = 500


@dataclass(frozen=True)
class LicenseFee:
    OBJECT: ClassVar[str] = "v2.billing.license_fee"

    id: str
    created: int
    livemode: bool
    currency: str
    display_name: str
    licensed_item: str
    interval: str
    interval_count: int
    tax_behavior: str
    latest_version: str
    live_version: str
    active: bool = True
    lookup_key: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class LicenseFeeVersion:
    """An immutable price of a license fee."""

    OBJECT: ClassVar[str] = "v2.billing.license_fee_version"

    id: str
    created: int
    livemode: bool
    license_fee: str
    seq: int
    unit_amount: Decimal | None = None  # minor units, ≤ 12 dp
    tiers: tuple[RateTier, ...] = ()
    tiering_mode: str | None = None
    divide_by: int | None = None
    round: str | None = None


@dataclass(frozen=True)
class CreditGrantTemplate:
    """The credit grant a service action issues each service interval."""

    name: str
    currency: str
    value: int  # minor units
    category: str = "paid"
    priority: int = 50
    price_type: str | None = "metered"  # scope: price_type metered, or the billable items below
    billable_items: tuple[str, ...] = ()
    expiry: str = "end_of_service_period"


@dataclass(frozen=True)
class ServiceAction:
    OBJECT: ClassVar[str] = "v2.billing.service_action"

    id: str
    created: int
    livemode: bool
    interval: str
    interval_count: int
    type: str
    credit_grant: CreditGrantTemplate
    lookup_key: str | None = None


@dataclass(frozen=True)
class PricingPlan:
    OBJECT: ClassVar[str] = "v2.billing.pricing_plan"

    id: str
    created: int
    livemode: bool
    currency: str
    display_name: str
    tax_behavior: str
    latest_version: str
    latest_seq: int = 1
    components: int = 0  # in the latest version
    live_version: str | None = None  # None until a version is made live
    active: bool = True
    description: str | None = None
    lookup_key: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class PricingPlanVersion:
    OBJECT: ClassVar[str] = "v2.billing.pricing_plan_version"

    id: str
    created: int
    livemode: bool
    pricing_plan: str
    seq: int
    start_date: int
    end_date: int | None = None  # when a later version superseded it


@dataclass(frozen=True)
class PricingPlanComponent:
    """One component from the plan version it joined (`created_seq`) until one ends it."""

    OBJECT: ClassVar[str] = "v2.billing.pricing_plan_component"

    id: str
    created: int
    livemode: bool
    pricing_plan: str
    pricing_plan_version: str
    created_seq: int
    type: str
    target: str  # the rate card, license fee or service action
    target_version: str | None = None  # the pinned rate card / license fee version
    ended_seq: int | None = None
    lookup_key: str | None = None
    metadata: Metadata = field(default_factory=dict)


def in_version(components: list[PricingPlanComponent], seq: int) -> list[PricingPlanComponent]:
    """The components of plan version `seq`, oldest first."""
    return sorted(
        (c for c in components if c.created_seq <= seq and (c.ended_seq is None or c.ended_seq > seq)),
        key=lambda c: (c.created, c.id),
    )


def makes_version(component_type: str) -> bool:
    """Adding a rate card joins the latest version; a license fee or service action makes one."""
    return component_type != "rate_card"
