"""Subscriptions: the rules of creating, reading, listing and canceling one.

Rules on create (Stripe's, where it has them):
- the customer and every item's price exist (400 `resource_missing` naming the param);
- prices are active and recurring, all in one currency and one interval/interval_count, and no
  price appears twice;
- `quantity` (default 1) is for licensed prices only; metered items have no quantity;
- `billing_cycle_anchor` (default: now) lies between now (5 minutes of client clock skew
  tolerated) and the first natural period end.

Each item id is claimed for its subscription in the create transaction (a small claim item), so
`GET /v1/subscription_items/{id}` finds the subscription with one read, without a scan. The
create also bumps the customer's subscription counter and writes the customer (conditional on the
version read), so deleting a customer (`billing.customers.delete`) never misses a subscription
created meanwhile. The same transaction holds the subscription's creation invoice, finalized
(`billing.first_invoices`: Stripe's `subscription_create` invoice), numbered from the customer's
`next_invoice_sequence`; a customer changed since it was read is read again (`ATTEMPTS` times).

Periods are derived from `start_date`, `billing_cycle_anchor` and the interval at the instant of
the read, so they roll over without a background job; a canceled subscription keeps the period
it ended in. Items name their prices; a subscription is presented with the prices as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tally.billing import changes
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain import limits, periods, prorations
from tally.domain.listing import Page, Window, page_of
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.pricing import line_amount
from tally.domain.records import Customer, PendingItem, Price, Product, Subscription, SubscriptionItem
from tally.errors import Conflict, InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.presenters.subscriptions import SubscriptionView
from tally.presenters.subscriptions import subscription as present
from tally.settings import settings
from tally.store import claims, lists, objects
from tally.store.objects import Change, Counter, Stored, Unique, Write

ITEM = "subscription_item"  # claim: item id → its subscription
_ITEM_ID = re.compile(r"[A-Za-z0-9_]{1,255}")

MAX_ITEMS = 20
ATTEMPTS = 3
ANCHOR_SKEW_SECONDS = 300
MAX_QUANTITY = 10**12
MAX_TRIAL_DAYS = 730  # Stripe's limit
DAY = 86_400
STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)


@dataclass(frozen=True)
class ItemSpec:
    """One requested item; `param` is the request path of its price (for errors)."""

    price: str
    param: str
    quantity: int | None = None
    quantity_given: bool = False
    quantity_param: str = ""
    metadata: MetadataUpdate = None


# -- periods ------------------------------------------------------------------------------------
def current_period(subscription: Subscription, clock: Clock) -> tuple[int, int]:
    """The period containing the clock's instant, or the one a canceled subscription ended in."""
    s = subscription
    if s.ended_period_start is not None and s.ended_period_end is not None:
        return s.ended_period_start, s.ended_period_end
    return periods.current_period(
        s.start_date, s.billing_cycle_anchor, s.interval, s.interval_count, clock.now
    )


def prices_of(account: str, subscription: Subscription, clock: Clock) -> dict[str, Price]:
    return {pid: objects.get(account, pid, Price, clock) for pid in dict.fromkeys(subscription.price_ids)}


def view(account: str, subscription: Subscription, clock: Clock) -> SubscriptionView:
    if subscription.test_clock is not None:  # its current period is the one at the clock's time
        from tally.billing import test_clocks  # lazy: test_clocks reads subscriptions

        clock = test_clocks.frozen(account, subscription.test_clock, clock)
    return SubscriptionView(
        subscription, prices_of(account, subscription, clock), current_period(subscription, clock)
    )


# -- rules --------------------------------------------------------------------------------------
def _check_price(price: Price, param: str) -> None:
    if not price.active:
        raise invalid(param, f"The price {price.id} is inactive; this field only accepts active prices.")
    if price.recurring is None:
        raise invalid(
            param,
            f"The price {price.id} is a one_time price; subscriptions only accept prices with "
            "type=recurring.",
        )


