"""The invoice a subscription's creation issues: Stripe's `billing_reason: subscription_create`,
finalized at once (called by `billing.subscription_creation.create`, written in its transaction).

What it bills (Stripe's rules with `proration_behavior=create_prorations`, `billing_mode=classic`;
the first period is `[p0, p1)`, the period containing the creation instant `created`):

- licensed items, in advance:
  - a trial: a 0 line per item, `Trial period for <product>`, over `[created, trial_end)`;
  - the whole first period when it is one whole interval: `quantity × price` over `[p0, p1)`;
  - a future `billing_cycle_anchor`: the time up to it, `[created, anchor)`, prorated over the
    interval ending at the anchor (`exact × (anchor − created) / (anchor − 1 interval … anchor)`);
  - `backdate_start_date` with a future anchor: the time `[start_date, anchor)`, prorated over an
    imagined interval starting at `start_date` (Stripe's backdating rule), one line per item;
  - `cancel_at` inside the first period cuts each licensed line at `cancel_at` (prorated the same
    way over the line's full period): nothing is billed past the end;
- metered items: a 0 line each (Stripe's classic billing mode), over `[created, created)`: their
  usage is billed in arrears by the close of the first period;
- `backdate_start_date` with the anchor at the creation (the default): the backdated span
  `[start_date, created)` is a period that has already ended, so this invoice closes it as the
  period close would (`billing.invoices.build`): its metered usage, Stripe's backdating charge per
  licensed item, and the licensed items in advance for the period starting now. The subscription
  is stored with `billed_through` = the span's end, so the close never bills the span again.

The invoice is numbered from the customer's `next_invoice_sequence` (the customer is written in
the same transaction, conditional on the version read, with `customer.updated`), `open`, and
`paid` at once when nothing is due (Stripe pays a zero invoice at finalization). It takes the
`invoice_period` claim `<subscription>@<start_date>` when it closes the backdated span (the key the
close would take), else `<subscription>@create`: one creation invoice per subscription.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tally.billing import balances, credit_application, cycles, true_ups
from tally.billing import invoices as invoice_builder
from tally.clock import Clock
from tally.domain import invoices, periods, prorations
from tally.domain.invoices import Cycle, Line, Period
from tally.domain.records import (
    LICENSED,
    Customer,
    CustomerBalanceTransaction,
    Invoice,
    PendingItem,
    Price,
    Product,
    Subscription,
)
from tally.errors import Conflict
from tally.ids import new_id
from tally.presenters.invoices import InvoiceView
from tally.presenters.invoices import invoice as present
from tally.store import objects
from tally.store.changes import Aux, Change, Stored, Unique, Write

CREATE = "create"  # the claim suffix of a creation invoice that closes no period


@dataclass(frozen=True)
class Issued:
    """The subscription as stored (after its creation invoice), that invoice finalized, the
    same invoice as a draft (what `invoice.created` shows), and its `invoice_period` claim."""

    subscription: Subscription
    invoice: Invoice
    draft: Invoice
    claim: str
    customer: Customer  # after the invoice met its balance (`billing.balances.settle`)
    transaction: CustomerBalanceTransaction | None = None
    credits: tuple[Write, ...] = ()  # billing credits it took (`billing.credit_application`)


def _names(account: str, prices: dict[str, Price], clock: Clock) -> dict[str, str]:
    return {p.product: objects.get(account, p.product, Product, clock).name for p in prices.values()}


def _share(base: Line, price: Price, full: tuple[int, int], span: tuple[int, int], name: str) -> Line:
    """`base` billing the time `span` of the period `full` (the whole line when they are equal)."""
    if span == full:
        return base
    amount = prorations.spanned(price, base.raw_quantity, full, span)
    text = prorations.charge(price, base.raw_quantity, name, full, span[0]).description
    return replace(base, amount=amount, period=Period(*span), description=text, proration=True)


def _cut(line: Line, price: Price, s: Subscription, name: str) -> Line:
    """A whole licensed line in advance that `cancel_at` ends early, billed only up to it."""
    end = line.period.end
    if s.cancel_at is None or line.usage_type != LICENSED or line.proration or end <= s.cancel_at:
        return line
    full = (line.period.start, end)
    return _share(line, price, full, (line.period.start, max(s.cancel_at, line.period.start)), name)


def _licensed(s: Subscription, item_id: str, quantity: int, price: Price, name: str, first: Period) -> Line:
    created, (p0, p1) = s.created, (first.start, first.end)
    until = p1 if s.cancel_at is None else min(p1, s.cancel_at)
    if s.trial_end is not None:
        return Line(
            item_id, price.id, price.product, LICENSED, quantity, quantity, 0,
            Period(created, until), f"Trial period for {name}",
        )  # fmt: skip
    if s.start_date < created:  # backdated up to a future anchor: Stripe's imagined interval
        p = prorations.backdated(price, quantity, name, s.start_date, until, s.interval, s.interval_count)
        return Line(
            item_id, price.id, price.product, LICENSED, quantity, quantity, p.amount,
            Period(s.start_date, until), p.description, proration=True,
        )  # fmt: skip
    item = invoices.ItemInput(item_id, price, name, quantity=quantity)
    whole = invoices.item_line(item, Cycle(Period(created, created), first))
    whole_interval = periods.add_intervals(p0, s.interval, s.interval_count, 1) == p1
    full = (p0, p1) if whole_interval else (periods.add_intervals(p1, s.interval, s.interval_count, -1), p1)
    return _share(whole, price, full, (p0, until), name)


def _metered(item_id: str, price: Price, name: str, created: int) -> Line:
    """Stripe's classic 0 line for a metered item on the first invoice."""
    item = invoices.ItemInput(item_id, price, name, usage=0)
    line = invoices.item_line(item, Cycle(Period(created, created), Period(created, created)))
    return replace(line, amount=0, quantity=0, raw_quantity=0)


