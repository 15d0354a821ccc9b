"""Invoice assembly: subscription items plus usage in, lines and totals out (pure, no I/O).

Which period each line bills follows Stripe's cycle invoices:
- licensed items bill `quantity × price` in advance, for the period that starts when the
  invoice is created (the *next* period);
- metered items bill their usage in arrears, for the period that just ended.

So the invoice closing the period `[start, end)` has metered lines over `[start, end)` and
licensed lines over `[end, next_end)`; the invoice's own `period_start/period_end` are the
usage period, as on Stripe's `subscription_cycle` invoices.

Each line is computed with `tally.domain.pricing` (exact `Decimal`, rounded once per line,
half-up); totals are plain integer sums in the currency's minor unit. There are no taxes or
discounts yet, so `total == subtotal`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tally.domain import limits, periods
from tally.domain.pricing import billable_quantity, line_amount
from tally.domain.records import METERED, InvoiceLine, Price


@dataclass(frozen=True)
class Period:
    """A half-open `[start, end)` range of unix seconds."""

    start: int
    end: int


@dataclass(frozen=True)
class Cycle:
    """The periods one cycle invoice covers: usage in arrears, licensed quantities in advance."""

    usage: Period
    advance: Period


def cycle_at_period_end(start_date: int, anchor: int, interval: str, interval_count: int, now: int) -> Cycle:
    """The periods of the invoice that closes the period containing `now`.

    Raises ValueError on an invalid interval (see `periods.validate_interval`).
    """
    start, end = periods.current_period(start_date, anchor, interval, interval_count, now)
    next_start, next_end = periods.current_period(start_date, anchor, interval, interval_count, end)
    return Cycle(Period(start, end), Period(next_start, next_end))


@dataclass(frozen=True)
class ItemInput:
    """One subscription item as an invoice sees it.

    `quantity` is the licensed quantity (ignored for metered prices); `usage` is the metered
    period's aggregated value (may be negative, which bills 0; ignored for licensed prices).
    """

    subscription_item: str
    price: Price
    product_name: str
    quantity: int | None = None
    usage: int | None = None
    usage_start: int | None = None  # metered: where the usage was counted from, if not the period start
    usage_end: int | None = None  # metered: where it was counted to (exclusive), if not the period end

    @property
    def usage_type(self) -> str:
        return self.price.usage_type


@dataclass(frozen=True)
class Line:
    subscription_item: str
    price: str
    product: str
    usage_type: str
    quantity: int  # what is billed: seats or usage after transform_quantity (Stripe's line quantity)
    raw_quantity: int  # seats, or the period's usage before the transform (never negative)
    amount: int
    period: Period
    description: str
    proration: bool = False
    usage_start: int | None = None  # metered: usage counted from here (None: the period start)
    true_up: bool = False  # late usage of a finalized period (`tally.domain.true_ups`)
    usage_end: int | None = None  # metered: usage counted up to here, exclusive (None: the period end)

    def stored(self, line_id: str, price: Price) -> InvoiceLine:
        """The invoice's record of this line: it keeps its price's currency and unit amount."""
        return InvoiceLine(
            id=line_id,
            subscription_item=self.subscription_item,
            price=self.price,
            product=self.product,
            usage_type=self.usage_type,
            quantity=self.quantity,
            amount=self.amount,
            period_start=self.period.start,
            period_end=self.period.end,
            description=self.description,
            currency=price.currency,
            unit_amount=price.unit_amount,
            proration=self.proration,
            usage_start=self.usage_start,
            true_up=self.true_up,
            usage_end=self.usage_end,
        )


@dataclass(frozen=True)
class Totals:
    subtotal: int
    total: int
    amount_due: int
    amount_remaining: int
    starting_balance: int


@dataclass(frozen=True)
class Draft:
    currency: str
    period: Period
    lines: tuple[Line, ...]
    totals: Totals


def item_line(item: ItemInput, cycle: Cycle) -> Line:
    """Price one item. Raises ValueError if a quantity is negative, and a 400 when its usage or
    amount is beyond `tally.domain.limits` (never an integer a typed SDK cannot decode)."""
    model = item.price.model
    if item.usage_type == METERED:
        shown = max(item.usage or 0, 0)
        period = cycle.usage
    else:
        shown = 1 if item.quantity is None else item.quantity
        if shown < 0:
            raise ValueError(f"Quantity must be non-negative, got {shown}.")
        period = cycle.advance
    billed = billable_quantity(model, shown)
    limits.check_usage(f"The usage of {item.subscription_item}", shown)
    amount = limits.check_amount(f"The amount of {item.subscription_item}", line_amount(model, billed))
    return Line(
        subscription_item=item.subscription_item,
        price=item.price.id,
        product=item.price.product,
        usage_type=item.usage_type,
        quantity=billed,
        raw_quantity=shown,
        amount=amount,
        period=period,
        description=_describe(item, shown, billed),
        usage_start=item.usage_start if item.usage_type == METERED else None,
        usage_end=item.usage_end if item.usage_type == METERED else None,
    )


def _describe(item: ItemInput, raw: int, billed: int) -> str:
    if item.usage_type == METERED and raw != billed:
        return f"{billed} × {item.product_name} (usage {raw})"
    return f"{billed} × {item.product_name}"


def totals(lines: Sequence[Line], starting_balance: int = 0) -> Totals:
    """Sum lines; a customer balance (negative = credit) is applied to what is due, never below 0."""
    subtotal = limits.check_amount("The invoice total", sum(line.amount for line in lines))
    limits.check_amount("The starting balance", starting_balance)
    due = limits.check_amount("The amount due", max(subtotal + starting_balance, 0))
    return Totals(subtotal, subtotal, due, due, starting_balance)


def assemble(
    items: Sequence[ItemInput], cycle: Cycle, starting_balance: int = 0, extra: Sequence[Line] = ()
) -> Draft:
    """The draft invoice closing `cycle.usage` for `items` (all of one currency).

    `extra` lines (prorations, usage under replaced prices: `tally.billing.pending`) come first.
    Raises ValueError when there are no items, currencies differ, or a price is malformed.
    """
    if not items:
        raise ValueError("An invoice needs at least one item.")
    currencies = {item.price.currency for item in items}
    if len(currencies) != 1:
        raise ValueError(f"All items of an invoice must share one currency, got {sorted(currencies)}.")
    lines = (*extra, *(item_line(item, cycle) for item in items))
    return Draft(currencies.pop(), cycle.usage, lines, totals(lines, starting_balance))
