"""Subscriptions: the rules of their items and prices, reading, listing and canceling one.

Creating one (with its creation invoice) is `tally.billing.subscription_creation`, above the
invoices; updating one is `tally.billing.subscription_changes`.

Each item id is claimed for its subscription in the create transaction (a small claim item,
`ITEM`), so `GET /v1/subscription_items/{id}` finds the subscription with one read, without a
scan.

Periods are derived from `start_date`, `billing_cycle_anchor` and the interval at the instant of
the read, so they roll over without a background job; a canceled subscription keeps the period
it ended in. Items name their prices; a subscription is presented with the prices as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tally.billing import changes, clocks
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain import periods
from tally.domain.listing import Page, Window, page_of
from tally.domain.metadata import MetadataUpdate
from tally.domain.records import Price, Subscription, SubscriptionItem
from tally.errors import InvalidRequest, NotFound, invalid
from tally.presenters.subscriptions import SubscriptionView
from tally.presenters.subscriptions import subscription as present
from tally.store import claims, lists, objects
from tally.store.changes import Change, Stored

ITEM = "subscription_item"  # claim: item id → its subscription
_ITEM_ID = re.compile(r"[A-Za-z0-9_]{1,255}")

MAX_ITEMS = 20
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
    """The subscription's prices by id: ONE BatchGetItem (NotFound as `objects.get` for a missing one)."""
    return objects.get_many(
        account, [(pid, Price, None) for pid in dict.fromkeys(subscription.price_ids)], clock
    )


def view(account: str, subscription: Subscription, clock: Clock) -> SubscriptionView:
    if subscription.test_clock is not None:  # its current period is the one at the clock's time
        clock = clocks.frozen(account, subscription.test_clock, clock)
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


def check_cancel_at(cancel_at: int, now: int) -> None:
    """`cancel_at` lies in the future (any period: the one containing it is cut short there)."""
    if cancel_at <= now:
        raise invalid("cancel_at", "cancel_at must be in the future.")


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
