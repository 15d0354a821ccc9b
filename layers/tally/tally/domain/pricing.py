"""What a price charges for a quantity: Stripe's per-unit, transformed, graduated and volume models.

Amounts are in the currency's minor unit (cents, or yen for zero-decimal currencies: nothing here
multiplies by 100). Unit and flat amounts may carry up to 12 decimal places; a line is computed
exactly in `Decimal` and rounded once, half-up, to an integer (0.05 × 30 = 1.5 → 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    localcontext,
)
from typing import Any

ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

MAX_DECIMAL_PLACES = 12
BILLING_SCHEMES = ("per_unit", "tiered")
TIERS_MODES = ("graduated", "volume")
ROUNDINGS = ("up", "down")

# Line arithmetic must be exact until the single final rounding: any digit lost on the way raises
# instead of silently changing an invoice.
_EXACT = Context(prec=200, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact, Rounded])


@dataclass(frozen=True)
class Tier:
    """One price tier; `up_to=None` is Stripe's `inf`. Amounts are minor units, up to 12 dp."""

    up_to: int | None
    unit_amount: Decimal | None
    flat_amount: Decimal | None

    @classmethod
    def from_dict(cls, tier: dict[str, Any]) -> Tier:
        """Build a tier from Stripe's shape; `*_decimal` strings win over the integer fields.

        Raises ValueError on a malformed amount or `up_to`.
        """
        up_to = tier.get("up_to")
        if up_to == "inf":
            up_to = None
        elif up_to is not None and (isinstance(up_to, bool) or not isinstance(up_to, int)):
            raise ValueError(f"Invalid tier up_to: {up_to!r} (an integer or 'inf').")
        return cls(
            up_to=up_to,
            unit_amount=_amount(tier.get("unit_amount"), tier.get("unit_amount_decimal")),
            flat_amount=_amount(tier.get("flat_amount"), tier.get("flat_amount_decimal")),
        )


@dataclass(frozen=True)
class PriceModel:
    """The part of a Stripe price that decides amounts. Construction validates it (ValueError)."""

    billing_scheme: str
    unit_amount: Decimal | None
    tiers_mode: str | None
    tiers: tuple[Tier, ...]
    divide_by: int | None
    round: str | None

    def __post_init__(self) -> None:
        if self.billing_scheme not in BILLING_SCHEMES:
            raise ValueError(f"Invalid billing_scheme: {self.billing_scheme!r} (per_unit or tiered).")
        if self.billing_scheme == "per_unit" and self.unit_amount is None:
            raise ValueError("A per_unit price needs unit_amount or unit_amount_decimal.")
        if self.billing_scheme == "tiered":
            if self.tiers_mode not in TIERS_MODES:
                raise ValueError(f"Invalid tiers_mode: {self.tiers_mode!r} (graduated or volume).")
            validate_tiers(self.tiers)
            if self.divide_by is not None:
                raise ValueError("transform_quantity cannot be combined with tiers.")
        if self.divide_by is not None:
            if isinstance(self.divide_by, bool) or not isinstance(self.divide_by, int) or self.divide_by < 1:
                raise ValueError("transform_quantity[divide_by] must be a positive integer.")
            if self.round not in ROUNDINGS:
                raise ValueError("transform_quantity[round] must be up or down.")

    @classmethod
    def from_price(cls, price: dict[str, Any]) -> PriceModel:
        """Build the model from a Stripe-shaped price dict.

        `unit_amount_decimal` wins over `unit_amount` when not None (Stripe sets both).
        Raises ValueError when the price is malformed or inconsistent.
        """
        transform = price.get("transform_quantity") or {}
        return cls(
            billing_scheme=price.get("billing_scheme") or "per_unit",
            unit_amount=_amount(price.get("unit_amount"), price.get("unit_amount_decimal")),
            tiers_mode=price.get("tiers_mode"),
            tiers=tuple(Tier.from_dict(tier) for tier in price.get("tiers") or ()),
            divide_by=transform.get("divide_by"),
            round=transform.get("round"),
        )


