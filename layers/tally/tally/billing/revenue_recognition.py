"""Revenue recognition: the account's journal entries (`tally.domain.revenue`) from its invoices,
its running subscriptions' unbilled periods and their usage, for a report over whole UTC months.

Reads (never writes): every invoice and subscription of the account (`by_type`, 100 a page), the
prices and meters their metered lines name (once each), and — only for a metered line (or a
running subscription's unbilled metered item) whose service span overlaps the interval, or whose
invoice is finalized in it — its usage over that span from the hour buckets (`store.usage.hourly`:
one item per hour per shard, never the events). The cost grows with invoices and hours of
service, never with events. docs/API.md, "Revenue recognition".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from tally.billing import revenue_cadence
from tally.clock import Clock
from tally.domain import revenue
from tally.domain.aggregation import Formula
from tally.domain.listing import Window
from tally.domain.records import METERED, Invoice, Meter, Price, Subscription
from tally.domain.revenue import Entry
from tally.store import lists, objects, usage

T = TypeVar("T")


def _every(account: str, cls: type[T], clock: Clock) -> Iterator[T]:
    """Every record of `cls` in the account, newest first, 100 a page."""
    after = None
    while True:
        page = lists.list_records(account, cls, Window(limit=100, starting_after=after), clock)
        yield from page.data
        if not page.has_more or not page.data:
            return
        after = page.data[-1].id  # type: ignore[attr-defined]


class _Catalog:
    """Prices and meters, each read once per report."""

    def __init__(self, account: str, clock: Clock) -> None:
        self.account, self.clock = account, clock
        self.prices: dict[str, Price] = {}
        self.meters: dict[str, Meter] = {}
        self.plan = revenue_cadence.Reads(account, clock)  # rates, metered items (v2)

    def price(self, price_id: str) -> Price:
        if price_id not in self.prices:
            self.prices[price_id] = objects.get(self.account, price_id, Price, self.clock)
        return self.prices[price_id]

    def meter(self, meter_id: str) -> Meter:
        if meter_id not in self.meters:
            self.meters[meter_id] = objects.get(self.account, meter_id, Meter, self.clock)
        return self.meters[meter_id]


def _accrue(
    account: str,
    catalog: _Catalog,
    customer: str,
    price_id: str,
    span: tuple[int, int],
    currency: str,
    source: str,
    *,
    invoiced: bool = True,
) -> list[Entry]:
    """The usage accrual of one metered span, month by month (see `revenue.accrual_by_month`).
    A `last` meter's span not yet `invoiced` accrues nothing: its value is known when it ends."""
    start, end = span
    price = catalog.price(price_id)
    if start >= end or not price.meter:
        return []
    meter = catalog.meter(price.meter)
    if meter.formula is Formula.LAST and not invoiced:
        return []
    hours = usage.hourly(account, meter, customer, start, end)
    ends = revenue.slice_ends(start, end)
    if meter.formula is Formula.LAST:
        # a last-value meter's usage is known only when its span ends: recognized that month
        value = usage.combine(meter.formula, list(hours.values()))
        cumulative = [(end, value)]
    else:
        ordered = sorted(hours.values(), key=lambda h: h.hour)
        cumulative = [(cut, sum(h.total for h in ordered if h.hour < cut)) for cut in ends]
    out: list[Entry] = []
    for month, amount in revenue.accrual_by_month(price.model, cumulative):
        out += revenue.entry(
            month, currency, revenue.UNBILLED, revenue.REVENUE, amount, revenue.ACCRUAL, source
        )
    return out


def _overlaps(span: tuple[int, int], start: int, end: int) -> bool:
    return span[0] < end and start < span[1]


def _invoice(account: str, catalog: _Catalog, inv: Invoice, start: int, end: int) -> list[Entry]:
    if inv.status == "void" and inv.finalized_at is None:
        return []  # never finalized: nothing of it was ever booked
    finalized_inside = inv.finalized_at is not None and start <= inv.finalized_at < end
    accruals: list[Entry] = []
    deferrals: list[Entry] = []
    if inv.billing_cadence is not None:  # a v2 cadence's plan lines (`billing.revenue_cadence`)
        accruals, deferrals = revenue_cadence.plan_entries(catalog.plan, inv, start, end)
    for line in inv.lines:
        if line.usage_type != METERED or line.true_up:
            continue  # licensed fees, prorations and true-ups are revenue when finalized
        span = line.usage_span
        if finalized_inside or _overlaps(span, start, end):
            accruals += _accrue(account, catalog, inv.customer, line.price, span, inv.currency, inv.id)
    booked = revenue.Booked(
        inv.id,
        inv.currency,
        inv.total,
        inv.amount_due,
        inv.amount_paid,
        inv.finalized_at,
        inv.paid_at,
        inv.voided_at,
    )
    return [
        *accruals,
        *deferrals,
        *revenue.invoice_entries(
            booked, sum(e.amount if e.debit == revenue.UNBILLED else -e.amount for e in accruals)
        ),
    ]


def _unbilled(account: str, catalog: _Catalog, s: Subscription, start: int, end: int) -> list[Entry]:
    """The accrual of a running subscription's period not yet invoiced (the close writes its
    invoice, and moves `billed_through` past it, in one transaction: never both counted)."""
    begin, until = s.unbilled_period
    out: list[Entry] = []
    for item in s.items:
        since = max(begin, item.usage_since or 0, s.trial_end or 0)  # as `billing.invoices.build`
        if _overlaps((since, until), start, end) and catalog.price(item.price).usage_type == METERED:
            out += _accrue(
                account, catalog, s.customer, item.price, (since, until), s.currency, s.id, invoiced=False
            )
    for seg in s.usage_segments:  # usage under a price the item no longer has, billed at period end
        if begin <= seg.start and seg.end <= until and _overlaps((seg.start, seg.end), start, end):
            out += _accrue(
                account,
                catalog,
                s.customer,
                seg.price,
                (seg.start, seg.end),
                s.currency,
                s.id,
                invoiced=False,
            )
    return out


def entries(account: str, start: int, end: int, clock: Clock, currency: str | None = None) -> list[Entry]:
    """Every journal entry of the account (of `currency` only, if given) that a report over
    `[start, end)` needs (entries outside it may be included: `revenue.report` keeps those inside)."""
    catalog = _Catalog(account, clock)
    out: list[Entry] = []
    for inv in _every(account, Invoice, clock):
        if currency is None or inv.currency == currency:
            out += _invoice(account, catalog, inv, start, end)
    for s in _every(account, Subscription, clock):
        if s.running and (currency is None or s.currency == currency):
            out += _unbilled(account, catalog, s, start, end)
    return out


def report(account: str, start: int, end: int, clock: Clock, currency: str | None = None) -> revenue.Report:
    """The revenue recognition report over `[start, end)` (UTC month starts, checked by the caller)."""
    return revenue.report(entries(account, start, end, clock, currency), start, end)