def _check_together(prices: Sequence[Price]) -> None:
    first = prices[0]
    for i, price in enumerate(prices[1:], start=1):
        param = f"items[{i}][price]"
        if price.id in {p.id for p in prices[:i]}:
            raise invalid(param, f"The price {price.id} appears in more than one item.")
        if price.currency != first.currency:
            raise invalid(
                param,
                f"All prices of a subscription must share one currency: {price.id} is in "
                f"{price.currency}, {first.id} in {first.currency}.",
            )
        a, b = price.recurring, first.recurring
        assert a is not None and b is not None
        if (a.interval, a.interval_count) != (b.interval, b.interval_count):
            raise invalid(
                param,
                "All prices of a subscription must share one billing interval: "
                f"{price.id} is every {a.interval_count} {a.interval}, {first.id} every "
                f"{b.interval_count} {b.interval}.",
            )


def _check_anchor(anchor: int, created: int, interval: str, count: int) -> None:
    if anchor < created - ANCHOR_SKEW_SECONDS:
        raise invalid("billing_cycle_anchor", "billing_cycle_anchor cannot be in the past.")
    natural = periods.add_intervals(created, interval, count, 1)
    if anchor > natural:
        raise invalid(
            "billing_cycle_anchor",
            f"billing_cycle_anchor cannot be later than the next natural billing date ({natural}).",
        )


def _trial_end(created: int, anchor: int | None, end: int | None, days: int | None) -> int | None:
    """The trial's end (Stripe: `trial_end`, or `trial_period_days` from now), or None.

    The trial is the first period: the anchor moves to its end, so the first licensed charge is
    the invoice closing the trial (in advance for the first paid period)."""
    if end is None and days is None:
        return None
    if end is not None and days is not None:
        raise invalid("trial_period_days", "You may only specify one of trial_end and trial_period_days.")
    if anchor is not None:
        param = "trial_end" if end is not None else "trial_period_days"
        raise invalid(param, "A trial cannot be combined with billing_cycle_anchor in Tally.")
    if days is not None:
        return created + days * DAY
    assert end is not None
    if end <= created:
        raise invalid("trial_end", "trial_end must be in the future.")
    if end > created + MAX_TRIAL_DAYS * DAY:
        raise invalid("trial_end", f"trial_end can be at most {MAX_TRIAL_DAYS} days in the future.")
    return end


def _check_backdate(start: int, created: int, trial: int | None, interval: str, count: int) -> None:
    param = "backdate_start_date"
    if start >= created:
        raise invalid(param, "backdate_start_date must be in the past.")
    earliest = periods.add_intervals(created, interval, count, -1)
    if start < earliest:
        raise invalid(
            param,
            f"backdate_start_date can be at most one billing interval in the past in Tally ({earliest}).",
        )
    if trial is not None:
        raise invalid(param, "backdate_start_date cannot be combined with a trial in Tally.")


def check_cancel_at(cancel_at: int, now: int) -> None:
    """`cancel_at` lies in the future (any period: the one containing it is cut short there)."""
    if cancel_at <= now:
        raise invalid("cancel_at", "cancel_at must be in the future.")


def _backdated_items(
    account: str, s: Subscription, prices: Sequence[Price], clock: Clock
) -> tuple[PendingItem, ...]:
    """Stripe's backdating charge: each licensed item's time `[start_date, created)`, prorated
    over an imagined period of one interval starting at `start_date` (pending items of the span's
    close: the creation invoice, `billing.first_invoices`, closes that span and bills them)."""
    by_id = {p.id: p for p in prices}
    out = []
    for item in s.items:
        price = by_id[item.price]
        if price.metered or item.quantity is None:
            continue
        name = objects.get(account, price.product, Product, clock).name
        end = min(s.created, s.billing_cycle_anchor)  # the backdated span [start_date, end)
        p = prorations.backdated(price, item.quantity, name, s.start_date, end, s.interval, s.interval_count)
        if p.amount != 0:
            out.append(
                PendingItem(
                    new_id("ii"),
                    item.id,
                    price.id,
                    p.quantity,
                    p.amount,
                    p.period_start,
                    p.period_end,
                    p.description,
                    s.start_date,
                )
            )
    return tuple(out)


