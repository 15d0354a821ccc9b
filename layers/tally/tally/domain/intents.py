"""Billing intents and pricing plan subscriptions (v2): records and rules, no I/O.

An intent carries actions (subscribe, modify, deactivate) through draft → reserved → committed
(or canceled). Committing applies them: a subscription is created, moved to another plan version
(or quantities), or canceled, each at its action's effective instant. A subscription keeps its
timeline — which plan version and quantities applied from which instant (`Segment`) — so billing
can price each service interval by the version that applied, and say so on its lines. Statuses
that depend on time (pending until activation, canceled from the cancel instant) are read at the
caller's clock (`servicing_status`), so no scheduler flips them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from tally.domain.v2_events import next_servicing

Metadata = dict[str, str]
ACTION_TYPES = ("subscribe", "modify", "deactivate")
EFFECTIVE = {
    "subscribe": ("current_billing_period_start", "on_reserve", "timestamp"),
    "modify": ("current_billing_period_start", "on_reserve", "timestamp"),
    "deactivate": ("current_billing_period_end", "current_billing_period_start", "on_reserve", "timestamp"),
}
COLLECT_AT = ("next_billing_date", "on_effective_at")
FEEDBACK = (
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
)
MAX_ACTIONS = 10  # per intent (Tally's cap; Stripe documents none)
MAX_SEGMENTS = 1_000  # a subscription's timeline (≈150 KB, well under DynamoDB's 400 KB item)
INTENT_TTL = 7 * 86_400  # a draft or reserved intent expires a week after creation (Tally's choice)


@dataclass(frozen=True)
class Quantity:
    """A license fee component's quantity on a subscription."""

    component: str
    quantity: int


@dataclass(frozen=True)
class Segment:
    """From `start` on, the subscription bills this plan version with these quantities."""

    start: int
    pricing_plan: str
    pricing_plan_version: str
    quantities: tuple[Quantity, ...] = ()


@dataclass(frozen=True)
class PlanSubscription:
    OBJECT: ClassVar[str] = "v2.billing.pricing_plan_subscription"

    id: str
    created: int
    livemode: bool
    billing_cadence: str
    customer: str
    activated_at: int  # service intervals count from here
    timeline: tuple[Segment, ...]
    canceled_at: int | None = None  # effective cancel instant (future: `will_cancel_at`)
    cancel_comment: str | None = None
    cancel_feedback: str | None = None
    test_clock: str | None = None
    metadata: Metadata = field(default_factory=dict)
    # Its first license fee intervals were collected when its subscribe intent committed
    # (`collect_at: on_effective_at`): the cadence's ticks do not bill them again
    collected_at_commit: bool = False
    # the servicing status its last thin event announced (`tally.billing.plan_servicing`)
    announced: str = "pending"

    @property
    def due_at(self) -> int | None:
        """When its next servicing event is due (`tally.store.due`); on a test clock the advance
        writes it (None)."""
        if self.test_clock is not None:
            return None
        return next_servicing(self.announced, self.activated_at, self.canceled_at)

    @property
    def current(self) -> Segment:
        return self.timeline[-1]

    def segment_at(self, instant: int) -> Segment:
        """The segment in force at `instant` (the first before activation)."""
        found = self.timeline[0]
        for segment in self.timeline:
            if segment.start <= instant:
                found = segment
        return found


def servicing_status(sub: PlanSubscription, now: int) -> str:
    if sub.canceled_at is not None and sub.canceled_at <= now:
        return "canceled"
    if now < sub.activated_at:
        return "pending"
    return "active"


@dataclass(frozen=True)
class Action:
    """One intent action as requested; `effective_at` is resolved at reserve."""

    id: str
    created: int
    type: str
    effective_type: str = "on_reserve"
    effective_timestamp: int | None = None
    effective_at: int | None = None
    collect_at: str = "next_billing_date"
    pricing_plan: str | None = None
    pricing_plan_version: str | None = None
    quantities: tuple[Quantity, ...] = ()
    subscription: str | None = None  # modify, deactivate; subscribe: set at commit
    new_pricing_plan: str | None = None
    new_pricing_plan_version: str | None = None
    cancel_comment: str | None = None
    cancel_feedback: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class Intent:
    OBJECT: ClassVar[str] = "v2.billing.intent"

    id: str
    created: int
    livemode: bool
    currency: str
    cadence: str
    customer: str
    actions: tuple[Action, ...]
    expires_at: int
    status: str = "draft"
    reserved_at: int | None = None
    committed_at: int | None = None
    canceled_at: int | None = None
    amount_due: int = 0  # minor units, computed at reserve
    subtotal: int = 0
