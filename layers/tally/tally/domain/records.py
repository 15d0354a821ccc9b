"""Typed records of what Tally keeps: the fields that vary, parsed and validated once.

Stripe's JSON is built from these by `tally.presenters` at the edges (the HTTP answer and the
event log); the store keeps the records themselves (`tally.store.codec`). A record refers to
other objects by id (a subscription item names its price) instead of embedding copies.
Records are immutable: a change is `dataclasses.replace(record, ...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from tally.domain import periods
from tally.domain.aggregation import Formula
from tally.domain.meter_events import PAST_WINDOW
from tally.domain.pricing import PriceModel, Tier

Metadata = dict[str, str]
LICENSED = "licensed"
METERED = "metered"
UPCOMING_SECONDS = 86_400  # `invoice.upcoming` is written one day before a renewal
TRIAL_WILL_END_SECONDS = 3 * 86_400  # `customer.subscription.trial_will_end`: 3 days before (Stripe)
# Late usage can change a period until a meter event can no longer be stamped in it (35 days) nor
# cancelled (24 h after receipt): `tally.domain.true_ups.SETTLES_AFTER`, the same sum.
FINAL_TRUE_UP_AFTER = PAST_WINDOW + 86_400


@dataclass(frozen=True)
class Customer:
    OBJECT: ClassVar[str] = "customer"

    id: str
    created: int
    livemode: bool
    invoice_prefix: str
    name: str | None = None
    email: str | None = None
    description: str | None = None
    phone: str | None = None
    balance: int = 0  # minor units of `currency`; negative is a credit (`tally.billing.balances`)
    next_invoice_sequence: int = 1
    metadata: Metadata = field(default_factory=dict)
    test_clock: str | None = None  # the test clock it runs on (its objects follow its frozen_time)
    # Stripe's: set by its first subscription or balance transaction; its balance is in it, and
    # it is charged in no other (`tally.billing.balances.check_currency`)
    currency: str | None = None
    # Tally's, never shown: the customer has credit-balance alerts or a top-up rule, so ingest
    # evaluates them after the usage write (`tally.billing.credit_evaluation`); false costs nothing
    credit_watched: bool = False


@dataclass(frozen=True)
class Product:
    OBJECT: ClassVar[str] = "product"

    id: str
    created: int
    updated: int
    livemode: bool
    name: str
    active: bool = True
    description: str | None = None
    unit_label: str | None = None
    default_price: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class Meter:
    OBJECT: ClassVar[str] = "billing.meter"

    id: str
    created: int
    updated: int
    livemode: bool
    display_name: str
    event_name: str
    formula: Formula
    customer_key: str = "stripe_customer_id"  # customer_mapping[event_payload_key]
    value_key: str = "value"  # value_settings[event_payload_key]
    event_time_window: str | None = None
    status: str = "active"
    deactivated_at: int | None = None
    write_shards: int = 1  # Tally extension: usage buckets spread over this many partitions
    # Payload keys whose values split usage into segments (`tally.domain.dimensions`); fixed at create.
    dimension_payload_keys: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Recurring:
    interval: str
    interval_count: int = 1
    usage_type: str = LICENSED
    meter: str | None = None


@dataclass(frozen=True)
class Transform:
    divide_by: int
    round: str


@dataclass(frozen=True)
class Price:
    """A price. Construction validates the pricing model (ValueError), so a stored price is sound."""

    OBJECT: ClassVar[str] = "price"

    id: str
    created: int
    livemode: bool
    currency: str
    product: str
    billing_scheme: str = "per_unit"
    unit_amount: Decimal | None = None  # minor units, up to 12 decimal places
    tiers_mode: str | None = None
    tiers: tuple[Tier, ...] = ()
    transform: Transform | None = None
    recurring: Recurring | None = None
    active: bool = True
    lookup_key: str | None = None
    nickname: str | None = None
    tax_behavior: str = "unspecified"
    metadata: Metadata = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.model  # noqa: B018 — validates

    @property
    def model(self) -> PriceModel:
        """What the price charges for a quantity (tiers and transform)."""
        return PriceModel(
            billing_scheme=self.billing_scheme,
            unit_amount=self.unit_amount,
            tiers_mode=self.tiers_mode,
            tiers=self.tiers,
            divide_by=self.transform.divide_by if self.transform else None,
            round=self.transform.round if self.transform else None,
        )

    @property
    def type(self) -> str:
        return "one_time" if self.recurring is None else "recurring"

    @property
    def usage_type(self) -> str:
        return self.recurring.usage_type if self.recurring else LICENSED

    @property
    def metered(self) -> bool:
        return self.usage_type == METERED

    @property
    def meter(self) -> str | None:
        return self.recurring.meter if self.recurring else None


@dataclass(frozen=True)
class SubscriptionItem:
    id: str
    price: str  # the price's id; presenters are handed the prices
    created: int
    quantity: int | None = None  # None for metered items
    metadata: Metadata = field(default_factory=dict)
    # Metered items: usage counts from this instant (the item was added or switched price
    # mid-period; the usage before it is billed by a `UsageSegment`). None: the period start.
    usage_since: int | None = None


@dataclass(frozen=True)
class PendingItem:
    """A pending invoice item (Stripe's `ii_…`): a proration line a subscription update created,
    billed by the invoice closing the period that contains `at` (`tally.billing.pending`)."""

    id: str
    subscription_item: str
    price: str
    quantity: int
    amount: int  # minor units; negative for the credit of unused time
    period_start: int
    period_end: int
    description: str
    at: int  # the proration instant (`proration_date`)
    proration: bool = True


@dataclass(frozen=True)
class UsageSegment:
    """Usage of a metered item under a price it no longer has (switched or removed at `end`):
    the invoice closing the period containing `end` bills [start, end) at that price."""

    subscription_item: str
    price: str
    start: int
    end: int


@dataclass(frozen=True)
class Subscription:
    OBJECT: ClassVar[str] = "subscription"

    id: str
    customer: str
    created: int  # also Stripe's start_date
    livemode: bool
    currency: str
    interval: str  # every item shares the interval
    interval_count: int
    billing_cycle_anchor: int
    items: tuple[SubscriptionItem, ...]
    status: str = "active"
    description: str | None = None
    metadata: Metadata = field(default_factory=dict)
    canceled_at: int | None = None
    ended_at: int | None = None
    cancellation_reason: str | None = None
    # Set when the subscription ends (the period it ended in); while it runs, the current period
    # is computed from the anchor at the instant of the read.
    ended_period_start: int | None = None
    ended_period_end: int | None = None
    # Billing cycles: the start of the first period not yet invoiced (None: `created`, nothing
    # billed yet). The scheduled close bills [billed_through, end of its period) and moves it on,
    # in the same transaction as the invoice (`tally.billing.cycles`).
    billed_through: int | None = None
    # Copied from the customer: a subscription on a test clock is billed when its clock advances
    # (`tally.billing.test_clocks`), never by the wall-clock schedule (no due-index entry).
    test_clock: str | None = None
    # Subscription updates (`tally.billing.subscription_changes`): prorations and usage under
    # replaced metered prices, waiting for the invoice of their period; cancel at the period end.
    pending_items: tuple[PendingItem, ...] = ()
    usage_segments: tuple[UsageSegment, ...] = ()
    cancel_at_period_end: bool = False
    # A free trial `[start_date, trial_end)`: the first period ends at `trial_end` (the anchor), no
    # licensed line bills it and its usage is not billed; status is `trialing` until the close of
    # that period stores `active` (`tally.billing.cycles`).
    trial_end: int | None = None
    # Stripe's `backdate_start_date`: the subscription started before it was created; periods run
    # from this instant (`start_date`), so the first invoice bills [start_date, first period end).
    backdated_start: int | None = None
    # Stripe's `latest_invoice`: the last invoice written for this subscription (set in the
    # transaction that writes it: creation, period close, updates that invoice, cancel).
    latest_invoice: str | None = None
    # Cancel at this instant (Stripe's `cancel_at`, any future instant): the period containing it
    # is cut short there and the close at `cancel_at` ends the subscription
    # (`tally.billing.cancellations`); a renewal into that period bills licensed items only up to it.
    cancel_at: int | None = None
    # the licensed time after `cancel_at` was credited (pending), or not billed by the renewal into
    # the period it cuts short: moving or clearing `cancel_at` charges it back
    cancel_at_credited: bool = False
    # Reminders (`tally.billing.reminders`): the period end whose `invoice.upcoming` was written,
    # and whether `customer.subscription.trial_will_end` was; each is written at most once.
    upcoming_sent_for: int | None = None
    trial_will_end_sent: bool = False
    # Late usage of an ended subscription's finalized periods (`tally.billing.final_true_ups`): one
    # last true-up is drafted once they can no longer change; then this is set (no more due entry).
    final_true_up_done: bool = False

    def trialing(self, period_end: int) -> bool:
        """Whether the period ending at `period_end` is (within) the trial."""
        return self.running and self.trial_end is not None and period_end <= self.trial_end

    @property
    def running(self) -> bool:
        """Active or trialing: not ended, billed by the period close."""
        return self.status in ("active", "trialing")

    @property
    def start_date(self) -> int:
        return self.created if self.backdated_start is None else self.backdated_start

    @property
    def price_ids(self) -> list[str]:
        return [item.price for item in self.items]

    @property
    def unbilled_period(self) -> tuple[int, int]:
        """The first period `[start, end)` not yet invoiced: the next one the close bills."""
        start = self.start_date if self.billed_through is None else self.billed_through
        begin, end = periods.current_period(
            self.start_date, self.billing_cycle_anchor, self.interval, self.interval_count, start
        )
        if self.cancel_at is not None and begin < self.cancel_at < end:
            end = self.cancel_at  # the last period is cut short at `cancel_at`
        return begin, end

    @property
    def final_true_up_at(self) -> int | None:
        """When an ended subscription's last true-up is due: its periods can no longer change
        (`FINAL_TRUE_UP_AFTER` its end), None while it runs or once that is done."""
        if self.running or self.ended_at is None or self.final_true_up_done:
            return None
        return self.ended_at + FINAL_TRUE_UP_AFTER

    @property
    def due_at(self) -> int | None:
        """When the scheduled close must bill this subscription: the end of its unbilled period,
        or, once ended, its last true-up (None: nothing left, or it runs on a test clock, whose
        advance bills it)."""
        if self.test_clock is not None:
            return None
        return self.unbilled_period[1] if self.running else self.final_true_up_at

    @property
    def wakes_at(self) -> int | None:
        """Its time in the due index (`tally.store.due`): the end of the unbilled period, or an
        earlier reminder still to write for it."""
        due = self.due_at
        if due is None or not self.running:
            return due
        return min((due, *self.reminders_at(due)))

    def reminders_at(self, period_end: int) -> tuple[int, ...]:
        """When the reminders still to write before `period_end` fall due (`tally.billing.reminders`):
        `invoice.upcoming` UPCOMING_SECONDS before a renewal (not before an end), and
        `customer.subscription.trial_will_end` TRIAL_WILL_END_SECONDS before the trial ends. A
        reminder that would fall before the period began is not written."""
        start = self.start_date if self.billed_through is None else self.billed_through
        out = []
        renews = not self.cancel_at_period_end and self.cancel_at != period_end
        if renews and self.upcoming_sent_for != period_end and period_end - UPCOMING_SECONDS > start:
            out.append(period_end - UPCOMING_SECONDS)
        trial = self.trial_end
        if (
            self.status == "trialing"
            and trial is not None
            and not self.trial_will_end_sent
            and trial == period_end
            and trial - TRIAL_WILL_END_SECONDS > start
        ):
            out.append(trial - TRIAL_WILL_END_SECONDS)
        return tuple(out)


@dataclass(frozen=True)
class MeterEvent:
    """A validated meter event, ready to store."""

    identifier: str
    event_name: str
    meter_id: str
    customer: str
    value: int
    timestamp: int
    payload: Metadata
    created: int
    livemode: bool = False
    # When it was received on its customer's test clock (None: not on one, `created` tells): the
    # 24 h cancel window runs on the clock's time, as its invoices' settlement does.
    received: int | None = None
    # A v1 event sent with an Idempotency-Key: "<digest of the key>:<digest of the request>", kept
    # on the event's own item instead of an idempotency record (docs/DATA-MODEL.md, usage).
    request: str | None = None
    # Its segment's digest when its meter has dimensions (`tally.domain.dimensions`): its usage is
    # also added to that segment's buckets.
    segment: str | None = None


@dataclass(frozen=True)
class LineCredit:
    """Billing credits of one grant applied to one invoice line: the `credits_applied` ledger entry
    (`credit_balance_transaction`, `cbtxn_61…`) of `credit_grant`, and its amount (minor units)."""

    credit_balance_transaction: str
    credit_grant: str
    amount: int


@dataclass(frozen=True)
class PlanLine:
    """Where a cadence invoice's line comes from (`tally.billing.cadence_invoices`): a pricing plan
    subscription's plan version, and a rate card rate (usage of a metered item over a completed
    service interval) or a license fee version (in advance, × quantity)."""

    pricing_plan_subscription: str
    pricing_plan_version: str
    rate_card: str | None = None
    rate_card_rate: str | None = None
    metered_item: str | None = None
    license_fee: str | None = None
    license_fee_version: str | None = None
    licensed_item: str | None = None
    late: bool = False  # late usage of an interval an earlier tick billed (the difference)
    # the values of the metered item's `invoice_presentation_dimensions` this line shows
    # (`tally.domain.presentation`): one line per group; () when it has none
    dimensions: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class InvoiceLine:
    """One line of a stored invoice: what `tally.domain.invoices.Line` computed, with its id and
    the price's unit amount as it was (the invoice never changes when a price does)."""

    id: str
    subscription_item: str
    price: str
    product: str
    usage_type: str
    quantity: int
    amount: int
    period_start: int
    period_end: int
    description: str
    currency: str
    unit_amount: Decimal | None = None
    proration: bool = False
    # Metered lines: the usage was counted from here (None: `period_start`) up to `usage_end`
    # (exclusive; None: `period_end`), so a re-rate counts the same span. `true_up`: late usage of
    # a finalized period (`tally.domain.true_ups`).
    usage_start: int | None = None
    true_up: bool = False
    usage_end: int | None = None
    # A line from an invoice item (`InvoiceItem`, swept or attached to the invoice): its id, its
    # metadata (shown on the line) and `discountable`. `subscription_item` is "" on such a line,
    # `price`/`product` are "" when the item has an amount and no price; `usage_type` is
    # `INVOICE_ITEM`, so no re-rate, proration or true-up logic ever touches it.
    invoice_item: str | None = None
    metadata: Metadata = field(default_factory=dict)
    discountable: bool = True
    # Billing credits applied at finalization (`tally.billing.credit_application`), in the order
    # taken: Stripe's `pretax_credit_amounts` of type `credit_balance_transaction`
    credits: tuple[LineCredit, ...] = ()
    # A cadence invoice's line (`PlanLine`): `usage_type` is RATE_CARD or LICENSE_FEE
    plan: PlanLine | None = None

    @property
    def credited(self) -> int:
        """The billing credits applied to this line (0 on drafts and previews)."""
        return sum(c.amount for c in self.credits)

    @property
    def usage_span(self) -> tuple[int, int]:
        """The event-time [start, end) whose usage a metered line counts (and a re-rate counts)."""
        start = self.period_start if self.usage_start is None else self.usage_start
        return start, self.period_end if self.usage_end is None else self.usage_end


