"""Creating a subscription (`POST /v1/subscriptions`) with its creation invoice.

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
"""

from __future__ import annotations

from collections.abc import Sequence

from tally.billing import changes, first_invoices
from tally.billing.references import referenced
from tally.billing.subscriptions import (
    DAY,
    ITEM,
    MAX_TRIAL_DAYS,
    ItemSpec,
    _check_price,
    _check_together,
    check_cancel_at,
    current_period,
)
from tally.clock import Clock
from tally.domain import limits, periods, prorations
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.pricing import line_amount
from tally.domain.records import Customer, PendingItem, Price, Product, Subscription, SubscriptionItem
from tally.errors import Conflict, InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.presenters.subscriptions import SubscriptionView
from tally.presenters.subscriptions import subscription as present
from tally.settings import settings
from tally.store import objects, transactions
from tally.store.changes import Counter, Stored, Unique, Write

ATTEMPTS = 3
ANCHOR_SKEW_SECONDS = 300


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
        check_cancel_at(cancel_at, created, first_end)
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
            transactions.commit(account, writes, clock, aux=first_invoices.billed(account, issued))
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
