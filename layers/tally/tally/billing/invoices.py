"""Invoices: building the invoice of a subscription period from its usage and prices.

`build` assembles the invoice that closes the period containing an instant (metered lines in
arrears over that period, licensed lines in advance for the next; see `tally.domain.invoices`).
It reads, never writes, so a preview and the scheduled period close (`tally.billing.cycles`) call
the same code; `without_advance` drops its licensed lines in advance when the subscription ends at
the period end (the preview, and the close's final invoice: `tally.billing.cancellations`).
`retrieve` and `list_` read the invoices the close stored.

`preview` is `/v1/invoices/create_preview`: `subscription` picks the subscription; `customer`
alone picks, among the customer's active subscriptions, the one whose period ends first (Stripe:
"the next upcoming invoice from among the customer's subscriptions"); without one, 400
`invoice_upcoming_none`. A canceled subscription, or one whose customer is gone (deleting a
customer cancels its subscriptions; older data may still hold an active one), has no upcoming
invoice either: the same 400, naming no param. The preview's id is `upcoming_in_…` and changes
on every call; `created` is when the invoice will be created (the period end). It shows the
customer's pending invoice items the close would sweep onto it (oldest first, up to the sweep's
cap: `tally.billing.pending_items`).
"""

from __future__ import annotations

from dataclasses import replace

from tally.billing import clocks, pending, pending_items, true_ups
from tally.billing.references import referenced
from tally.billing.subscriptions import current_period, prices_of
from tally.clock import Clock
from tally.domain import invoices, prorations
from tally.domain.listing import Page, Window
from tally.domain.records import LICENSED, Customer, Invoice, Meter, Product, Subscription
from tally.errors import InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.presenters.invoices import InvoiceView
from tally.store import lists, objects, usage
from tally.store.billed import StoredPeriod


def _no_upcoming(what: str, object_id: str) -> InvalidRequest:
    return InvalidRequest(f"No upcoming invoices for {what}: {object_id}", code="invoice_upcoming_none")


def _next_subscription(account: str, customer_id: str, clock: Clock) -> Subscription:
    """The customer's active subscription whose current period ends first (oldest on a tie)."""
    page = lists.list_records(
        account,
        Subscription,
        Window(limit=100),
        clock,
        customer=customer_id,
        where=lambda s: s.running,
    )
    if not page.data:
        raise _no_upcoming("customer", customer_id)
    return min(reversed(page.data), key=lambda s: current_period(s, clock)[1])


def build(
    account: str,
    subscription: Subscription,
    clock: Clock,
    *,
    invoice_id: str,
    customer: Customer | None = None,
    line_prefix: str = "il_tmp",
    billed_periods: list[StoredPeriod] | None = None,
) -> InvoiceView:
    """The invoice closing the period of `subscription` that contains the clock's instant, with the
    true-ups of its finalized periods (`billed_periods` when the caller read them with the
    subscription: `tally.store.billed.with_open_periods`)."""
    if customer is None:
        customer = referenced(account, subscription.customer, Customer, "customer", clock)
    s = subscription
    cycle = invoices.cycle_at_period_end(
        s.start_date, s.billing_cycle_anchor, s.interval, s.interval_count, clock.now
    )
    if s.cancel_at is not None and cycle.usage.start < s.cancel_at < cycle.usage.end:
        # the last period is cut short at `cancel_at`, and nothing follows it
        cycle = invoices.Cycle(
            invoices.Period(cycle.usage.start, s.cancel_at), invoices.Period(s.cancel_at, s.cancel_at)
        )
    prices = prices_of(account, s, clock)
    # the items' products and meters: ONE BatchGetItem (was a GetItem each)
    billed = [prices[item.price] for item in s.items]
    found = objects.get_many(
        account,
        [(p.product, Product, None) for p in billed]
        + [(p.meter, Meter, "billing meter") for p in billed if p.metered and p.meter],
        clock,
    )
    names: dict[str, str] = {p.product: found[p.product].name for p in billed}
    meters: dict[str, Meter] = {p.meter: found[p.meter] for p in billed if p.metered and p.meter}
    inputs = []
    for item in s.items:
        price = prices[item.price]
        used = None
        if price.metered and price.meter:
            meter = meters[price.meter]
            # from when the item was added or switched mid-period; usage in a trial is free
            since = max(cycle.usage.start, item.usage_since or 0, s.trial_end or 0)
            end = cycle.usage.end
            used = usage.aggregate(account, meter, s.customer, since, end) if since < end else 0
        inputs.append(
            invoices.ItemInput(
                item.id,
                price,
                names[price.product],
                quantity=item.quantity,
                usage=used,
                usage_start=since if used is not None and since != cycle.usage.start else None,
            )
        )
    extra = pending.lines(account, s, cycle, prices, names, clock)  # prorations, replaced prices
    if s.billed_through is not None:  # late usage of finalized periods (none before a first invoice)
        extra = [
            *true_ups.lines(account, s.id, s.customer, prices, names, clock, meters, billed_periods),
            *extra,
        ]
    draft = invoices.assemble(inputs, cycle, starting_balance=customer.balance, extra=extra)
    draft = _ending_at(draft, cycle, s.cancel_at, prices, names)
    return InvoiceView(
        id=invoice_id,
        line_ids=[new_id(line_prefix) for _ in draft.lines],
        draft=draft,
        subscription=s,
        customer=customer,
        prices=prices,
        created=cycle.usage.end,
    )


