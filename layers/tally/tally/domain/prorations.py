"""Prorations of licensed items (pure): Stripe's lines for a mid-period change.

A change at instant `at` inside the period `[start, end)` credits the unused time of what the
item was (`-(amount × (end - at) / (end - start))`) and charges the remaining time of what it
becomes (`+amount × (end - at) / (end - start)`), to the second. Each line is computed exactly
from the price (`pricing.exact_amount`, tiers included) and rounded once, half-up (a credit is
the negative of the rounded charge, so a change back and forth nets to zero).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, localcontext

from tally.domain import limits, periods
from tally.domain.pricing import exact_amount, round_amount
from tally.domain.records import Price


@dataclass(frozen=True)
class Proration:
    price: str
    quantity: int
    amount: int
    period_start: int  # the proration instant
    period_end: int  # the end of the current period
    description: str


def _day(at: int) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%-d %b %Y")


def prorated(price: Price, quantity: int, period: tuple[int, int], at: int) -> int:
    """The remaining time `[at, end)` of `quantity × price`, in minor units (never negative)."""
    start, end = period
    if not start <= at <= end or end <= start:
        raise ValueError(f"The proration instant {at} is outside the period [{start}, {end}).")
    with localcontext() as ctx:
        ctx.prec = 60
        exact = exact_amount(price.model, quantity) * Decimal(end - at) / Decimal(end - start)
    return round_amount(exact)


def credit(price: Price, quantity: int, product: str, period: tuple[int, int], at: int) -> Proration:
    """The unused time of the old price (a negative line)."""
    amount = limits.check_amount("The proration", -prorated(price, quantity, period, at))
    text = f"Unused time on {quantity} × {product} after {_day(at)}"
    return Proration(price.id, quantity, amount, at, period[1], text)


def charge(price: Price, quantity: int, product: str, period: tuple[int, int], at: int) -> Proration:
    """The remaining time of the new price (a positive line)."""
    amount = limits.check_amount("The proration", prorated(price, quantity, period, at))
    text = f"Remaining time on {quantity} × {product} after {_day(at)}"
    return Proration(price.id, quantity, amount, at, period[1], text)


def spanned(price: Price, quantity: int, full: tuple[int, int], span: tuple[int, int]) -> int:
    """`quantity × price` for the time `span` = `[a, b)`, as a share of the full period `full`:
    `exact × (b - a) / (full end - full start)`, rounded once, half-up (`span` may be longer
    than `full`: a backdated span up to a future anchor bills more than one period)."""
    (start, end), (a, b) = full, span
    if end <= start or b < a:
        raise ValueError(f"Cannot prorate [{a}, {b}) over [{start}, {end}).")
    with localcontext() as ctx:
        ctx.prec = 60
        exact = exact_amount(price.model, quantity) * Decimal(b - a) / Decimal(end - start)
    return round_amount(exact)


def backdated(
    price: Price, quantity: int, product: str, start: int, now: int, interval: str, interval_count: int
) -> Proration:
    """Stripe's backdating line: the time `[start, now)` of `quantity × price`, prorated over an
    imagined period of one interval starting at `start` (Stripe's rule; a positive line). `now`
    is the creation instant, or a future billing cycle anchor (then the line runs up to it)."""
    imagined_end = periods.add_intervals(start, interval, interval_count, 1)
    used = spanned(price, quantity, (start, imagined_end), (start, now))
    amount = limits.check_amount("The backdated charge", used)
    text = f"Time on {quantity} × {product} from {_day(start)}"
    return Proration(price.id, quantity, amount, start, now, text)
