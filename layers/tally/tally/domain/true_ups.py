"""Late usage, never lost: what a finalized invoice billed per metered line, and the true-up line
that bills the difference once the line's period is re-rated with the usage stored now (pure).

A finalized invoice keeps, per metered line, a `BilledLine`: the line's price, its period (and
the span whose usage it counted), and the quantity and amount billed for it so far. Re-rating the
period with the same price over the whole usage now gives a fresh line; the true-up is

    quantity = fresh quantity − billed quantity,   amount = fresh amount − billed amount

so graduated and volume tiers stay exact (the difference is not `price × Δquantity`), and a
cancel adjustment gives a negative true-up. No difference, no line.

A period's usage can change only while meter events may still be stamped in it: timestamps up
to 35 days in the past (`tally.domain.meter_events.PAST_WINDOW`), each event cancellable for
24 hours after it is received. After `SETTLES_AFTER` (36 days) past the period end, one last
re-check settles it and nothing reads it again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from tally.domain.invoices import Cycle, ItemInput, Line, Period, item_line
from tally.domain.meter_events import PAST_WINDOW
from tally.domain.records import METERED, InvoiceLine, Price

CANCEL_WINDOW = 24 * 3600  # a meter event can be cancelled this long after it was received
SETTLES_AFTER = PAST_WINDOW + CANCEL_WINDOW


@dataclass(frozen=True)
class BilledLine:
    """What the invoices of a subscription billed for one metered line of one period so far."""

    subscription_item: str
    price: str
    period_start: int
    period_end: int
    usage_start: int  # usage counts from here (the item's `usage_since`, a trial's end), ≥ period_start
    quantity: int  # billed quantity (after `transform_quantity`), true-ups included
    amount: int  # minor units billed, true-ups included
    usage_end: int | None = None  # usage counts up to here, exclusive (None: period_end)

    @property
    def usage_span(self) -> tuple[int, int]:
        """The event-time [start, end) whose usage the line counts."""
        return self.usage_start, self.period_end if self.usage_end is None else self.usage_end


@dataclass(frozen=True)
class BilledPeriod:
    """The metered lines one finalized invoice billed (`invoice`), kept until they settle."""

    subscription: str
    invoice: str
    period_end: int  # the latest line end: the period settles SETTLES_AFTER it
    lines: tuple[BilledLine, ...]

    def settled(self, now: int) -> bool:
        """No meter event can still be stamped in (or cancelled from) any of its lines."""
        return now >= self.period_end + SETTLES_AFTER


def billed_period(subscription: str, invoice: str, lines: tuple[InvoiceLine, ...]) -> BilledPeriod | None:
    """What a finalized invoice billed for its own metered lines (its true-up lines aside: they are
    recorded on the period they true up); None when it has no metered line."""
    metered = tuple(
        BilledLine(
            ln.subscription_item,
            ln.price,
            ln.period_start,
            ln.period_end,
            ln.usage_span[0],
            ln.quantity,
            ln.amount,
            ln.usage_end,
        )
        for ln in lines
        if ln.usage_type == METERED and not ln.true_up and not ln.proration
    )
    if not metered:
        return None
    return BilledPeriod(subscription, invoice, max(b.period_end for b in metered), metered)


def describe_period(start: int, end: int) -> str:
    """`Jan 1 – Feb 1, 2026` (UTC), or `Dec 1, 2025 – Jan 1, 2026` across a year."""
    a = dt.datetime.fromtimestamp(start, dt.UTC)
    b = dt.datetime.fromtimestamp(end, dt.UTC)
    head = f"{a:%b} {a.day}" if a.year == b.year else f"{a:%b} {a.day}, {a.year}"
    return f"{head} – {b:%b} {b.day}, {b.year}"


def true_up(
    billed: BilledLine, price: Price, product_name: str, usage: int
) -> tuple[Line, BilledLine] | None:
    """The true-up line of `billed` when its period's usage is now `usage`, and the billed line once
    it is billed; None when nothing changed.

    Raises a 400 when the re-rated amount is beyond `tally.domain.limits` (as any line does).
    """
    period = Period(billed.period_start, billed.period_end)
    fresh = item_line(
        ItemInput(billed.subscription_item, price, product_name, usage=usage), Cycle(period, period)
    )
    quantity, amount = fresh.quantity - billed.quantity, fresh.amount - billed.amount
    if quantity == 0 and amount == 0:
        return None
    line = Line(
        subscription_item=billed.subscription_item,
        price=billed.price,
        product=price.product,
        usage_type=METERED,
        quantity=quantity,
        raw_quantity=fresh.raw_quantity,
        amount=amount,
        period=period,
        description=f"Late usage for {product_name} ({describe_period(period.start, period.end)})",
        usage_start=billed.usage_start,
        true_up=True,
        usage_end=billed.usage_end,
    )
    return line, replace(billed, quantity=fresh.quantity, amount=fresh.amount)