# -- use cases ----------------------------------------------------------------------------------
def create(
    account: str,
    customer_id: str,
    specs: Sequence[ItemSpec],
    clock: Clock,
    *,
    anchor: int | None = None,
    description: str | None = None,
    metadata: MetadataUpdate = None,
    trial_end: int | None = None,
    trial_period_days: int | None = None,
    backdate_start_date: int | None = None,
    cancel_at: int | None = None,
    cancel_at_period_end: bool = False,
) -> SubscriptionView:
    if not specs:
        raise InvalidRequest("Missing required param: items.", code="parameter_missing", param="items")
    customer = referenced(account, customer_id, Customer, "customer", clock)
    created = clock.now
    prices = []
    for spec in specs:
        price = referenced(account, spec.price, Price, spec.param, clock)
        _check_price(price, spec.param)
        if price.metered and spec.quantity_given:
            raise invalid(
                spec.quantity_param, "Quantity should not be specified where usage_type is metered."
            )
        prices.append(price)
    _check_together(prices)
    limits.check_licensed(
        [
            (
                line_amount(price.model, 1 if spec.quantity is None else spec.quantity),
                spec.quantity_param or "items",
            )
            for price, spec in zip(prices, specs, strict=True)
            if not price.metered
        ]
    )
    recurring = prices[0].recurring
    assert recurring is not None
    trial = _trial_end(created, anchor, trial_end, trial_period_days)
    if backdate_start_date is not None:
        _check_backdate(backdate_start_date, created, trial, recurring.interval, recurring.interval_count)
    anchor = trial if trial is not None else (created if anchor is None else anchor)
    if trial is None:
        _check_anchor(anchor, created, recurring.interval, recurring.interval_count)
    start = created if backdate_start_date is None else backdate_start_date
    if cancel_at is not None and cancel_at_period_end:
        raise invalid(
            "cancel_at", "You may only specify one of these parameters: cancel_at, cancel_at_period_end."
        )
    if cancel_at is not None:
        first_end = periods.current_period(
            start, anchor, recurring.interval, recurring.interval_count, created
        )[1]
        check_cancel_at(cancel_at, created)
        if cancel_at == first_end:  # the period end: Stripe's cancel_at_period_end
            cancel_at, cancel_at_period_end = None, True
    sub_id = new_id("sub")
    items = tuple(
        SubscriptionItem(
            id=new_id("si", 14),
            price=price.id,
            created=created,
            quantity=None if price.metered else (1 if spec.quantity is None else spec.quantity),
            metadata=apply_metadata({}, spec.metadata),
        )
        for price, spec in zip(prices, specs, strict=True)
    )
    subscription = Subscription(
        id=sub_id,
        customer=customer_id,
        created=created,
        livemode=settings().livemode,
        currency=prices[0].currency,
        interval=recurring.interval,
        interval_count=recurring.interval_count,
        billing_cycle_anchor=anchor,
        items=items,
        description=description,
        metadata=apply_metadata({}, metadata),
        test_clock=customer.test_clock,
        trial_end=trial,
        status="active" if trial is None else "trialing",
        backdated_start=backdate_start_date,
        cancel_at=cancel_at,
        cancel_at_period_end=cancel_at_period_end,
    )
    from tally.billing import first_invoices  # lazy: first_invoices → invoices → subscriptions

    backdated: tuple[PendingItem, ...] = ()
    if backdate_start_date is not None:  # the licensed time before now, billed by the first invoice
        backdated = _backdated_items(account, subscription, prices, clock)
    by_id = {p.id: p for p in prices}
    clash = Conflict("A subscription item id was taken at the same time; retry.")
    for attempt in range(ATTEMPTS):
        # the first invoice is numbered from the customer, written in the same transaction
        owner = _owner(account, customer_id, clock)
        issued = first_invoices.issue(account, subscription, by_id, backdated, owner.record, clock)
        stored = issued.subscription
        shown = SubscriptionView(stored, by_id, current_period(stored, clock))
        change = changes.created(
            stored,
            "customer.subscription.created",
            present(shown),
            [Unique(ITEM, item.id, clash) for item in items],
        )
        change.bump.append(Counter(customer_id, Subscription.OBJECT))
        writes = [Write(change), *first_invoices.writes(issued, owner)]
        try:
            objects.commit(account, writes, clock, aux=first_invoices.billed(account, issued))
        except Conflict:  # the customer changed (or went) since we read it: read it again
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return shown
    raise AssertionError("unreachable")


def _owner(account: str, customer_id: str, clock: Clock) -> Stored[Customer]:
    try:
        return objects.load(account, customer_id, Customer, clock, param="customer")
    except NotFound as exc:
        raise InvalidRequest(exc.message, code="resource_missing", param="customer") from None


def retrieve(account: str, subscription_id: str, clock: Clock) -> SubscriptionView:
    return view(account, objects.get(account, subscription_id, Subscription, clock), clock)