def _ending_at(
    draft: invoices.Draft, cycle: invoices.Cycle, cancel_at: int | None, prices: dict, names: dict[str, str]
) -> invoices.Draft:
    """A renewal into the period that `cancel_at` ends early: each licensed line in advance bills
    only `[period start, cancel_at)`, prorated over the whole period (as the creation invoice cuts
    its first period), so nothing past the subscription's end is billed."""
    start, end = cycle.advance.start, cycle.advance.end
    if cancel_at is None or not start < cancel_at < end:
        return draft
    lines = []
    for ln in draft.lines:
        if ln.usage_type == LICENSED and not ln.proration and ln.period == cycle.advance:
            price = prices[ln.price]
            amount = prorations.spanned(price, ln.raw_quantity, (start, end), (start, cancel_at))
            text = prorations.charge(price, ln.raw_quantity, names[price.product], (start, end), start)
            ln = replace(
                ln,
                amount=amount,
                period=invoices.Period(start, cancel_at),
                description=text.description,
                proration=True,
            )
        lines.append(ln)
    return replace(draft, lines=tuple(lines), totals=invoices.totals(lines, draft.totals.starting_balance))


def without_advance(cycle_invoice: InvoiceView) -> InvoiceView:
    """The cycle invoice of a subscription ending at the period end: its licensed lines in advance
    dropped (there is no next period), metered lines and prorations kept."""
    kept = [
        (line_id, ln)
        for line_id, ln in zip(cycle_invoice.line_ids, cycle_invoice.draft.lines, strict=True)
        if ln.usage_type != LICENSED or ln.proration
    ]
    lines = tuple(ln for _, ln in kept)
    draft = replace(
        cycle_invoice.draft,
        lines=lines,
        totals=invoices.totals(lines, cycle_invoice.draft.totals.starting_balance),
    )
    return replace(cycle_invoice, draft=draft, line_ids=[i for i, _ in kept])


def preview(account: str, subscription_id: str | None, customer_id: str | None, clock: Clock) -> InvoiceView:
    if subscription_id is not None:
        subscription = referenced(account, subscription_id, Subscription, "subscription", clock)
        if customer_id is not None and subscription.customer != customer_id:
            raise invalid("customer", f"The subscription {subscription_id} belongs to another customer.")
        if subscription.status == "canceled":
            raise _no_upcoming("subscription", subscription_id)
        try:
            customer = objects.get(account, subscription.customer, Customer, clock)
        except NotFound:
            raise _no_upcoming("subscription", subscription_id) from None
    elif customer_id is not None:
        customer = referenced(account, customer_id, Customer, "customer", clock)
        subscription = _next_subscription(account, customer_id, clock)
    else:
        raise InvalidRequest(
            "You must pass customer or subscription.", code="parameter_missing", param="customer"
        )
    shown = build(account, subscription, clock, invoice_id=f"upcoming_{new_id('in')}", customer=customer)
    # a subscription ending at the period end renews nothing: the close drafts it without advance
    # (a `cancel_at` in a later period renews, into a period cut short: `_ending_at`)
    ends = subscription.cancel_at_period_end or subscription.cancel_at == shown.draft.period.end
    shown = without_advance(shown) if ends else shown
    # the customer's pending invoice items the close would sweep onto it (`billing.pending_items`)
    swept = pending_items.pending(account, customer.id, shown.draft.currency, clock)
    return replace(shown, items=tuple(pending_items.as_line(s.record) for s in swept))


def clock_for_invoice(
    account: str, invoice_id: str, request_clock: Clock, *, changing: bool = False
) -> Clock:
    """The clock a use case acting on an invoice runs at: its customer's test clock's frozen time
    (finalizing or paying an invoice of a test-clock customer happens at the clock's time), else
    the request's. An unknown invoice runs at the request's clock (the use case reports it).
    `changing`: refused while the clock advances (`clocks.frozen`)."""
    try:
        inv = objects.get(account, invoice_id, Invoice, request_clock)
    except NotFound:
        return request_clock
    return clocks.clock_for(account, inv.customer, request_clock, changing=changing)


def clock_for_customer(account: str, customer_id: str, request_clock: Clock) -> Clock:
    """The clock a new invoice of `customer_id` is created at: its test clock's (refused while it
    advances), else the request's."""
    return clocks.clock_for(account, customer_id, request_clock, changing=True)


def preview_clock(
    account: str, subscription_id: str | None, customer_id: str | None, request_clock: Clock
) -> Clock:
    """The clock a preview runs at: the previewed subscription's (or customer's) test clock time."""
    if subscription_id is not None:
        return clocks.clock_for_subscription(account, subscription_id, request_clock)
    return clocks.clock_for(account, customer_id, request_clock)


def retrieve(account: str, invoice_id: str, clock: Clock) -> Invoice:
    return objects.get(account, invoice_id, Invoice, clock)


INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")


def list_(
    account: str,
    window: Window,
    clock: Clock,
    *,
    customer: str | None = None,
    subscription: str | None = None,
    status: str | None = None,
) -> Page[Invoice]:
    """Newest first. One index answers: the customer's (`by_customer`), else the subscription's,
    else the status's partition (`by_field`); the other filters are checked on what it returns."""

    # An invoice is listed at the instant the close stored it, which may be after its `created`
    # (the period end): the index bounds it from below only, `created` itself is checked here.
    low, high = window.created_gte, window.created_lte
    window = replace(window, created_lte=None)

    def wanted(inv: Invoice) -> bool:
        return (
            (low is None or inv.created >= low)
            and (high is None or inv.created <= high)
            and (customer is None or inv.customer == customer)
            and (subscription is None or inv.subscription == subscription)
            and (status is None or inv.status == status)
        )

    any_of = None
    if customer is None and subscription is not None:
        any_of = [("subscription", subscription)]
    elif customer is None and status is not None:
        any_of = [("status", status)]
    return lists.list_records(account, Invoice, window, clock, customer=customer, where=wanted, any_of=any_of)
