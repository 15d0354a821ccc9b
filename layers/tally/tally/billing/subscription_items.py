"""Subscription items on their own route (`/v1/subscription_items`): add one to a subscription,
change its price or quantity, delete it.

Each is ONE subscription update (`billing.subscription_changes.update`) naming one item, so
everything behaves exactly as `POST /v1/subscriptions/{id}` with `items[0][…]` does: the same
rules (one currency and interval, a price once, at least one item), the same prorations
(`proration_behavior` `create_prorations` | `none` | `always_invoice`, `proration_date`), the
same usage segments for metered items, the same `customer.subscription.updated` event, at the
subscription's clock (its test clock's frozen time, if any). `clear_usage=true` on a delete drops
a metered item's unbilled usage instead of billing it on the next invoice (Stripe's rule: only
for metered items).

Crash points: those of the update — its single transaction is all or nothing (nothing is written
before it), and a retry with the same `Idempotency-Key` replays the stored answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.billing import clocks, subscription_changes, subscriptions
from tally.billing.references import referenced
from tally.billing.subscription_changes import ItemChange, Update
from tally.clock import Clock
from tally.domain.metadata import MetadataUpdate
from tally.domain.records import Subscription, SubscriptionItem
from tally.errors import InvalidRequest, invalid
from tally.presenters.subscriptions import SubscriptionView


@dataclass(frozen=True)
class Proration:
    behavior: str = "create_prorations"
    date: int | None = None


@dataclass(frozen=True)
class Shown:
    """An item as it is after the change, with its subscription (for the presenter)."""

    item: SubscriptionItem
    view: SubscriptionView


def _owner(account: str, item_id: str, clock: Clock) -> str:
    """The subscription holding `item_id` (404 `subscription_item` when none does)."""
    return subscriptions.item(account, item_id, clock)[1].subscription.id


def _apply(
    account: str, subscription_id: str, change: ItemChange, proration: Proration, clock: Clock
) -> SubscriptionView:
    at = clocks.clock_for_subscription(account, subscription_id, clock)
    upd = Update(items=(change,), proration_behavior=proration.behavior, proration_date=proration.date)
    try:
        return subscription_changes.update(account, subscription_id, upd, at).view
    except InvalidRequest as exc:
        # the update's rules name `items…` (the subscription's params): here the item's own are top-level
        if exc.param is not None and exc.param.startswith("items"):
            exc.param = "price" if change.price is not None else "id"
        raise


def _found(view: SubscriptionView, item_id: str) -> Shown:
    item = next(i for i in view.subscription.items if i.id == item_id)
    return Shown(item, view)


def create(
    account: str,
    subscription_id: str,
    price: str,
    quantity: int | None,
    metadata: MetadataUpdate,
    proration: Proration,
    clock: Clock,
) -> Shown:
    """Add an item (the price once per subscription; `quantity` on licensed prices only)."""
    change = ItemChange("", None, price, quantity, quantity is not None, metadata=metadata)
    before = {i.id for i in referenced(account, subscription_id, Subscription, "subscription", clock).items}
    view = _apply(account, subscription_id, change, proration, clock)
    added = [i for i in view.subscription.items if i.id not in before]
    if not added:  # the update wrote nothing (it cannot: a new item always changes the subscription)
        raise RuntimeError("the new item is missing from the updated subscription")
    return Shown(added[0], view)


def update(
    account: str,
    item_id: str,
    price: str | None,
    quantity: int | None,
    metadata: MetadataUpdate,
    proration: Proration,
    clock: Clock,
) -> Shown:
    """Change an item's price and/or quantity (prorated) or metadata."""
    subscription_id = _owner(account, item_id, clock)
    change = ItemChange("", item_id, price, quantity, quantity is not None, metadata=metadata)
    return _found(_apply(account, subscription_id, change, proration, clock), item_id)


def delete(account: str, item_id: str, clear_usage: bool, proration: Proration, clock: Clock) -> str:
    """Remove an item (a subscription keeps at least one); returns its id."""
    found, shown = subscriptions.item(account, item_id, clock)
    if clear_usage and not shown.prices[found.price].metered:
        raise invalid("clear_usage", "clear_usage is only allowed for a metered item (usage_type=metered).")
    if len(shown.subscription.items) == 1:
        raise invalid(
            "id",
            f"The subscription {shown.subscription.id} has no other item: a subscription keeps at "
            "least one item (cancel it with DELETE /v1/subscriptions/{id} instead).",
        )
    change = ItemChange("", item_id, deleted=True, clear_usage=clear_usage)
    _apply(account, shown.subscription.id, change, proration, clock)
    return item_id