@dataclass(frozen=True)
class Invoice:
    """A subscription's invoice (or a preview of the next one, never stored), or a one-off invoice
    (`subscription` None, `billing_reason` `manual`: `tally.billing.one_off_invoices`). Customer and
    subscription fields Stripe shows on an invoice are copied when it is created."""

    OBJECT: ClassVar[str] = "invoice"

    id: str
    customer: str
    subscription: str | None
    created: int
    livemode: bool
    currency: str
    period_start: int
    period_end: int
    lines: tuple[InvoiceLine, ...]
    subtotal: int
    total: int
    amount_due: int
    amount_remaining: int
    starting_balance: int = 0
    # The customer balance after finalization (None on a draft): `starting_balance` + what the
    # invoice took from or gave to it (`tally.billing.balances`)
    ending_balance: int | None = None
    status: str = "draft"
    billing_reason: str = "subscription_cycle"
    customer_email: str | None = None
    customer_name: str | None = None
    customer_phone: str | None = None
    subscription_metadata: Metadata = field(default_factory=dict)
    test_clock: str | None = None  # its subscription's test clock (Stripe shows the clock's id)
    # The lifecycle (`tally.billing.lifecycle`): draft → open (numbered) → paid | void | uncollectible.
    number: str | None = None
    description: str | None = None
    metadata: Metadata = field(default_factory=dict)
    auto_advance: bool = True
    automatically_finalizes_at: int | None = None  # end of the grace period (drafts)
    amount_paid: int = 0
    paid_out_of_band: bool = False
    finalized_at: int | None = None
    paid_at: int | None = None
    voided_at: int | None = None
    marked_uncollectible_at: int | None = None
    # One-off invoices: `send_invoice` has a `due_date` (created + days_until_due days)
    collection_method: str = "charge_automatically"
    due_date: int | None = None
    # A cadence's invoice (`tally.billing.cadence_ticks`): `subscription` None, parent
    # `billing_cadence_details`
    billing_cadence: str | None = None

    @property
    def credited(self) -> int:
        """The billing credits applied at finalization (`total` is after them, `subtotal` before)."""
        return sum(ln.credited for ln in self.lines)

    @property
    def due_at(self) -> int | None:
        """When the scheduled close must advance this invoice (`tally.store.due`): a draft that
        finalizes automatically at the end of its grace period, or an open invoice with nothing
        left to pay (paid at once; kept due if a crash fell between finalizing and paying)."""
        if self.status == "draft" and self.auto_advance:
            return self.automatically_finalizes_at
        if self.status == "open" and self.amount_remaining == 0:
            return self.finalized_at
        return None


