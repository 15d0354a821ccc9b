"""Customers: create, update, delete, read.

Deleting a customer cancels its subscriptions first, as Stripe does (each gets
`customer.subscription.deleted`, status `canceled`, `cancellation_details.reason`
`cancellation_requested`), then deletes the customer:

- Active subscriptions are canceled in the customer's own transaction as far as its 100 actions
  allow (`transactions.actions` counts each change: the subscription, its event, their list-filter
  entries), at most `SUBSCRIPTIONS_WITH_CUSTOMER`.
- More are canceled first, as many per transaction as fit (at most
  `SUBSCRIPTIONS_PER_TRANSACTION`), and the customer is deleted last. Crash points: after any
  of those transactions, before the last one. Each leaves the customer in place with fewer
  active subscriptions, every change with its event; a retry of the DELETE lists the
  subscriptions again, skips the canceled ones and finishes the job.
- The customer's delete is conditional on its subscription counter (read before listing) and
  subscription creates check that the customer exists, so a subscription created meanwhile either
  makes the delete fail with a 409 (retry) or fails itself. The by_customer index is eventually
  consistent on AWS: when it shows fewer subscriptions than the counter, the delete answers 409.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tally.billing import changes, subscriptions
from tally.clock import Clock
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.records import Customer, Subscription
from tally.errors import Conflict
from tally.ids import new_id
from tally.presenters.customers import customer as present
from tally.settings import settings
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Guard, Write

# Fields a caller may set: name, email, description, phone (None clears).
FIELDS = ("name", "email", "description", "phone")
# A cancellation takes 7 actions (subscription, event, 3 event-type entries, status entry out and
# in); the customer's delete ≤ 6: 13 fit beside it, 14 alone.
SUBSCRIPTIONS_WITH_CUSTOMER = 13
SUBSCRIPTIONS_PER_TRANSACTION = 14
CANCELLATION_REASON = "cancellation_requested"  # Stripe's only reason for a canceled-on-request sub


def new(fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock) -> Change:
    """The change creating a customer (its record and `customer.created`), not yet written."""
    customer = Customer(
        id=new_id("cus", 14),
        created=clock.now,
        livemode=settings().livemode,
        invoice_prefix=new_id("x", 8)[2:].upper(),
        metadata=apply_metadata({}, metadata),
        **fields,
    )
    return changes.created(customer, "customer.created", present(customer))


def create(account: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock) -> Customer:
    change = new(fields, metadata, clock)
    objects.create(account, change, clock)
    return change.record  # type: ignore[no-any-return]


def retrieve(account: str, customer_id: str, clock: Clock) -> Customer:
    return objects.get(account, customer_id, Customer, clock)


def update(
    account: str, customer_id: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock
) -> Customer:
    stored = objects.load(account, customer_id, Customer, clock)
    before = stored.record
    after = replace(before, **fields, metadata=apply_metadata(before.metadata, metadata))
    change = changes.updated(after, "customer.updated", present(before), present(after))
    if change is None:
        return before
    objects.update(account, stored, change, clock)
    return after


def _cancellations(account: str, ids: list[str], clock: Clock) -> list[Write]:
    """The cancel writes of those subscriptions that are not canceled yet (read consistently)."""
    writes = []
    for subscription_id in ids:
        stored = objects.load(account, subscription_id, Subscription, clock)
        if stored.record.status != "canceled":
            writes.append(Write(subscriptions.canceled(account, stored, clock, CANCELLATION_REASON), stored))
    return writes


def delete(account: str, customer_id: str, clock: Clock) -> Customer:
    """Cancel the customer's subscriptions, then delete it (see the module docstring)."""
    stored = objects.load(account, customer_id, Customer, clock)
    counted = objects.count(account, customer_id, Subscription.OBJECT)  # before listing
    ids = subscriptions.of_customer(account, customer_id, clock)
    if len(ids) < counted:
        raise Conflict("The customer's subscriptions are still being indexed; retry.")
    pending = _cancellations(account, ids, clock)
    change = changes.created(stored.record, "customer.deleted", present(stored.record))
    raced = Conflict("A subscription was created for this customer at the same time; retry.")
    change.guards.append(Guard(customer_id, Subscription.OBJECT, counted, raced))
    last = Write(change, stored, delete=True)
    while len(pending) > SUBSCRIPTIONS_WITH_CUSTOMER or not transactions.fits([*pending, last]):
        n = min(SUBSCRIPTIONS_PER_TRANSACTION, len(pending))
        while n > 1 and not transactions.fits(pending[:n]):
            n -= 1
        batch, pending = pending[:n], pending[n:]
        transactions.commit(account, batch, clock)
    transactions.commit(account, [*pending, last], clock)
    return stored.record


def list_(account: str, window: Window, clock: Clock, *, email: str | None = None) -> Page[Customer]:
    if not email:
        return lists.list_records(account, Customer, window, clock)
    return lists.list_records(
        account, Customer, window, clock, where=lambda c: c.email == email, any_of=[("email", email)]
    )