def canceled(account: str, stored: Stored[Subscription], clock: Clock, reason: str) -> Change:
    """The change ending a subscription now: status `canceled`, keeping the period it ended in."""
    before = stored.record
    start, end = current_period(before, clock)
    after = replace(
        before,
        status="canceled",
        canceled_at=clock.now,
        ended_at=clock.now,
        cancellation_reason=reason,
        ended_period_start=start,
        ended_period_end=end,
    )
    return changes.created(after, "customer.subscription.deleted", present(view(account, after, clock)))


def cancel(
    account: str, subscription_id: str, clock: Clock, reason: str = "cancellation_requested"
) -> SubscriptionView:
    """End a subscription now (Stripe's DELETE)."""
    stored = objects.load(account, subscription_id, Subscription, clock)
    if stored.record.status == "canceled":
        raise InvalidRequest(f"The subscription {subscription_id} is already canceled.", param="id")
    change = canceled(account, stored, clock, reason)
    objects.update(account, stored, change, clock)
    return view(account, change.record, clock)


def of_customer(account: str, customer_id: str, clock: Clock) -> list[str]:
    """Ids of every subscription of a customer, any status (by_customer index, page by page)."""
    ids: list[str] = []
    after = None
    while True:
        page = lists.list_records(
            account, Subscription, Window(limit=100, starting_after=after), clock, customer=customer_id
        )
        ids += [s.id for s in page.data]
        if not page.has_more:
            return ids
        after = ids[-1]


# -- subscription items ---------------------------------------------------------------------------
def item(account: str, item_id: str, clock: Clock) -> tuple[SubscriptionItem, SubscriptionView]:
    """One subscription item and the subscription it belongs to (404 when unknown)."""
    missing = NotFound("subscription_item", item_id)
    if not _ITEM_ID.fullmatch(item_id):
        raise missing  # no id of ours looks like this (and it could not be a key)
    owner = claims.owner_of(account, ITEM, item_id)
    if owner is None:
        raise missing
    try:
        subscription = objects.get(account, owner, Subscription, clock)
    except NotFound:
        raise missing from None
    found = next((i for i in subscription.items if i.id == item_id), None)
    if found is None:
        raise missing
    return found, view(account, subscription, clock)


def items(
    account: str, subscription_id: str, window: Window, clock: Clock
) -> tuple[Page[SubscriptionItem], SubscriptionView]:
    """A page of a subscription's items, in the subscription's order (`items.data`)."""
    shown = view(account, referenced(account, subscription_id, Subscription, "subscription", clock), clock)
    found = page_of(
        shown.subscription.items,
        window,
        lambda i: i.id,
        lambda cursor, param: NotFound("subscription_item", cursor, param=param),
    )
    return found, shown


def list_(
    account: str,
    window: Window,
    clock: Clock,
    *,
    customer: str | None = None,
    price: str | None = None,
    status: str | None = None,
    test_clock: str | None = None,
) -> Page[SubscriptionView]:
    tests: list[Callable[[Subscription], bool]] = []
    if customer is not None:
        tests.append(lambda s: s.customer == customer)
    if test_clock is not None:
        tests.append(lambda s: s.test_clock == test_clock)
    if price is not None:
        tests.append(lambda s: price in s.price_ids)
    if status is None:
        tests.append(lambda s: s.status != "canceled")
    elif status == "ended":
        tests.append(lambda s: s.status in ("canceled", "incomplete_expired"))
    elif status != "all":
        tests.append(lambda s: s.status == status)
    # One index: the customer's subscriptions, else the clock's, else the price's, else the status
    # partitions.
    any_of: list[tuple[str, str]] | None = None
    if customer is None and test_clock is not None:
        any_of = [("test_clock", test_clock)]
    elif customer is None and price is not None:
        any_of = [("price", price)]
    elif customer is None and status != "all":
        wanted = {
            None: [s for s in STATUSES if s not in ("canceled", "all", "ended")],
            "ended": ["canceled", "incomplete_expired"],
        }.get(status, [str(status)])
        any_of = [("status", s) for s in wanted]
    page = lists.list_records(
        account,
        Subscription,
        window,
        clock,
        customer=customer,
        where=lambda s: all(t(s) for t in tests),
        any_of=any_of,
    )
    return Page([view(account, s, clock) for s in page.data], page.has_more)