RATE_CARD = "rate_card"  # the `usage_type` of a cadence invoice line priced by a rate card rate
LICENSE_FEE = "license_fee"  # … by a license fee version
INVOICE_ITEM = "invoiceitem"  # the `usage_type` of an invoice line made from an invoice item


@dataclass(frozen=True)
class InvoiceItem:
    """An invoice item (`ii_…`): an amount (or a one-time price × quantity) for a customer, pending
    (`invoice` None) until swept onto an invoice — a one-off invoice created with
    `pending_invoice_items_behavior=include`, or the customer's next subscription invoice — or
    attached to a draft directly (`tally.billing.invoice_items`, `tally.billing.pending_items`).
    `amount` is what it bills: `amount` as given, or the price's unit amount × `quantity`."""

    OBJECT: ClassVar[str] = "invoiceitem"

    id: str
    customer: str
    created: int  # Stripe's `date`
    livemode: bool
    amount: int
    currency: str
    period_start: int
    period_end: int
    quantity: int = 1
    description: str | None = None
    price: str | None = None
    product: str | None = None
    unit_amount: Decimal | None = None  # the price's, when it has one
    invoice: str | None = None
    discountable: bool = True
    metadata: Metadata = field(default_factory=dict)
    test_clock: str | None = None

    @property
    def pending(self) -> bool:
        return self.invoice is None


