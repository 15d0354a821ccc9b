"""The credit ledger (`billing.credit_balance_transaction`) and what is left of each grant: the
functions every writer of billing credits shares (grants here and in `credit_grants`, applications
at finalization and their reinstatement at void in the finalization code).

- `entry` builds a ledger entry; its id is derived from (grant, type, what it is about), so the same
  entry written twice fails the second conditional Put (`tally.domain.credits.ledger_id`).
- `ledger_write(entry)` is the `Write` to put in the caller's transaction (`transactions.commit`):
  the entry, its `billing.credit_balance_transaction.created` event and thin
  `v1.billing.credit_balance_transaction.created` event, and the move of the grant's remaining
  credits — a debit only if at least its amount is left (else the whole transaction fails with
  `Exhausted`, a 409: re-read and apply again). So two finalizations can never spend one credit twice.
- `grants_of(account, customer, clock)` gives the customer's live grants with what is left of each
  (`GrantBalance`), from two consistent reads (its grant list, then one BatchGetItem each).
- `record_expiries(account, customer, clock)` writes the `credits_expired` entries that are due
  (effective at each grant's `expires_at`), once each.
"""

from __future__ import annotations

from tally.clock import Clock
from tally.domain import credits
from tally.domain.credits import EXPIRED, CreditBalanceTransaction, CreditGrant, GrantBalance
from tally.errors import Conflict
from tally.presenters.credits import related_transaction
from tally.presenters.credits import transaction as present
from tally.store import credits as store
from tally.store import transactions
from tally.store.changes import Amount, Change, Write

CREATED = "billing.credit_balance_transaction.created"
THIN_CREATED = "v1.billing.credit_balance_transaction.created"
ATTEMPTS = 4


class Exhausted(Conflict):
    """A debit found less left of its grant than it takes (another writer spent it first)."""

    def __init__(self, grant_id: str) -> None:
        super().__init__(
            f"The credit grant {grant_id} has fewer credits left than this change takes; retry.",
            code="credit_grant_exhausted",
        )


def entry(
    grant: CreditGrant,
    kind: str,
    amount: int,
    *,
    effective_at: int,
    now: int,
    invoice: str | None = None,
    invoice_line_item: str | None = None,
    about: tuple[str, ...] = (),
) -> CreditBalanceTransaction:
    """A ledger entry of `grant`: `kind` (`credits_applied`, …) of `amount` (> 0) minor units,
    effective at `effective_at`, written at `now`. Its id is derived from (grant, kind, `about`):
    pass what makes the entry unique (an applied entry: the invoice and its line)."""
    if amount <= 0:
        raise ValueError("a ledger entry moves a positive amount")
    return CreditBalanceTransaction(
        id=credits.ledger_id(grant.id, kind, *about),
        created=now,
        livemode=grant.livemode,
        customer=grant.customer,
        credit_grant=grant.id,
        currency=grant.currency,
        type=credits.side_of(kind),
        kind=kind,
        amount=amount,
        effective_at=effective_at,
        test_clock=grant.test_clock,
        invoice=invoice,
        invoice_line_item=invoice_line_item,
    )


def ledger_write(e: CreditBalanceTransaction, *, exactly: int | None = None, start: bool = False) -> Write:
    """The Write of ledger entry `e` for the caller's transaction: the entry, its events and the
    move of its grant's remaining credits by `e.signed` (a debit needs that much left: else
    `Exhausted`). `exactly`: the remaining credits must still be this figure (a debit taking all
    that is left). `start`: the grant is new and its remaining credits start at `e.amount`."""
    shown = present(e)
    move = Amount(e.credit_grant, store.REMAINING, e.signed, Exhausted(e.credit_grant), exactly, start)
    change = Change(e, CREATED, shown, thin=[(THIN_CREATED, related_transaction(e.id))], amounts=[move])
    return Write(change)


def balances(account: str, grants: list[CreditGrant]) -> list[GrantBalance]:
    """Each grant with what is left of it (one BatchGetItem)."""
    left = store.remaining(account, [g.id for g in grants])
    return [GrantBalance(g, left.get(g.id, 0)) for g in grants]


def grants_of(
    account: str, customer: str, clock: Clock, *, currency: str | None = None
) -> list[GrantBalance]:
    """The customer's grants neither voided nor expired at `clock` (pending ones included), each
    with what is left of it, oldest first; only those in `currency` when given. Consistent reads:
    a grant, debit or credit committed before the call is always seen."""
    index = store.index(account, customer)
    live = [s.record for s in store.grants(account, index.grants)]
    live = [g for g in live if g.live(clock.now) and (currency is None or g.currency == currency)]
    return balances(account, live)


def record_expiries(account: str, customer: str, clock: Clock) -> list[CreditBalanceTransaction]:
    """Write the `credits_expired` entry of each of the customer's grants that expired by
    `clock.now` with credits left (effective at its `expires_at`, the expiry instant), and take
    expired grants off the customer's list: one transaction per grant (the entry, its events, the
    debit of exactly what was read as left, the list). Exactly once: the entry's id is derived
    from the grant, and of two writers the second finds its conditions failed, re-reads and finds
    nothing left to do. Returns the entries this call wrote."""
    written: list[CreditBalanceTransaction] = []
    failures = 0
    while True:
        index = store.index(account, customer)
        ended = [s.record for s in store.grants(account, index.grants) if not s.record.live(clock.now)]
        if not ended:
            return written
        b = balances(account, ended[:1])[0]
        kept = [i for i in index.grants if i != b.grant.id]
        try:
            if b.expiring(clock.now) > 0:
                w = _expiry(b, clock.now)
                w.change.sides.append(store.index_side(account, index, kept))
                transactions.commit(account, [w], clock)
                written.append(w.change.record)
            else:
                store.write_index(account, index, kept)
        except Conflict:  # another writer recorded it (or spent from it) first: read again
            failures += 1
            if failures >= ATTEMPTS:
                raise


def _expiry(b: GrantBalance, now: int) -> Write:
    g = b.grant
    assert g.expires_at is not None
    e = entry(g, EXPIRED, b.remaining, effective_at=g.expires_at, now=now)
    return ledger_write(e, exactly=b.remaining)
