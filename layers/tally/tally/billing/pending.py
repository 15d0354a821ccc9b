"""What a subscription update left for the next invoice: pending proration items and usage under
replaced metered prices (`tally.billing.subscription_changes` writes them on the subscription).

`lines` is called by `billing.invoices.build` (so the preview and the period close agree): the
invoice closing the usage period `[start, end)` bills

- every pending item whose proration instant `at` lies in `[start, end)`, as it was computed;
- every usage segment that overlaps `[start, end)`: the item's usage over the overlap (from the
  trial's end at the earliest: usage in a trial is free, as on the item's own line) at the
  segment's (old) price. Overlaps tile a segment, so its usage is billed once even when it spans
  periods (an update made before a lagging close billed the period it began in).

Both stay on the subscription until the period close has moved `billed_through` past them (the
update prunes them then), so an invoice includes them exactly when it closes their period: the
close's transaction is conditional on the subscription version it read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from tally.clock import Clock
from tally.domain import invoices
from tally.domain.invoices import Cycle, Line, Period
from tally.domain.records import (
    LICENSED,
    Customer,
    Invoice,
    Meter,
    PendingItem,
    Price,
    Product,
    Subscription,
    UsageSegment,
)
from tally.ids import new_id
from tally.presenters.invoices import InvoiceView
from tally.store import objects, usage


def invoice_now(
    account: str,
    s: Subscription,
    lines: tuple[Line, ...],
    period: Period,
    prices: Mapping[str, Price],
    clock: Clock,
    *,
    grace: int,
) -> Invoice:
    """A `subscription_update` invoice billing `lines` at once (a cancel's final invoice, an
    update with `proration_behavior=always_invoice`); the caller writes it in its transaction.
    A draft that finalizes on its own `grace` seconds from now (the account's grace period,
    `billing.account_settings.invoice_grace`), like a period's invoice."""
    customer = objects.get(account, s.customer, Customer, clock)
    record = InvoiceView(
        id=new_id("in"),
        line_ids=[new_id("il") for _ in lines],
        draft=invoices.Draft(s.currency, period, lines, invoices.totals(lines, customer.balance)),
        subscription=s,
        customer=customer,
        prices=prices,
        created=clock.now,
        billing_reason="subscription_update",
    ).as_record()
    return replace(record, automatically_finalizes_at=clock.now + grace)


def line(item: PendingItem, price: Price) -> Line:
    return Line(
        subscription_item=item.subscription_item,
        price=item.price,
        product=price.product,
        usage_type=LICENSED,
        quantity=item.quantity,
        raw_quantity=item.quantity,
        amount=item.amount,
        period=Period(item.period_start, item.period_end),
        description=item.description,
        proration=item.proration,
    )


def unbilled(s: Subscription) -> tuple[tuple[PendingItem, ...], tuple[UsageSegment, ...]]:
    """The pending items and segments the period close has not billed yet (the rest are pruned)."""
    billed = s.start_date if s.billed_through is None else s.billed_through
    return (
        tuple(p for p in s.pending_items if p.at >= billed),
        tuple(u for u in s.usage_segments if u.end >= billed),
    )


def _price(account: str, price_id: str, prices: dict[str, Price], clock: Clock) -> Price:
    if price_id not in prices:
        prices[price_id] = objects.get(account, price_id, Price, clock)
    return prices[price_id]


def lines(
    account: str,
    s: Subscription,
    cycle: Cycle,
    prices: dict[str, Price],
    names: dict[str, str],
    clock: Clock,
) -> list[Line]:
    """The extra lines of the invoice closing `cycle.usage` (adds the old prices to `prices`)."""
    start, end = cycle.usage.start, cycle.usage.end
    out = [line(p, _price(account, p.price, prices, clock)) for p in s.pending_items if start <= p.at < end]
    segments: Iterable[UsageSegment] = (u for u in s.usage_segments if u.start < end and start < u.end)
    for seg in segments:
        price = _price(account, seg.price, prices, clock)
        if price.product not in names:
            names[price.product] = objects.get(account, price.product, Product, clock).name
        period = Period(max(seg.start, start), min(seg.end, end))
        since = max(period.start, s.trial_end or 0)
        used = 0
        if price.meter and since < period.end:
            meter = objects.get(account, price.meter, Meter, clock, label="billing meter")
            used = usage.aggregate(account, meter, s.customer, since, period.end)
        item = invoices.ItemInput(
            seg.subscription_item,
            price,
            names[price.product],
            usage=used,
            usage_start=since if since != period.start else None,
        )
        out.append(invoices.item_line(item, Cycle(period, cycle.advance)))
    return out