@dataclass(frozen=True)
class CustomerBalanceTransaction:
    """One entry of a customer's balance ledger (Stripe's `customer_balance_transaction`): an
    adjustment made through the API, or what an invoice took from (positive `amount`) or gave to
    (negative: a credit) the balance when finalized, and gave back when voided."""

    OBJECT: ClassVar[str] = "customer_balance_transaction"

    id: str
    customer: str
    created: int
    livemode: bool
    amount: int  # minor units; negative credits the customer
    currency: str
    ending_balance: int  # the customer's balance after this transaction
    type: str  # adjustment | applied_to_invoice | unapplied_from_invoice
    description: str | None = None
    invoice: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class TestClock:
    """A test clock (`/v1/test_helpers/test_clocks`): its customers' objects run at `frozen_time`.
    While `status` is `advancing`, `advancing_to` is the frozen_time the advance will reach."""

    OBJECT: ClassVar[str] = "test_helpers.test_clock"
    __test__: ClassVar[bool] = False  # not a pytest class

    id: str
    created: int
    livemode: bool
    frozen_time: int
    deletes_after: int
    name: str | None = None
    status: str = "ready"
    advancing_to: int | None = None


@dataclass(frozen=True)
class AccountSettings:
    """An account's own settings (a Tally extension, `/v1/tally/account_settings`); one per
    account, id `account_settings`. A setting left None follows the deployment's."""

    OBJECT: ClassVar[str] = "tally.account_settings"
    ID: ClassVar[str] = "account_settings"

    id: str
    created: int
    updated: int
    livemode: bool
    invoice_grace_period: int | None = None  # seconds a period's invoice stays draft (0..72 h)
    api_version: str | None = None  # the Stripe API version answers and webhooks follow by default


