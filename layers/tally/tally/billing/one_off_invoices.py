"""One-off invoices: `POST /v1/invoices` (Stripe's `billing_reason: manual`, no subscription).

A one-off invoice is an `Invoice` record like a subscription's, so it joins the same lifecycle
(`tally.billing.lifecycle`: finalize — numbered from the customer's sequence, the customer balance
applied — pay out of band, void, mark uncollectible, update), the same events and the same due
index: a draft with `auto_advance` finalizes at `automatically_finalizes_at` (created + the
account's grace period, Stripe's one hour by default).

Stripe's defaults for invoices created through the API: `auto_advance` false,
`collection_method` `charge_automatically`, `pending_invoice_items_behavior` `exclude` (since API
version 2022-08-01), `currency` the customer's (else the oldest pending item's when including,
else `usd`). `send_invoice` takes `days_until_due` (default 30) or `due_date`; `due_date` is
then set when the draft is created.

With `include`, the customer's pending items in the invoice's currency are swept onto it in the
creating transaction (`tally.billing.pending_items`, at most `pending_items.SWEEP_LIMIT`): the
invoice Put (new id), `invoice.created`, and each item's version-checked Put. A crash before or
inside it writes nothing; after it, a retry without the Idempotency-Key creates a second invoice,
which finds the items already taken. An item changed concurrently cancels the transaction: we
re-read and re-decide.
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.billing import account_settings, balances, pending_items
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.records import Customer, Invoice
from tally.errors import Conflict, InvalidRequest, invalid
from tally.ids import new_id
from tally.presenters.invoices import invoice as present
from tally.store import transactions
from tally.store.changes import Change, Exists, Write

ATTEMPTS = 3
DAY = 86_400
DEFAULT_DAYS_UNTIL_DUE = 30  # Stripe's default payment terms for `send_invoice`
DEFAULT_CURRENCY = "usd"
COLLECTION_METHODS = ("charge_automatically", "send_invoice")
BEHAVIORS = ("exclude", "include")
MAX_DAYS_UNTIL_DUE = 3_650  # ten years
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z


@dataclass(frozen=True)
class OneOff:
    """What `POST /v1/invoices` asked for (parsed by the api)."""

    customer: str
    currency: str | None = None
    collection_method: str | None = None
    days_until_due: int | None = None
    due_date: int | None = None
    auto_advance: bool | None = None
    pending_invoice_items_behavior: str | None = None
    description: str | None = None
    metadata: MetadataUpdate = None
    id: str | None = None  # Tally-internal: a derived id (an automatic top-up's invoice, `topups`)


def _due_date(ask: OneOff, method: str, now: int) -> int | None:
    if method != "send_invoice":
        if ask.days_until_due is not None:
            raise invalid(
                "days_until_due", "days_until_due can only be set when collection_method is send_invoice."
            )
        if ask.due_date is not None:
            raise invalid("due_date", "due_date can only be set when collection_method is send_invoice.")
        return None
    if ask.days_until_due is not None and ask.due_date is not None:
        raise invalid("due_date", "You may only specify one of days_until_due and due_date.")
    if ask.due_date is not None:
        if ask.due_date < now:
            raise invalid("due_date", "due_date must be in the future.")
        return ask.due_date
    days = DEFAULT_DAYS_UNTIL_DUE if ask.days_until_due is None else ask.days_until_due
    return now + days * DAY


def _currency(account: str, ask: OneOff, customer: Customer, include: bool, clock: Clock) -> str:
    if ask.currency is not None:
        balances.check_currency(customer, ask.currency, "currency")
        return ask.currency
    if customer.currency is not None:
        return customer.currency
    if include:
        oldest = pending_items.pending(account, customer.id, None, clock, limit=1)
        if oldest:
            return oldest[0].record.currency
    return DEFAULT_CURRENCY


def create(account: str, ask: OneOff, clock: Clock) -> Invoice:
    """A draft one-off invoice for `ask.customer`, with `invoice.created` (module doc)."""
    method = ask.collection_method or "charge_automatically"
    include = (ask.pending_invoice_items_behavior or "exclude") == "include"
    due_date = _due_date(ask, method, clock.now)

    def step() -> Invoice:
        customer = referenced(account, ask.customer, Customer, "customer", clock)
        currency = _currency(account, ask, customer, include, clock)
        # the draft shows the balance it would meet now, as a subscription's draft does
        balance = customer.balance if customer.currency in (None, currency) else 0
        inv = Invoice(
            id=ask.id or new_id("in"),
            customer=customer.id,
            subscription=None,
            created=clock.now,
            livemode=customer.livemode,
            currency=currency,
            period_start=clock.now,
            period_end=clock.now,
            lines=(),
            subtotal=0,
            total=0,
            amount_due=0,
            amount_remaining=0,
            starting_balance=balance,
            billing_reason="manual",
            customer_email=customer.email,
            customer_name=customer.name,
            customer_phone=customer.phone,
            test_clock=customer.test_clock,
            description=ask.description,
            metadata=apply_metadata({}, ask.metadata),
            auto_advance=bool(ask.auto_advance),
            automatically_finalizes_at=clock.now + account_settings.invoice_grace(account, clock),
            collection_method=method,
            due_date=due_date,
        )
        inv = pending_items.with_lines(inv, ())
        gone = InvalidRequest(f"No such customer: '{customer.id}'", code="resource_missing", param="customer")
        base = Change(inv, "invoice.created", present(inv), requires=[Exists(customer.id, gone)])
        writes: list[Write] = []
        if include:
            room = transactions.MAX_ACTIONS - transactions.actions(Write(base))
            inv, writes = pending_items.sweep(account, inv, clock, room=room)
        created = Change(inv, "invoice.created", present(inv), requires=[Exists(customer.id, gone)])
        transactions.commit(account, [Write(created), *writes], clock)
        return inv

    for attempt in range(ATTEMPTS):
        try:
            return step()
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
