"""Updating a subscription (`POST /v1/subscriptions/{id}`): fields, items, prorations.

Rules (Stripe's, where it has them):
- `description`, `metadata` and `cancel_at_period_end` are set as given; a canceled subscription
  only takes `metadata`.
- `items[n][id]` names an item of this subscription (400 naming the param otherwise); with it,
  `price` and/or `quantity` change the item, `deleted=true` removes it. Without an id,
  `items[n][price]` adds an item. The result obeys the create rules (one currency, one interval,
  a price once, `quantity` only on licensed prices, at least one item, at most 20).
- Licensed items changed, added or removed get Stripe's proration lines at the proration instant
  (`proration_date`, default now; it must lie in the current period): a credit for the unused
  time of what the item was, a charge for the remaining time of what it becomes
  (`tally.domain.prorations`). `proration_behavior`:
  - `create_prorations` (default): they become pending invoice items on the subscription, billed
    by the next invoice (`tally.billing.pending`, read by `billing.invoices.build`);
  - `none`: no proration lines;
  - `always_invoice`: an invoice (`billing_reason: subscription_update`, draft) is created now
    with them and every pending item not yet billed, in the update's transaction.
- Metered items are not prorated: an item whose price changes (or that is removed) keeps its
  usage up to the change under the old price (a `UsageSegment` billed by the next invoice); the
  new price counts usage from the change (`usage_since`). A metered item added mid-period counts
  from then.

One transaction (`transactions.commit`): the subscription Put (conditional on the version read, so a
period close running meanwhile makes one of the two retry), the claims of new item ids, the
`customer.subscription.updated` event with `previous_attributes`, and with `always_invoice` the
invoice and its `invoice.created` event. Crash points: before the commit nothing is written; the
commit is all or nothing; after it the update is done (a retry with the same `Idempotency-Key`
answers the stored result). An update that changes nothing visible writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tally.billing import account_settings, cancellations, changes, pending, trials
from tally.billing.references import referenced
from tally.billing.subscriptions import (
    ITEM,
    MAX_ITEMS,
    _check_price,
    _check_together,
    current_period,
    prices_of,
)
from tally.clock import Clock
from tally.domain import limits, prorations
from tally.domain.invoices import Period
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.pricing import line_amount
from tally.domain.records import (
    Invoice,
    PendingItem,
    Price,
    Product,
    Subscription,
    SubscriptionItem,
    UsageSegment,
)
from tally.errors import Conflict, InvalidRequest, invalid
from tally.ids import new_id
from tally.presenters.invoices import invoice as present_invoice
from tally.presenters.subscriptions import SubscriptionView
from tally.presenters.subscriptions import subscription as present
from tally.store import objects, transactions
from tally.store.changes import Change, Unique, Write

BEHAVIORS = ("create_prorations", "none", "always_invoice")
MAX_PENDING = 250  # pending proration items one subscription holds (Stripe caps an invoice's lines)


@dataclass(frozen=True)
class ItemChange:
    """One `items[n]` of an update; `path` is its request path (`items[0]`) for errors ("" when
    the item's own route sends it: `/v1/subscription_items`, whose params are top-level)."""

    path: str
    id: str | None = None
    price: str | None = None
    quantity: int | None = None
    quantity_given: bool = False
    deleted: bool = False
    metadata: MetadataUpdate = None
    clear_usage: bool = False  # a deleted metered item: its unbilled usage is not billed

    def param(self, name: str) -> str:
        """The request param `name` of this item (`items[0][price]`, or `price`)."""
        return f"{self.path}[{name}]" if self.path else name


@dataclass(frozen=True)
class Update:
    description: str | None = None
    description_given: bool = False
    metadata: MetadataUpdate = None
    cancel_at_period_end: bool | None = None
    items: Sequence[ItemChange] = ()
    proration_behavior: str = "create_prorations"
    proration_date: int | None = None
    trial_end: int | None = None  # a new trial end (`trials.NOW`: end the trial now)
    cancel_at: int | None = None
    cancel_at_given: bool = False  # `cancel_at=""` clears it


@dataclass(frozen=True)
class Updated:
    view: SubscriptionView
    invoice: Invoice | None = None


def _proration_instant(update: Update, period: tuple[int, int], clock: Clock) -> int:
    at = clock.now if update.proration_date is None else update.proration_date
    if not period[0] <= at < period[1]:
        raise invalid(
            "proration_date",
            f"proration_date must lie in the current period [{period[0]}, {period[1]}).",
        )
    return at


def _new_items(
    account: str, s: Subscription, update: Update, prices: dict[str, Price], clock: Clock
) -> tuple[list[SubscriptionItem], set[str]]:
    """The items after the update (in order: kept and changed, then added) and the removed ids."""
    by_id = {i.id: i for i in s.items}
    result = dict(by_id)
    added: list[SubscriptionItem] = []
    removed: set[str] = set()
    seen: set[str] = set()
    for ch in update.items:
        price = None
        if ch.price is not None:
            price = referenced(account, ch.price, Price, ch.param("price"), clock)
            prices[price.id] = price
        if ch.id is None:
            if price is None:
                raise InvalidRequest(
                    f"Missing required param: {ch.param('price')}.",
                    code="parameter_missing",
                    param=ch.param("price"),
                )
            if ch.deleted:
                raise invalid(ch.param("deleted"), "Only an existing item (with an id) can be deleted.")
            _check_price(price, ch.param("price"))
            if price.metered and ch.quantity_given:
                raise invalid(
                    ch.param("quantity"), "Quantity should not be specified where usage_type is metered."
                )
            added.append(
                SubscriptionItem(
                    id=new_id("si", 14),
                    price=price.id,
                    created=clock.now,
                    quantity=None if price.metered else (1 if ch.quantity is None else ch.quantity),
                    metadata=apply_metadata({}, ch.metadata),
                    usage_since=clock.now if price.metered else None,
                )
            )
            continue
        if ch.id not in by_id:
            raise invalid(ch.param("id"), f"The subscription {s.id} has no item {ch.id}.")
        if ch.id in seen:
            raise invalid(ch.param("id"), f"The item {ch.id} appears more than once in items.")
        seen.add(ch.id)
        old = by_id[ch.id]
        if ch.deleted:
            if price is not None or ch.quantity_given:
                raise invalid(ch.param("deleted"), "A deleted item takes no price or quantity.")
            removed.add(ch.id)
            del result[ch.id]
            continue
        new_price = prices[old.price] if price is None else price
        if price is not None and price.id != old.price:
            _check_price(price, ch.param("price"))
        if new_price.metered and ch.quantity_given:
            raise invalid(
                ch.param("quantity"), "Quantity should not be specified where usage_type is metered."
            )
        quantity = None
        if not new_price.metered:
            quantity = ch.quantity if ch.quantity_given else (old.quantity if old.quantity is not None else 1)
        switched = new_price.id != old.price
        result[ch.id] = replace(
            old,
            price=new_price.id,
            quantity=quantity,
            metadata=apply_metadata(dict(old.metadata), ch.metadata),
            usage_since=clock.now
            if switched and new_price.metered
            else (None if switched else old.usage_since),
        )
    return [*result.values(), *added], removed


def _check_items(items: list[SubscriptionItem], prices: dict[str, Price], s: Subscription) -> None:
    if not items:
        raise invalid("items", "A subscription must keep at least one item.")
    if len(items) > MAX_ITEMS:
        raise invalid("items", f"A subscription has at most {MAX_ITEMS} items.")
    chosen = [prices[i.price] for i in items]
    _check_together(chosen)
    first = chosen[0]
    assert first.recurring is not None
    if first.currency != s.currency or (first.recurring.interval, first.recurring.interval_count) != (
        s.interval,
        s.interval_count,
    ):
        raise invalid(
            "items",
            f"The prices must keep the subscription's currency ({s.currency}) and interval "
            f"(every {s.interval_count} {s.interval}).",
        )
    limits.check_licensed(
        [
            (line_amount(prices[i.price].model, i.quantity or 0), "items")
            for i in items
            if i.quantity is not None
        ]
    )


def _product_name(account: str, price: Price, names: dict[str, str], clock: Clock) -> str:
    if price.product not in names:
        names[price.product] = objects.get(account, price.product, Product, clock).name
    return names[price.product]


def _changes_of(
    account: str,
    s: Subscription,
    items: list[SubscriptionItem],
    prices: dict[str, Price],
    period: tuple[int, int],
    at: int,
    clock: Clock,
    cleared: frozenset[str] = frozenset(),
) -> tuple[list[PendingItem], list[UsageSegment]]:
    """The proration lines (licensed) and the usage segments (metered) of the item changes; a
    removed metered item in `cleared` leaves no segment (its unbilled usage is dropped)."""
    after = {i.id: i for i in items}
    names: dict[str, str] = {}
    lines: list[PendingItem] = []
    segments: list[UsageSegment] = []

    def add(p: prorations.Proration, item_id: str) -> None:
        if p.amount != 0:
            lines.append(
                PendingItem(
                    new_id("ii"),
                    item_id,
                    p.price,
                    p.quantity,
                    p.amount,
                    p.period_start,
                    p.period_end,
                    p.description,
                    at,
                )
            )

    for old in s.items:
        new = after.get(old.id)
        if new is not None and (new.price, new.quantity) == (old.price, old.quantity):
            continue
        price = prices[old.price]
        if price.metered:
            if old.id not in cleared:
                # an item subscribed with the subscription counts from its start (a backdated date too)
                segments.append(UsageSegment(old.id, old.price, old.usage_since or s.start_date, clock.now))
        elif old.quantity is not None:
            add(
                prorations.credit(
                    price, old.quantity, _product_name(account, price, names, clock), period, at
                ),
                old.id,
            )
    before = {i.id: i for i in s.items}
    for new in items:
        old = before.get(new.id)
        if old is not None and (new.price, new.quantity) == (old.price, old.quantity):
            continue
        price = prices[new.price]
        if not price.metered and new.quantity is not None:
            add(
                prorations.charge(
                    price, new.quantity, _product_name(account, price, names, clock), period, at
                ),
                new.id,
            )
    return lines, segments


def _invoice_now(
    account: str, s: Subscription, items: Sequence[PendingItem], prices: dict[str, Price], clock: Clock
) -> Invoice:
    """The `subscription_update` invoice billing `items` now."""
    lines = tuple(pending.line(p, prices[p.price]) for p in items)
    grace = account_settings.invoice_grace(account, clock)  # the draft finalizes on its own
    return pending.invoice_now(account, s, lines, Period(clock.now, clock.now), prices, clock, grace=grace)


def update(account: str, subscription_id: str, upd: Update, clock: Clock) -> Updated:
    stored = objects.load(account, subscription_id, Subscription, clock)
    s = stored.record
    if s.status == "canceled" and (
        upd.items
        or upd.description_given
        or upd.cancel_at_period_end is not None
        or upd.cancel_at_given
        or upd.trial_end is not None
    ):
        raise InvalidRequest(
            f"The subscription {s.id} is canceled: it can only update its metadata.", param="id"
        )
    period = current_period(s, clock)
    at = _proration_instant(upd, period, clock)
    prices = prices_of(account, s, clock)
    ends = cancellations.ending(
        s, upd.cancel_at_period_end, upd.cancel_at, upd.cancel_at_given, period, clock
    )
    trials.check(s, upd.trial_end, ends.cancel_at, clock)
    if upd.items and ends.cancel_at is not None:
        raise invalid(
            "items",
            "Tally does not change the items of a subscription with cancel_at set: clear cancel_at "
            '(cancel_at=""), change the items, then set it again.',
        )
    items, _removed = _new_items(account, s, upd, prices, clock)
    _check_items(items, prices, s)
    cleared = frozenset(ch.id for ch in upd.items if ch.clear_usage and ch.id is not None)
    lines, segments = _changes_of(account, s, items, prices, period, at, clock, cleared)
    ending_lines = cancellations.cancel_at_lines(account, s, items, prices, ends.cancel_at, period, at, clock)
    lines += ending_lines
    if upd.proration_behavior == "none" or s.trialing(period[1]):
        lines = ending_lines = []  # a trial is free: nothing to credit or charge
    credited = s.cancel_at_credited  # whether the time after `cancel_at` was credited
    if ends.cancel_at != s.cancel_at:
        credited = any(p.amount < 0 for p in ending_lines)
    waiting, old_segments = pending.unbilled(s)
    after = replace(
        s,
        items=tuple(items),
        description=upd.description if upd.description_given else s.description,
        metadata=apply_metadata(dict(s.metadata), upd.metadata),
        cancel_at_period_end=ends.at_period_end,
        cancel_at=ends.cancel_at,
        cancel_at_credited=credited,
        pending_items=(*waiting, *lines),
        usage_segments=(*old_segments, *segments),
    )
    invoice = None
    if upd.trial_end is not None:
        after, invoice = trials.changed(account, after, upd.trial_end, prices, clock)
    if invoice is None and upd.proration_behavior == "always_invoice" and after.pending_items:
        invoice = _invoice_now(account, after, after.pending_items, prices, clock)
        after = replace(after, pending_items=())
    if invoice is not None:
        after = replace(after, latest_invoice=invoice.id)
    if len(after.pending_items) > MAX_PENDING:
        raise invalid(
            "proration_behavior",
            f"The subscription would hold more than {MAX_PENDING} pending proration items; use "
            "proration_behavior=always_invoice or none.",
        )
    before_view = SubscriptionView(s, prices, period)
    after_view = SubscriptionView(after, prices, current_period(after, clock))
    change = changes.updated(
        after, "customer.subscription.updated", present(before_view), present(after_view)
    )
    if change is None:
        return Updated(before_view)
    clash = Conflict("A subscription item id was taken at the same time; retry.")
    old_ids = {i.id for i in s.items}
    change.claim = [Unique(ITEM, i.id, clash) for i in items if i.id not in old_ids]
    writes = [Write(change, stored)]
    if invoice is not None:
        created = Change(invoice, "invoice.created", present_invoice(invoice))
        created.claim = trials.claims(invoice, s)
        writes.append(Write(created))
    transactions.commit(account, writes, clock)
    return Updated(after_view, invoice)