def billable_quantity(model: PriceModel, usage: int) -> int:
    """The quantity a usage total bills: negative totals bill 0, then `transform_quantity` applies.

    `divide_by` with `round=up` is the ceiling, `round=down` the floor, both in exact integers.
    """
    usage = max(usage, 0)
    if model.divide_by is None:
        return usage
    if model.round == "up":
        return -(-usage // model.divide_by)
    return usage // model.divide_by


def line_amount(model: PriceModel, quantity: int) -> int:
    """The line's amount in integer minor units for `quantity` (already transformed).

    The whole line is computed exactly and rounded once, ROUND_HALF_UP.
    Quantity 0: per_unit and graduated charge 0 (graduated charges flat amounts only for tiers
    that hold units, and 0 units touch no tier); volume lands in the first tier and charges its
    flat amount. Raises ValueError on a negative quantity.
    """
    return round_amount(exact_amount(model, quantity))


def exact_amount(model: PriceModel, quantity: int) -> Decimal:
    """The line's exact amount for `quantity`, not rounded (prorations scale it, then round once)."""
    if quantity < 0:
        raise ValueError(f"Quantity must be non-negative, got {quantity}.")
    kind = model.billing_scheme if model.billing_scheme == "per_unit" else model.tiers_mode
    with localcontext(_EXACT):
        return _STRATEGIES[kind or ""](model, quantity)


def round_amount(exact: Decimal) -> int:
    """An exact amount in integer minor units, ROUND_HALF_UP (away from zero on a half)."""
    with localcontext(_EXACT):
        return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def _per_unit(model: PriceModel, quantity: int) -> Decimal:
    return quantity * (model.unit_amount or Decimal(0))


def _graduated(model: PriceModel, quantity: int) -> Decimal:
    """Each unit at its own tier's rate, plus the flat amount of every tier holding units."""
    total = Decimal(0)
    lower = 0
    for tier in model.tiers:
        if quantity <= lower:
            break
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        total += (upper - lower) * (tier.unit_amount or Decimal(0)) + (tier.flat_amount or Decimal(0))
        if tier.up_to is None:
            break
        lower = tier.up_to
    return total


def _volume(model: PriceModel, quantity: int) -> Decimal:
    """All units at the rate of the tier the total lands in, plus that tier's flat amount."""
    tier = next(t for t in model.tiers if t.up_to is None or quantity <= t.up_to)
    return quantity * (tier.unit_amount or Decimal(0)) + (tier.flat_amount or Decimal(0))


_STRATEGIES: dict[str, Callable[[PriceModel, int], Decimal]] = {
    "per_unit": _per_unit,
    "graduated": _graduated,
    "volume": _volume,
}


def validate_tiers(tiers: Sequence[Tier]) -> None:
    """Check Stripe's tier rules; returns None or raises ValueError with a Stripe-like message.

    Rules: at least one tier; `up_to` positive and strictly increasing; only the last tier is
    `inf` (None) and it must be; every tier has a unit amount or a flat amount.
    """
    if not tiers:
        raise ValueError("Tiered prices need at least one tier.")
    previous = 0
    for index, tier in enumerate(tiers):
        last = index == len(tiers) - 1
        if tier.unit_amount is None and tier.flat_amount is None:
            raise ValueError(f"Tier {index} needs unit_amount or flat_amount (or their _decimal forms).")
        if tier.up_to is None:
            if not last:
                raise ValueError(f"Only the last tier may have up_to=inf (tier {index} does).")
            continue
        if last:
            raise ValueError("The last tier must have up_to=inf.")
        if tier.up_to < 1:
            raise ValueError(f"Tier {index} up_to must be a positive integer, got {tier.up_to}.")
        if tier.up_to <= previous:
            raise ValueError(f"Tier up_to values must be strictly increasing (tier {index}: {tier.up_to}).")
        previous = tier.up_to


def _amount(integer: object, decimal: object) -> Decimal | None:
    """An amount from Stripe's pair of fields; the decimal string wins when present."""
    raw = decimal if decimal is not None else integer
    if raw is None:
        return None
    if isinstance(raw, bool | float) or not isinstance(raw, int | str | Decimal):
        raise ValueError(f"Invalid amount: {raw!r} (an integer or a decimal string).")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"Invalid decimal amount: {raw!r}.") from None
    exponent = value.as_tuple().exponent
    if not value.is_finite() or not isinstance(exponent, int):
        raise ValueError(f"Invalid decimal amount: {raw!r}.")
    if exponent < -MAX_DECIMAL_PLACES:
        raise ValueError(f"Amounts allow at most {MAX_DECIMAL_PLACES} decimal places, got {raw!r}.")
    return value
