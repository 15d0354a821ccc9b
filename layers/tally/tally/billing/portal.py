"""What a customer portal page shows (`tally.api.portal`): the customer's current period usage per
meter with a projection to the period's end, the preview of the next invoice, past invoices.

Everything is read for one customer, named by a verified portal session
(`tally.billing.portal_sessions`); nothing here takes an id the page chose without checking that
the object is that customer's. Usage runs at the customer's clock (a test clock's "now" for a
customer on one), like every use case for a customer.
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.billing import clocks, invoices, meters
from tally.billing.subscriptions import current_period, prices_of
from tally.clock import Clock
from tally.domain.aggregation import DAY
from tally.domain.event_summaries import EventSummary
from tally.domain.listing import Window
from tally.domain.portal import MeterUsage, project
from tally.domain.records import Customer, Invoice, Meter, Subscription
from tally.errors import InvalidRequest, NotFound
from tally.presenters.invoices import InvoiceView
from tally.store import lists, objects

HISTORY = 24  # past invoices the page lists (newest first)
HOURLY_UP_TO = 3 * DAY  # periods up to this long are charted per hour, longer ones per day


@dataclass(frozen=True)
class Overview:
    customer: Customer
    now: int
    usage: list[MeterUsage]
    upcoming: InvoiceView | None  # None: no subscription bills next


def _series(
    account: str, meter: Meter, customer: str, start: int, stop: int, grouping: str, clock: Clock
) -> list[EventSummary]:
    """Every summary of [start, stop), oldest first (the summaries API's pages, newest first)."""
    found: list[EventSummary] = []
    after = None
    while True:
        page = meters.event_summaries(
            account, meter.id, customer, start, stop, grouping, Window(limit=100, starting_after=after), clock
        )
        found += page.data
        if not page.has_more or not page.data:
            return list(reversed(found))
        after = page.data[-1].id


def _usage(account: str, sub: Subscription, customer: str, clock: Clock) -> list[MeterUsage]:
    start, end = current_period(sub, clock)
    grouping = "hour" if end - start <= HOURLY_UP_TO else "day"
    prices = prices_of(account, sub, clock)
    out = []
    for item in sub.items:
        price = prices[item.price]
        if price.meter is None:
            continue
        # an item added or switched mid-period counts (and is billed) from then, as its invoice line
        since = min(max(start, item.usage_since or start), end - 1)
        stop = min(max(clock.now, since + 1), end)
        meter = meters.retrieve(account, price.meter, clock)
        points = _series(account, meter, customer, since, stop, grouping, clock)
        # the span's value as the meter aggregates it: the whole span, not a sum of windows; "so
        # far" includes the current second (spans are [start, end): an event stamped now is usage
        # already — an app that reports, then opens the portal, within one second)
        so_far = min(max(clock.now + 1, since + 1), end)
        whole = meters.event_summaries(
            account, meter.id, customer, since, so_far, None, Window(limit=1), clock
        )
        total = whole.data[0].value if whole.data else 0
        projected = project(meter.formula, total, since, clock.now, end)
        out.append(
            MeterUsage(meter, sub.id, start, end, since, clock.now, grouping, points, total, projected)
        )
    return out


def overview(account: str, customer_id: str, request_clock: Clock) -> Overview:
    """The portal's first page for a customer."""
    clock = clocks.clock_for(account, customer_id, request_clock)
    customer = objects.get(account, customer_id, Customer, clock)
    running = lists.list_records(
        account, Subscription, Window(limit=100), clock, customer=customer_id, where=lambda s: s.running
    ).data
    usage = [
        u
        for sub in sorted(running, key=lambda s: s.created)
        for u in _usage(account, sub, customer_id, clock)
    ]
    try:
        upcoming: InvoiceView | None = invoices.preview(account, None, customer_id, clock)
    except InvalidRequest:  # nothing bills next (no running subscription)
        upcoming = None
    return Overview(customer, clock.now, usage, upcoming)


def history(account: str, customer_id: str, clock: Clock) -> list[Invoice]:
    """The customer's finalized invoices (any status but draft), newest first."""
    page = invoices.list_(account, Window(limit=100), clock, customer=customer_id)
    return [inv for inv in page.data if inv.status != "draft"][:HISTORY]


def invoice(account: str, customer_id: str, invoice_id: str, clock: Clock) -> Invoice:
    """One of the customer's finalized invoices; another customer's (or a draft) is a 404, the
    same answer as an id that does not exist, so the page learns nothing about other customers."""
    try:
        inv = invoices.retrieve(account, invoice_id, clock)
    except NotFound:
        inv = None
    if inv is None or inv.customer != customer_id or inv.status == "draft":
        raise NotFound("invoice", invoice_id)
    return inv
