"""The customer balance (Stripe's, not billing credits): `customer.balance` and its ledger,
`/v1/customers/{id}/balance_transactions` (`customer_balance_transaction`, `cbtxn_…`).

The balance changes in three ways, each ONE transaction holding the customer Put (conditional on
the version read), its `customer.updated` event and the balance transaction Put (a new id):

- `create`: an adjustment through the API (`type: adjustment`);
- `settle`, inside the transaction that finalizes an invoice (`billing.lifecycle`, and the
  creation invoice finalized with its subscription, `billing.first_invoices`): the balance meets
  the invoice's total (`tally.domain.balances`: credit is consumed, a debit is added, a negative
  total becomes credit — never lost) → `applied_to_invoice`, `starting_balance`, `ending_balance`,
  `amount_due`;
- `unapply`, inside the transaction that voids an invoice: what it took from the balance goes back
  (`unapplied_from_invoice`).

Exactly once: the customer Put is version-checked, so of two writers that read the same balance
(two invoices finalizing at once, an adjustment beside a finalization) one commits and the other's
transaction is cancelled; it re-reads the customer and applies to the new balance. A retried
finalization finds the invoice no longer a draft (its own version check), so an invoice meets the
balance once; a crash before or inside the transaction writes nothing.

One currency (Stripe's rule): a customer's `currency` is set by its first subscription (written in
the create's transaction) or balance transaction; a subscription or adjustment in another currency
is refused (`check_currency`), so the balance is always in the currency of the invoices it meets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tally.billing import changes
from tally.clock import Clock
from tally.domain import balances
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.records import Customer, CustomerBalanceTransaction, Invoice
from tally.errors import Conflict, NotFound, invalid
from tally.ids import new_id
from tally.presenters.customers import customer as present_customer
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Stored, Write

ADJUSTMENT = "adjustment"
APPLIED = "applied_to_invoice"
UNAPPLIED = "unapplied_from_invoice"
LABEL = "customer_balance_transaction"
ATTEMPTS = 3


def check_currency(customer: Customer, currency: str, param: str) -> None:
    """400 naming `param` when the customer is already charged in another currency (Stripe's)."""
    if customer.currency is not None and customer.currency != currency:
        raise invalid(
            param,
            f"You cannot combine currencies on a single customer. This customer has had a subscription "
            f"or balance transaction in {customer.currency}, but you are trying to use {currency}.",
        )


def _transaction(
    customer: Customer, amount: int, currency: str, kind: str, now: int, **fields: object
) -> CustomerBalanceTransaction:
    return CustomerBalanceTransaction(
        id=new_id("cbtxn"),
        customer=customer.id,
        created=now,
        livemode=customer.livemode,
        amount=amount,
        currency=currency,
        ending_balance=customer.balance + amount,
        type=kind,
        **fields,  # type: ignore[arg-type]
    )


def written(transaction: CustomerBalanceTransaction | None) -> list[Write]:
    """The Put of a new balance transaction (none: nothing), for the caller's transaction. Stripe
    sends no event of its own for it: `customer.updated` shows the balance moving."""
    return [] if transaction is None else [Write(Change(transaction, None, {}))]


# -- an invoice meets the balance -------------------------------------------------------------------
@dataclass(frozen=True)
class Settled:
    """A finalized invoice after the balance applied, the customer after it, and the ledger entry."""

    invoice: Invoice
    customer: Customer
    transaction: CustomerBalanceTransaction | None


def settle(inv: Invoice, customer: Customer, now: int, credits: int = 0) -> Settled:
    """The invoice being finalized (`total` computed before billing credits) met by `credits`
    (what credit grants cover, `tally.billing.credit_application`; the invoice's `total` becomes
    `total − credits`) and then by the customer's balance as read now: Stripe's `starting_balance`,
    `ending_balance`, `amount_due` (`tally.domain.balances`). A customer without a currency takes
    the invoice's. Only a customer invoiced in two currencies before the currency rule existed can
    differ: its balance then stays apart (nothing applied, a negative total is due 0 as before)."""
    if customer.currency not in (None, inv.currency):
        due = max(inv.total - credits, 0)
        kept = replace(
            inv,
            total=inv.total - credits,
            starting_balance=0,
            ending_balance=0,
            amount_due=due,
            amount_remaining=due,
        )
        return Settled(kept, customer, None)
    # billing credits apply before the balance (`domain.balances.apply`)
    applied = balances.apply(inv.total, customer.balance, credits=credits)
    after = replace(
        inv,
        total=inv.total - credits,
        starting_balance=applied.starting_balance,
        ending_balance=applied.ending_balance,
        amount_due=applied.amount_due,
        amount_remaining=applied.amount_due - inv.amount_paid,
    )
    txn = None
    if applied.amount != 0:
        txn = _transaction(customer, applied.amount, inv.currency, APPLIED, now, invoice=inv.id)
    owner = replace(customer, balance=applied.ending_balance, currency=customer.currency or inv.currency)
    return Settled(after, owner, txn)


def unapply(inv: Invoice, customer: Customer, now: int) -> tuple[Customer, CustomerBalanceTransaction] | None:
    """What voiding `inv` gives back to the balance (Stripe's `unapplied_from_invoice`): the
    customer after it and the ledger entry, or None when the invoice left the balance alone."""
    if inv.ending_balance is None or inv.ending_balance == inv.starting_balance:
        return None
    amount = inv.starting_balance - inv.ending_balance
    txn = _transaction(customer, amount, inv.currency, UNAPPLIED, now, invoice=inv.id)
    return replace(customer, balance=balances.adjusted(customer.balance, amount)), txn


def customer_change(before: Customer, after: Customer) -> Change:
    """`customer.updated` for a customer whose balance (or sequence) moved."""
    change = changes.updated(after, "customer.updated", present_customer(before), present_customer(after))
    assert change is not None, "the caller changed a presented field"
    return change


# -- the API ----------------------------------------------------------------------------------------
def _customer(account: str, customer_id: str, clock: Clock) -> Stored[Customer]:
    return objects.load(account, customer_id, Customer, clock)


def create(
    account: str,
    customer_id: str,
    clock: Clock,
    *,
    amount: int,
    currency: str,
    description: str | None = None,
    metadata: MetadataUpdate = None,
) -> CustomerBalanceTransaction:
    """`POST /v1/customers/{id}/balance_transactions`: an adjustment of the balance by `amount`
    (negative: a credit), in the customer's currency (set to `currency` when it has none)."""
    if amount == 0:
        raise invalid("amount", "The amount of a balance transaction must not be 0.")
    for attempt in range(ATTEMPTS):
        stored = _customer(account, customer_id, clock)
        before = stored.record
        check_currency(before, currency, "currency")
        balance = balances.adjusted(before.balance, amount)
        txn = _transaction(
            before,
            amount,
            currency,
            ADJUSTMENT,
            clock.now,
            description=description,
            metadata=apply_metadata({}, metadata),
        )
        after = replace(before, balance=balance, currency=currency)
        try:
            transactions.commit(
                account, [Write(customer_change(before, after), stored), *written(txn)], clock
            )
        except Conflict:  # the customer changed since we read it (an invoice finalized): again
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return txn
    raise AssertionError("unreachable")


def _owned(account: str, customer_id: str, txn_id: str, clock: Clock) -> Stored[CustomerBalanceTransaction]:
    _customer(account, customer_id, clock)  # 404 for an unknown (or deleted) customer
    stored = objects.load(account, txn_id, CustomerBalanceTransaction, clock, label=LABEL)
    if stored.record.customer != customer_id:
        raise NotFound(LABEL, txn_id)
    return stored


def retrieve(account: str, customer_id: str, txn_id: str, clock: Clock) -> CustomerBalanceTransaction:
    return _owned(account, customer_id, txn_id, clock).record


_UNSET = object()


def update(
    account: str,
    customer_id: str,
    txn_id: str,
    clock: Clock,
    *,
    description: object = _UNSET,
    metadata: MetadataUpdate = None,
) -> CustomerBalanceTransaction:
    """`POST …/balance_transactions/{id}`: only `description` and `metadata` change (Stripe's)."""
    stored = _owned(account, customer_id, txn_id, clock)
    before = stored.record
    after = replace(
        before,
        description=before.description if description is _UNSET else description,  # type: ignore[arg-type]
        metadata=apply_metadata(before.metadata, metadata),
    )
    if after != before:
        objects.update(account, stored, Change(after, None, {}), clock)  # version-checked (409)
    return after


def list_(
    account: str, customer_id: str, window: Window, clock: Clock, *, invoice: str | None = None
) -> Page[CustomerBalanceTransaction]:
    """The customer's ledger, newest first (`by_customer`); `invoice` keeps those of one invoice."""
    _customer(account, customer_id, clock)
    where = None if invoice is None else (lambda t: t.invoice == invoice)
    return lists.list_records(
        account, CustomerBalanceTransaction, window, clock, customer=customer_id, where=where, label=LABEL
    )