def issue(
    account: str,
    s: Subscription,
    prices: dict[str, Price],
    backdated: tuple[PendingItem, ...],
    customer: Customer,
    clock: Clock,
) -> Issued:
    """The creation invoice of the new subscription `s` (not stored: `writes` stores it). 400
    when the customer is charged in another currency (`billing.balances.check_currency`)."""
    balances.check_currency(customer, s.currency, "items")
    created = s.created
    p0, p1 = periods.current_period(
        s.start_date, s.billing_cycle_anchor, s.interval, s.interval_count, created
    )
    if p0 > s.start_date:  # the backdated span [start_date, p0) has ended: close it now
        with_items = replace(s, pending_items=backdated)
        view = invoice_builder.build(
            account,
            with_items,
            Clock.at(s.start_date),
            invoice_id=new_id("in"),
            customer=customer,
            line_prefix="il",
        )
        names = _names(account, prices, clock)
        lines = [_cut(ln, prices[ln.price], s, names[prices[ln.price].product]) for ln in view.draft.lines]
        draft = invoices.Draft(
            s.currency, view.draft.period, tuple(lines), invoices.totals(lines, customer.balance)
        )
        stored = replace(s, billed_through=p0)
        claim = f"{s.id}@{s.start_date}"
    else:
        names = _names(account, prices, clock)
        first = Period(p0, p1)
        lines = []
        for item in s.items:
            price = prices[item.price]
            name = names[price.product]
            if price.metered or item.quantity is None:
                lines.append(_metered(item.id, price, name, created))
            else:
                lines.append(_licensed(s, item.id, item.quantity, price, name, first))
        draft = invoices.Draft(
            s.currency, Period(created, created), tuple(lines), invoices.totals(lines, customer.balance)
        )
        stored = s
        claim = f"{s.id}@{CREATE}"
    line_ids = [new_id("il") for _ in draft.lines]
    record = InvoiceView(
        id=new_id("in"),
        line_ids=line_ids,
        draft=draft,
        subscription=stored,
        customer=customer,
        prices=prices,
        created=created,
        billing_reason="subscription_create",
    ).as_record()
    number = f"{customer.invoice_prefix}-{customer.next_invoice_sequence:04d}"
    opened = replace(record, status="open", number=number, finalized_at=created)
    # billing credits (a backdated span's metered usage), then the customer balance meet it
    credited = credit_application.apply(account, opened, Clock.at(created))
    settled = balances.settle(credited.invoice, customer, created, credits=credited.amount)
    opened = settled.invoice
    if opened.amount_remaining == 0:  # nothing to pay: paid at finalization (Stripe)
        opened = replace(opened, status="paid", paid_at=created)  # amount_paid: 0 of 0
    return Issued(
        replace(stored, latest_invoice=record.id),
        opened,
        record,
        claim,
        settled.customer,
        settled.transaction,
        tuple(credited.writes),
    )


def billed(account: str, issued: Issued) -> list[Aux]:
    """What the creation invoice billed for its metered lines over a real span (a backdated span
    it closes), kept for late usage's true-ups (`billing.true_ups`) as a finalization keeps it.
    The 0 lines over `[created, created)` bill no span: nothing to keep."""
    inv = issued.invoice
    spans = tuple(ln for ln in inv.lines if ln.period_end > ln.period_start)
    return true_ups.writes(account, inv.subscription, inv.id, spans, [], inv.created)


def writes(issued: Issued, owner: Stored[Customer]) -> list[Write]:
    """The invoice (with `invoice.created`, `invoice.finalized`, and `invoice.paid` when paid) and
    the customer with its sequence bumped (`customer.updated`), for the create's transaction."""
    inv = issued.invoice
    opened = replace(inv, status="open", paid_at=None)
    also = [("invoice.finalized", present(opened))]
    if inv.status == "paid":
        also.append(("invoice.paid", present(inv)))
    taken = Conflict(f"The subscription {inv.subscription} already has its first invoice.")
    created = Change(
        inv,
        "invoice.created",
        present(issued.draft),
        claim=[Unique(cycles.INVOICE_PERIOD, issued.claim, taken)],
        also=also,
    )
    c = owner.record
    bumped = replace(issued.customer, next_invoice_sequence=c.next_invoice_sequence + 1)
    bump = balances.customer_change(c, bumped)  # its balance and currency too, version-checked
    return [Write(created), Write(bump, owner), *balances.written(issued.transaction), *issued.credits]
