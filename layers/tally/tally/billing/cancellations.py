"""Canceling a subscription now (`DELETE /v1/subscriptions/{id}`) with `invoice_now` / `prorate`.

- Neither: the subscription ends (`billing.subscriptions.cancel`); its pending prorations are
  dropped, as Stripe removes them when both are false.
- `invoice_now=true`: a final draft invoice (`billing_reason: subscription_update`, `created` =
  now, period `[start, now)` where `start` is the first instant not yet invoiced) bills the
  metered usage to date (each item from its `usage_since`, up to and including the cancel's
  second: usage stamped `now` was sent with the cancel, so the line's `usage_end` is `now + 1`),
  the usage under replaced metered prices, and every pending proration item.
- `prorate=true` (with `invoice_now`): the invoice also credits the unused time of each licensed
  item, `[now, period end)`, as an update's proration does (`tally.domain.prorations`).
  `prorate=true` without `invoice_now` is refused (400 `prorate`): Tally has no customer-level
  pending invoice items to hold the credit.

The canceled subscription, its `customer.subscription.deleted` event, the invoice and its
`invoice.created` event are ONE transaction (the subscription Put conditional on the version
read): a crash before it writes nothing, after it everything; a second `DELETE` answers 400
(already canceled), so the final invoice exists at most once. The period close never bills a
canceled subscription, so the usage is not billed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tally.billing import account_settings, pending, true_ups
from tally.billing import invoices as invoice_builder
from tally.billing.subscriptions import canceled, check_cancel_at, current_period, prices_of, view
from tally.clock import Clock
from tally.domain import invoices, prorations
from tally.domain.invoices import Cycle, ItemInput, Line, Period
from tally.domain.records import (
    Invoice,
    Meter,
    PendingItem,
    Price,
    Product,
    Subscription,
    SubscriptionItem,
)
from tally.errors import InvalidRequest, invalid
from tally.ids import new_id
from tally.presenters.invoices import InvoiceView
from tally.presenters.invoices import invoice as present_invoice
from tally.presenters.subscriptions import SubscriptionView
from tally.presenters.subscriptions import subscription as present
from tally.store import objects, transactions, usage
from tally.store.changes import Change, Stored, Write


def _final_lines(account: str, s: Subscription, prorate: bool, prices: dict, clock: Clock) -> list[Line]:
    start = s.unbilled_period[0]
    period = current_period(s, clock)
    now = clock.now
    names: dict[str, str] = {}
    lines = pending.lines(
        account, s, Cycle(Period(start, period[1]), Period(period[1], period[1])), prices, names, clock
    )
    for item in s.items:
        price = prices[item.price]
        if price.product not in names:
            names[price.product] = objects.get(account, price.product, Product, clock).name
        name = names[price.product]
        if price.metered and price.meter:
            since = max(start, item.usage_since or 0, s.trial_end or 0)
            meter = objects.get(account, price.meter, Meter, clock, label="billing meter")
            used = usage.aggregate(account, meter, s.customer, since, now + 1) if since <= now else 0
            usage_cycle = Cycle(Period(start, now), Period(now, now))
            counted = ItemInput(  # the line's period ends at the cancel, its usage with its second
                item.id,
                price,
                name,
                usage=used,
                usage_start=since if since != start else None,
                usage_end=now + 1,
            )
            lines.append(invoices.item_line(counted, usage_cycle))
        elif prorate and item.quantity is not None and now < period[1] and not s.trialing(period[1]):
            made = [prorations.credit(price, item.quantity, name, period, now)]
            if s.cancel_at is not None and s.cancel_at_credited:  # its pending credit is billed too
                made.append(prorations.charge(price, item.quantity, name, period, s.cancel_at))
            lines += [
                Line(
                    item.id,
                    price.id,
                    price.product,
                    price.usage_type,
                    p.quantity,
                    p.quantity,
                    p.amount,
                    Period(p.period_start, p.period_end),
                    p.description,
                    proration=True,
                )
                for p in made
                if p.amount != 0
            ]
    if s.billed_through is not None:  # late usage of finalized periods: the last invoice carries it
        lines[:0] = true_ups.lines(account, s.id, s.customer, prices, names, clock)
    return lines


def cancel(
    account: str,
    subscription_id: str,
    clock: Clock,
    *,
    invoice_now: bool = False,
    prorate: bool = False,
    reason: str = "cancellation_requested",
) -> tuple[SubscriptionView, Invoice | None]:
    if prorate and not invoice_now:
        raise invalid(
            "prorate",
            "prorate=true needs invoice_now=true: Tally credits the unused time on the final invoice.",
        )
    stored = objects.load(account, subscription_id, Subscription, clock)
    s = stored.record
    if s.status == "canceled":
        raise InvalidRequest(f"The subscription {subscription_id} is already canceled.", param="id")
    invoice = None
    if invoice_now:
        prices = prices_of(account, s, clock)
        lines = tuple(_final_lines(account, s, prorate, prices, clock))
        period = Period(s.unbilled_period[0], clock.now)
        grace = account_settings.invoice_grace(account, clock)  # the draft finalizes on its own
        invoice = pending.invoice_now(account, s, lines, period, prices, clock, grace=grace)
    latest = invoice.id if invoice is not None and invoice.lines else s.latest_invoice
    cleared = Stored(
        replace(s, pending_items=(), usage_segments=(), latest_invoice=latest),
        stored.version,
        stored.created_ms,
    )
    change = canceled(account, cleared, clock, reason)
    writes = [Write(change, stored)]
    if invoice is not None and invoice.lines:
        writes.append(Write(Change(invoice, "invoice.created", present_invoice(invoice))))
    else:
        invoice = None
    transactions.commit(account, writes, clock)
    return view(account, change.record, clock), invoice


# -- cancel_at / cancel_at_period_end on update --------------------------------------------------
@dataclass(frozen=True)
class Ending:
    """How a subscription ends after an update: at its period end, at `cancel_at`, or not."""

    at_period_end: bool
    cancel_at: int | None


def ending(
    s: Subscription,
    at_period_end: bool | None,
    cancel_at: int | None,
    cancel_at_given: bool,
    period: tuple[int, int],
    clock: Clock,
) -> Ending:
    """Stripe's interplay: the two params are exclusive; `cancel_at_period_end` (true or false)
    clears `cancel_at`; `cancel_at` clears `cancel_at_period_end` (`""` clears both)."""
    if cancel_at_given and at_period_end is not None:
        raise invalid(
            "cancel_at", "You may only specify one of these parameters: cancel_at, cancel_at_period_end."
        )
    if at_period_end is not None:
        return Ending(at_period_end, None)
    if not cancel_at_given:
        return Ending(s.cancel_at_period_end, s.cancel_at)
    if cancel_at is not None:
        check_cancel_at(cancel_at, clock.now)
        if cancel_at == period[1]:
            return Ending(True, None)  # the period end: Stripe's cancel_at_period_end
    return Ending(False, cancel_at)


def cancel_at_lines(
    account: str,
    s: Subscription,
    items: Sequence[SubscriptionItem],
    prices: dict[str, Price],
    cancel_at: int | None,
    period: tuple[int, int],
    at: int,
    clock: Clock,
) -> list[PendingItem]:
    """The prorations of moving the subscription's end from `s.cancel_at` (or the period end) to
    `cancel_at` (or the period end): each licensed item's time after the old end is charged back
    (if it was credited: `cancel_at_credited`), and its time after the new end credited (Stripe's
    lines for `cancel_at` inside a period). The proration instant `at` picks the invoice that
    bills them (the one closing this period)."""
    if cancel_at == s.cancel_at:
        return []
    names: dict[str, str] = {}
    out = []
    for item in items:
        price = prices[item.price]
        if price.metered or item.quantity is None:
            continue
        if price.product not in names:
            names[price.product] = objects.get(account, price.product, Product, clock).name
        made = []
        if s.cancel_at is not None and s.cancel_at_credited:
            made.append(prorations.charge(price, item.quantity, names[price.product], period, s.cancel_at))
        if cancel_at is not None and cancel_at < period[1]:  # a later period is cut when it begins
            made.append(prorations.credit(price, item.quantity, names[price.product], period, cancel_at))
        out += [
            PendingItem(
                new_id("ii"),
                item.id,
                p.price,
                p.quantity,
                p.amount,
                p.period_start,
                p.period_end,
                p.description,
                at,
            )
            for p in made
            if p.amount != 0
        ]
    return out


def at_period_end(
    account: str, s: Subscription, cycle_invoice: InvoiceView, period: tuple[int, int], clock: Clock
) -> tuple[Invoice, Change]:
    """`cancel_at_period_end` (or `cancel_at`, which cut the period short): the period close's
    invoice and change when the subscription ends at `period`'s end instead of renewing (called
    by `billing.cycles.bill_period`, in its one transaction). The invoice is the cycle invoice
    without the licensed lines in advance (there is no next period): metered usage in arrears and
    pending prorations. The subscription is canceled at the period end
    (`customer.subscription.deleted`)."""
    start, end = period
    final = invoice_builder.without_advance(cycle_invoice)
    after = replace(
        s,
        status="canceled",
        canceled_at=end,
        ended_at=end,
        cancellation_reason="cancellation_requested",
        ended_period_start=start,
        ended_period_end=end,
        billed_through=end,
        pending_items=(),
        usage_segments=(),
        latest_invoice=final.id,
    )
    prices = dict(cycle_invoice.prices)
    shown = present(SubscriptionView(after, prices, period))
    return replace(final, billing_reason="subscription_cycle").as_record(), Change(
        after, "customer.subscription.deleted", shown
    )
