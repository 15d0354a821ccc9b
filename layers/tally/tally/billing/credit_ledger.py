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
  (`GrantBalance`), from three consistent reads (its grant list, then one BatchGetItem each for
  the grants and their remaining credits), whatever the customer's history.
- `record_expiries(account, customer, clock)` writes the `credits_expired` entries that are due
  (effective at each grant's `expires_at`), once each; the period close (`expire_grant`, from the
  due index) and a test clock's advance (`expiries_until`) call it at the expiry instant. A
  service action's grant (`CreditGrant.held`) covers the usage of its service interval, which its
  cadence invoices at the tick after the interval's end: its expiry is recorded only once that
  tick is billed and its invoice is no longer a draft (`settles_at`; docs/API.md, "Service
  actions' credit grants"); until then the close looks again when the cadence bills
  (`CreditGrant.recheck_at`).
- `remove_customer` removes a deleted test clock's customer's credits.
"""

from __future__ import annotations

from dataclasses import replace

from tally.clock import Clock
from tally.domain import credits
from tally.domain.cadence_billing import TICK_CLAIM
from tally.domain.cadences import Cadence, next_tick
from tally.domain.credits import EXPIRED, CreditBalanceTransaction, CreditGrant, GrantBalance
from tally.domain.listing import Window
from tally.domain.records import Invoice
from tally.errors import Conflict, NotFound
from tally.presenters.credits import related_transaction
from tally.presenters.credits import transaction as present
from tally.store import claims, lists, objects, transactions
from tally.store import credits as store
from tally.store.changes import Amount, Change, Stored, Write

CREATED = "billing.credit_balance_transaction.created"
THIN_CREATED = credits.THIN_TRANSACTION_CREATED
ATTEMPTS = 4
RECHECK_SECONDS = 60  # a held expiry whose invoice is still a draft: the next close run looks again


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
    """The customer's grants neither voided nor expired at `clock` (pending ones included) — and
    a service action's grant past its expiry until that is recorded (its interval's invoice may
    still take from it) —, each with what is left of it, oldest first; only those in `currency`
    when given. Consistent reads: a grant, debit or credit committed before the call is always
    seen."""
    index = store.index(account, customer)
    live = [s.record for s in store.grants(account, index.grants)]
    live = [
        g
        for g in live
        if (g.live(clock.now) or (g.held and g.voided_at is None and not g.expiry_recorded))
        and (currency is None or g.currency == currency)
    ]
    return balances(account, live)


def settles_at(account: str, g: CreditGrant, clock: Clock) -> int | None:
    """For a held grant past its expiry: None when its expiry may be recorded now — the first
    cadence tick at or after its `expires_at` is billed and that tick's invoice (if any) is no
    longer a draft, or the cadence will bill no more —, else when to look again."""
    assert g.billing_cadence is not None and g.expires_at is not None
    try:
        cadence = objects.get(account, g.billing_cadence, Cadence, clock)
    except NotFound:
        return None
    tick = next_tick(cadence, g.expires_at - 1)  # the first tick at or after the interval's end
    if cadence.billed_through is None or cadence.billed_through < tick:
        return cadence.bills_at  # None: canceled, never bills that tick
    owner = claims.owner_of(account, TICK_CLAIM, f"{cadence.id}@{tick}")
    if owner is None:
        return None  # the tick billed nothing
    try:
        inv = objects.get(account, owner, Invoice, clock)
    except NotFound:
        return None
    if inv.status != "draft":
        return None
    return max(inv.automatically_finalizes_at or 0, clock.now + RECHECK_SECONDS)


def _ended(account: str, g: CreditGrant, clock: Clock) -> bool:
    """Whether the grant's expiry (or void) is due to be recorded at `clock`."""
    if g.live(clock.now):
        return False
    if g.held and g.voided_at is None and not g.expiry_recorded:
        return settles_at(account, g, clock) is None
    return True


def record_expiries(account: str, customer: str, clock: Clock) -> list[CreditBalanceTransaction]:
    """Record the expiry of each of the customer's grants that expired by `clock.now`: its
    `credits_expired` entry of what was left (effective at its `expires_at`, the expiry
    instant), the grant marked `expiry_recorded` (out of the due index) and taken off the
    customer's list — one transaction per grant. Exactly once: the entry's id is derived from
    the grant, the grant's write is version-checked and the debit takes exactly what was read,
    so of two writers (the schedule, a test clock's advance, a reader) the second's transaction
    fails, and it re-reads and finds nothing left to do. Returns the entries this call wrote."""
    written: list[CreditBalanceTransaction] = []
    failures = 0
    while True:
        index = store.index(account, customer)
        ended = [s for s in store.grants(account, index.grants) if _ended(account, s.record, clock)]
        if not ended:
            return written
        try:
            done = _record_expiry(account, ended[0], index, clock)
        except Conflict:  # another writer recorded it (or spent from it) first: read again
            failures += 1
            if failures >= ATTEMPTS:
                raise
            continue
        written += [done] if done is not None else []


