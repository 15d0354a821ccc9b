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

from tally.domain.cadences import BillingCycle
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
    """A license fee component's quantity on a subscription. On an action as asked, the
    component may be named by its `lookup_key` instead (`component` is then ""); a segment's
    quantities always name the component resolved in its plan version."""

    component: str
    quantity: int
    lookup_key: str | None = None


@dataclass(frozen=True)
class Segment:
    """From `start` on, the subscription bills this plan version with these quantities."""

    start: int
    pricing_plan: str
    pricing_plan_version: str
    quantities: tuple[Quantity, ...] = ()
    # The partial-period behaviours of the change that started this segment (its intent action's
    # `overrides`, `tally.domain.partial_periods`): how the license fees of the service interval
    # it starts in are credited (the previous segment's) and debited (its own), and whether a
    # service action's partial first interval grants credits (`full_credits` | `none`)
    credit_proration: str = "prorated"
    debit_proration: str = "prorated"
    credit_grant_create: str = "full_credits"
    # Its prorations were invoiced when its intent committed (`collect_at: on_effective_at`)
    prorations_collected: bool = False


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
    # A deactivate's `credit_proration_behavior`: whether the unused part of the license fees
    # of the interval the cancel falls in is credited (`prorated`) or not (`none`, its default)
    cancel_credit_proration: str = "none"
    cancel_credit_collected: bool = False  # … invoiced when its deactivate intent committed
    # Service actions' credit grants (`tally.billing.service_grants`, issue 14 point 5): every
    # service interval starting at or before `grants_through` has its grant; `grants_next` is the
    # next instant one may be due, as of the timeline `grants_mark` names (`mark`): a timeline
    # changed since (a modify) makes it due again at its last segment's start
    grants_through: int | None = None
    grants_next: int | None = None
    grants_mark: str = ""

    @property
    def mark(self) -> str:
        """What the timeline is now, as `grants_mark` records it."""
        last = self.timeline[-1]
        return f"{len(self.timeline)}@{last.start}@{last.pricing_plan_version}"

    @property
    def grants_due(self) -> int | None:
        """When service action grants may next be due (None: never, as things stand)."""
        if not self.grants_mark:
            return self.activated_at
        if self.grants_mark != self.mark:
            start = self.current.start
            return start if self.grants_next is None else min(start, self.grants_next)
        return self.grants_next

    # the servicing status its last thin event announced (`tally.billing.plan_servicing`)
    announced: str = "pending"

    @property
    def due_at(self) -> int | None:
        """Its due-index entry (`tally.store.due`): the sooner of its next servicing event and its
        next service action grant; on a test clock the advance does both (None)."""
        if self.test_clock is not None:
            return None
        due = [
            t
            for t in (next_servicing(self.announced, self.activated_at, self.canceled_at), self.grants_due)
            if t is not None
        ]
        return min(due, default=None)

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
    # `overrides.partial_period_behaviors`, as given (None: the action type's default,
    # `tally.domain.partial_periods.DEFAULTS`)
    credit_proration: str | None = None
    debit_proration: str | None = None
    credit_grant_create: str | None = None


@dataclass(frozen=True)
class CadenceData:
    """An intent's `cadence_data`: the cadence its commit creates (id chosen at create, written
    once, in the commit's transaction), paid by an existing profile or by one the commit creates
    for `customer` (`billing_profile_data`). The cycle is resolved at the intent's creation."""

    cadence: str
    billing_profile: str
    customer: str
    billing_cycle: BillingCycle
    new_profile: bool = False  # `billing_profile_data`: the commit creates the profile too


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
    cadence_data: CadenceData | None = None  # `cadence` is written at commit
