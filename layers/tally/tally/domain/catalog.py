"""The v2 billing catalog (advanced usage-based billing): billable items and versioned rate cards.

Records and pure rules, no I/O. Money is a decimal in the currency's minor unit with at most 12
decimal places (Stripe's v2 `unit_amount: "5"` is 0.05 USD).

A rate card is versioned by Stripe's rule: changing or deleting the rate of a metered item that
already has one makes a new version; adding a rate for a metered item without one does not (the
rate joins the latest version). Versions are immutable once superseded: a rate is visible in
version `seq` when it was committed at or before `seq` and not ended at or before it
(`visible`). How modifications commit atomically with more writes than one transaction holds is
`tally.billing.rate_cards`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import ClassVar

from tally.domain.pricing import PriceModel, Tier
from tally.errors import InvalidRequest, invalid

Metadata = dict[str, str]
SERVICE_INTERVALS = ("day", "week", "month", "year")
TAX_BEHAVIORS = ("exclusive", "inclusive")
TIERING_MODES = ("graduated", "volume")
ROUNDINGS = ("up", "down")
MAX_RATES = 500  # "Rate cards support up to 500 rates." (Stripe)
MAX_MODIFY = 100  # rates_to_create and rates_to_delete, each
MAX_TIERS = 250
LOOKUP_KEY_MAX = 200
DISPLAY_NAME_MAX = 250
UNIT_LABEL_MAX = 100
MAX_SEGMENT_CONDITIONS = 3


@dataclass(frozen=True)
class SegmentCondition:
    dimension: str
    value: str


@dataclass(frozen=True)
class MeteredItem:
    """What usage of one meter (optionally one segment of it) is billed as."""

    OBJECT: ClassVar[str] = "v2.billing.metered_item"

    id: str
    created: int
    livemode: bool
    display_name: str
    meter: str
    invoice_presentation_dimensions: tuple[str, ...] = ()
    meter_segment_conditions: tuple[SegmentCondition, ...] = ()
    lookup_key: str | None = None
    unit_label: str | None = None
    tax_code: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class LicensedItem:
    """What a license fee is billed as (seats, a platform fee)."""

    OBJECT: ClassVar[str] = "v2.billing.licensed_item"

    id: str
    created: int
    livemode: bool
    display_name: str
    lookup_key: str | None = None
    unit_label: str | None = None
    tax_code: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class RateCard:
    """A versioned set of rates, one per metered item. `latest_seq` counts versions (1 is the
    first); `revision` changes with every committed modification (the optimistic lock of
    `modify_rates`, whether or not it made a version)."""

    OBJECT: ClassVar[str] = "v2.billing.rate_card"

    id: str
    created: int
    livemode: bool
    currency: str
    display_name: str
    interval: str
    interval_count: int
    tax_behavior: str
    latest_version: str
    live_version: str
    latest_seq: int = 1
    revision: int = 0
    rates: int = 0  # rates in the latest version
    active: bool = True
    lookup_key: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class RateCardVersion:
    """An immutable version; `ended` names the rates it ended (deleted or replaced)."""

    OBJECT: ClassVar[str] = "v2.billing.rate_card_version"

    id: str
    created: int
    livemode: bool
    rate_card: str
    seq: int
    ended: tuple[str, ...] = ()


@dataclass(frozen=True)
class RateCardBatch:
    """The commit marker of a modification that only added rates (no version): its rates are
    visible once it exists. Never served."""

    OBJECT: ClassVar[str] = "tally.rate_card_batch"

    id: str
    created: int
    rate_card: str


@dataclass(frozen=True)
class RateTier:
    """One v2 tier: `up_to=None` is `up_to_inf`; amounts are minor units (≤ 12 dp)."""

    up_to: Decimal | None
    unit_amount: Decimal | None = None
    flat_amount: Decimal | None = None


@dataclass(frozen=True)
class RateCardRate:
    """The rate of one metered item from the version it was created on (`rate_card_version`)
    until a later version ends it. `batch` is the commit marker (a version or a batch id) that
    makes it visible: a rate whose marker was never written is the leftover of a failed
    modification and is never served."""

    OBJECT: ClassVar[str] = "v2.billing.rate_card_rate"

    id: str
    created: int
    livemode: bool
    rate_card: str
    rate_card_version: str
    batch: str
    created_seq: int
    metered_item: str
    unit_amount: Decimal | None = None
    tiers: tuple[RateTier, ...] = ()
    tiering_mode: str | None = None
    divide_by: int | None = None
    round: str | None = None
    ended_seq: int | None = None
    metadata: Metadata = field(default_factory=dict)


def check_tiers(tiers: Sequence[RateTier], param: str) -> None:
    """Tiers ascend strictly by `up_to`, only the last is unbounded, each has an amount."""
    if not tiers:
        raise invalid(param, f"Invalid {param}: at least one tier is required.")
    if len(tiers) > MAX_TIERS:
        raise invalid(param, f"Invalid {param}: at most {MAX_TIERS} tiers.")
    previous = Decimal(0)
    for index, tier in enumerate(tiers):
        where = f"{param}[{index}]"
        last = index == len(tiers) - 1
        if tier.unit_amount is None and tier.flat_amount is None:
            raise invalid(where, f"Invalid {where}: give unit_amount, flat_amount or both.")
        if tier.up_to is None and not last:
            raise invalid(where, f"Invalid {where}: only the last tier may be up_to_inf.")
        if tier.up_to is not None:
            if last:
                raise invalid(where, f"Invalid {where}: the last tier must be up_to_inf.")
            if tier.up_to <= previous:
                raise invalid(where, f"Invalid {where}: up_to_decimal must be greater than the tier before.")
            previous = tier.up_to


def visible(
    rates: Iterable[RateCardRate], committed: set[str], seq: int, latest: RateCardVersion
) -> list[RateCardRate]:
    """The rates of version `seq`, given which commit markers exist and the latest version.

    The latest version's ends may not have reached its rates yet (they are written after the
    commit), so reads at the latest version also drop the rates it names as ended.
    """
    pending_ends = set(latest.ended) if seq >= latest.seq else set()
    return sorted(
        (
            r
            for r in rates
            if r.batch in committed
            and r.created_seq <= seq
            and (r.ended_seq is None or r.ended_seq > seq)
            and r.id not in pending_ends
        ),
        key=lambda r: (r.created, r.id),
    )


@dataclass(frozen=True)
class Plan:
    """What a modification does: whether it makes a version, and which rates it ends."""

    new_version: bool
    ended: frozenset[str]


def plan(current: Sequence[RateCardRate], items_created: Sequence[str], deleted: Sequence[str]) -> Plan:
    """Stripe's rule, checked against the latest version's rates: deleting a rate, or creating
    one for a metered item that already has a rate, makes a version; only adding rates for new
    metered items does not. Raises InvalidRequest naming the offending parameter."""
    by_item = {r.metered_item: r for r in current}
    ids = {r.id for r in current}
    for index, rate_id in enumerate(deleted):
        if rate_id not in ids:
            raise InvalidRequest(
                f"No rate {rate_id} in the latest version of this rate card.",
                code="resource_missing",
                param=f"rates_to_delete[{index}].id",
            )
    if len(set(deleted)) != len(deleted):
        raise invalid("rates_to_delete", "Invalid rates_to_delete: a rate is named twice.")
    seen: set[str] = set()
    for index, item in enumerate(items_created):
        if item in seen:
            raise invalid(
                f"rates_to_create[{index}].metered_item",
                f"The metered item {item} is given two rates in one modification.",
            )
        seen.add(item)
    replaced = {by_item[item].id for item in items_created if item in by_item}
    ended = frozenset(set(deleted) | replaced)
    remaining = len(current) - len(ended) + len(items_created)
    if remaining > MAX_RATES:
        raise invalid(
            "rates_to_create", f"A rate card holds at most {MAX_RATES} rates ({remaining} requested)."
        )
    return Plan(new_version=bool(ended), ended=ended)


def price_model(
    unit_amount: Decimal | None,
    tiers: Sequence[RateTier],
    tiering_mode: str | None,
    divide_by: int | None,
    rounding: str | None,
) -> PriceModel:
    """The pricing model (`tally.domain.pricing`) of a v2 rate or license fee price. Quantities
    are whole units, so a tier up to a fractional bound holds the whole units below it."""
    if tiers:
        return PriceModel(
            billing_scheme="tiered",
            unit_amount=None,
            tiers_mode=tiering_mode,
            tiers=tuple(
                Tier(
                    up_to=None if t.up_to is None else int(t.up_to.to_integral_value(rounding=ROUND_FLOOR)),
                    unit_amount=t.unit_amount,
                    flat_amount=t.flat_amount,
                )
                for t in tiers
            ),
            divide_by=None,
            round=None,
        )
    return PriceModel("per_unit", unit_amount, None, (), divide_by, rounding)