def expiries_until(account: str, customer: str, until: int) -> list[int]:
    """The instants (≤ `until`) at which the customer's listed grants expire and are not yet
    recorded: a test clock's advance records each at its instant (`billing.test_clocks`)."""
    index = store.index(account, customer)
    grants = [s.record for s in store.grants(account, index.grants)]
    return sorted(
        {
            g.expires_at
            for g in grants
            if g.expires_at is not None
            and g.expires_at <= until
            and g.voided_at is None
            and not g.expiry_recorded
        }
    )


def expire_grant(account: str, grant_id: str, clock: Clock) -> list[CreditBalanceTransaction]:
    """The period close's part (its due index names the grant): record the expiries due for the
    grant's customer (`record_expiries`). A grant gone or already recorded: nothing to do."""
    found = store.grants(account, [grant_id])
    if not found or found[0].record.expiry_recorded:
        return []
    written = record_expiries(account, found[0].record.customer, clock)
    _defer(account, grant_id, clock)
    return written


def _defer(account: str, grant_id: str, clock: Clock) -> None:
    """A held grant whose expiry must wait (`settles_at`): its due entry moves to when to look
    again (`recheck_at`), so the close does not send it every minute. Version-checked; a
    concurrent writer wins and the next close run decides again."""
    found = store.grants(account, [grant_id])
    if not found:
        return
    stored = found[0]
    g = stored.record
    if not g.held or g.expiry_recorded or g.voided_at is not None or g.live(clock.now):
        return
    again = settles_at(account, g, clock)
    if again is None or again == g.recheck_at:
        return
    try:
        transactions.commit(account, [Write(Change(replace(g, recheck_at=again), None, {}), stored)], clock)
    except Conflict:
        pass


def _record_expiry(
    account: str, stored: Stored[CreditGrant], index: store.Index, clock: Clock
) -> CreditBalanceTransaction | None:
    g = stored.record
    after = replace(g, expiry_recorded=True)
    kept = [i for i in index.grants if i != g.id]
    change = Change(after, None, {}, sides=[store.index_side(account, index, kept)])
    writes = [Write(change, stored)] if g.voided_at is None and not g.expiry_recorded else []
    if not writes:  # voided: already recorded (`credits_voided`); only the list is behind
        store.write_index(account, index, kept)
        return None
    b = balances(account, [g])[0]
    e = None
    if b.expiring(clock.now) > 0:
        assert g.expires_at is not None
        e = entry(g, EXPIRED, b.remaining, effective_at=g.expires_at, now=clock.now)
        writes.append(ledger_write(e, exactly=b.remaining))
    transactions.commit(account, writes, clock)
    return e


# -- a deleted test clock's customers ------------------------------------------------------------------
REMOVE_BATCH = 25  # records per transaction (with their amount items: ≤ 50 actions)


def remove_customer(account: str, customer: str, clock: Clock) -> None:
    """Remove the customer's grants, ledger entries, remaining credits and grant list, without
    events (deleting a test clock deletes everything of its customers, as Stripe does; the caller
    deletes the customer first). Transactions of at most `REMOVE_BATCH` records, ledger entries
    before grants and the list last: a crash between them leaves the rest, and a retry re-reads
    what is left (`by_customer`) and finishes."""
    for cls in (CreditBalanceTransaction, CreditGrant):
        while True:
            page = lists.list_records(account, cls, Window(limit=REMOVE_BATCH), clock, customer=customer)
            if not page.data:
                break
            writes: list[Write] = []
            aux = []
            for record in page.data:
                try:
                    stored = objects.load(account, record.id, cls, clock)
                except NotFound:  # removed a moment ago (the index lags): nothing to do
                    continue
                writes.append(Write(Change(stored.record, None, {}), stored, delete=True))
                if cls is CreditGrant:
                    aux.append(store.remaining_removal(account, record.id))
            if not writes:
                break
            transactions.commit(account, writes, clock, aux)
    store.remove_index(account, store.index(account, customer))