# -- alerts ---------------------------------------------------------------------------------------
ONE_TIME = "one_time"  # Stripe's: fires once per customer
PER_PERIOD = "per_period"  # Tally extension: once per customer per billing period
USAGE_THRESHOLD = "usage_threshold"
CREDIT_BALANCE_THRESHOLD = "credit_balance_threshold"  # Stripe preview: `tally.domain.credit_watch`


@dataclass(frozen=True)
class UsageThreshold:
    """A usage alert's rule: fire when a customer's usage of `meter` reaches `gte`.

    `customer` is Stripe's one filter (`filters[0][type]=customer`); None watches every customer.
    """

    meter: str
    gte: int
    recurrence: str  # ONE_TIME | PER_PERIOD
    customer: str | None = None


@dataclass(frozen=True)
class CreditBalanceThreshold:
    """A credit-balance alert's rule (Stripe's preview `credit_balance_threshold`): fire when the
    customer's available credit balance in `currency` falls to `lte` minor units or below, and
    recover when it rises above again (`tally.domain.credit_watch`)."""

    customer: str
    currency: str
    lte: int


@dataclass(frozen=True)
class Alert:
    """A billing alert (`/v1/billing/alerts`). `alert_type` names which threshold field is set:
    only `usage_threshold` today; credit-balance and spend alerts will be further optional fields
    (each with its own evaluator), so the record and its storage need no reshaping for them."""

    OBJECT: ClassVar[str] = "billing.alert"

    id: str
    created: int
    livemode: bool
    title: str
    alert_type: str = USAGE_THRESHOLD
    status: str = "active"  # active | inactive | archived (final)
    usage_threshold: UsageThreshold | None = None
    credit_balance_threshold: CreditBalanceThreshold | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def counts_from(self) -> int:
        """The first instant whose usage counts: the creation's second ("only usage reported after
        creation counts"; the store reads a boundary inside a minute to the second)."""
        return self.created


Record = (
    Customer
    | Product
    | Meter
    | Price
    | Subscription
    | Invoice
    | TestClock
    | AccountSettings
    | Alert
    | CustomerBalanceTransaction
)
