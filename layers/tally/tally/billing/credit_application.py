"""Billing credits met by an invoice: applied when it finalizes, reinstated when it is voided.

- `apply` (inside the transaction that finalizes an invoice, `tally.billing.lifecycle`): the
  customer's grants in the invoice's currency and what is left of each (consistent reads:
  `credit_ledger.grants_of`), the allocation of `tally.domain.credit_application` (Stripe's order,
  lines covered in order, at most the invoice's positive total), and for each (grant, line) a
  `credits_applied` ledger entry with its events. Each grant's remaining credits move once, by
  what the invoice takes from it, on the condition that at least that much is left
  (`credit_ledger.Exhausted`, a 409). The invoice's lines carry the entries (`LineCredit`:
  Stripe's `pretax_credit_amounts`); its `total` falls by their sum (`balances.settle`).
- `reinstated` (inside the transaction that voids it): one `credits_application_invoice_voided`
  credit per entry the invoice took, moving the grant's remaining credits back; for a grant
  expired (or voided) by then, a debit of the same amount at once (`credits_expired` /
  `credits_voided`), and its remaining credits do not move.

Exactly once: ledger entry ids are derived from (grant, type, invoice, line), so a retried or
concurrent writer fails the entry's conditional Put; the invoice is version-checked (a second
finalization finds it no longer a draft), and so is its customer, so two finalizations of one
customer's invoices are serialized; the conditional debit keeps any other writer (an expiry
being recorded) from being overdrawn. A conflict re-reads and re-allocates (`lifecycle._retrying`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tally.billing import credit_ledger
from tally.clock import Clock
from tally.domain import credit_application as rules
from tally.domain.credits import (
    APPLIED,
    EXPIRED,
    INVOICE_VOIDED,
    METERED,
    VOIDED,
    CreditBalanceTransaction,
    CreditGrant,
    GrantBalance,
)
from tally.domain.records import METERED as METERED_USAGE
from tally.domain.records import RATE_CARD, Invoice, InvoiceLine, LineCredit
from tally.store import credits as grant_store
from tally.store.changes import Write

# Invoices that are not a subscription's: Stripe applies no billing credits to them
NOT_SUBSCRIPTION = frozenset({"manual"})


def state(b: GrantBalance) -> rules.GrantState:
    """A grant and what is left of it, as the application rules see it."""
    g = b.grant
    return rules.GrantState(
        id=g.id,
        currency=g.currency,
        remaining=b.remaining,
        priority=g.priority,
        expires_at=g.expires_at,
        category=g.category,
        effective_at=g.effective_at,
        created=g.created,
        prices=None if g.scope.price_type == METERED else frozenset(g.scope.prices + g.scope.billable_items),
        voided=g.voided_at is not None,
        held=g.held,
    )


def lines_of(inv: Invoice) -> list[rules.LineState]:
    """The invoice's lines as the rules see them (none for an invoice that is not a subscription's)."""
    if inv.billing_cadence is not None:  # a v2 cadence's invoice: rate card lines are metered,
        # named by their metered item (a `billable_items` scope) and covered by their interval
        return [
            rules.LineState(
                ln.id,
                (ln.plan.metered_item or "") if ln.plan is not None else ln.price,
                ln.amount,
                ln.usage_type == RATE_CARD,
                (ln.period_start, ln.period_end),
            )
            for ln in inv.lines
        ]
    if not inv.subscription or inv.billing_reason in NOT_SUBSCRIPTION:
        return []
    return [rules.LineState(ln.id, ln.price, ln.amount, ln.usage_type == METERED_USAGE) for ln in inv.lines]


def allocation(inv: Invoice, grants: list[rules.GrantState], at: int) -> list[rules.Allocation]:
    """What `inv` (lines and `total` before credits) takes from `grants` when it finalizes at `at`."""
    lines = lines_of(inv)
    if not lines or not grants:
        return []
    return rules.allocate(
        grants, lines, currency=inv.currency, period_end=inv.period_end, at=at, limit=max(inv.total, 0)
    )


@dataclass(frozen=True)
class Applied:
    """The invoice with its lines' credits (its `total` still before them), what they sum to, and
    the writes that record them (for the finalizing transaction)."""

    invoice: Invoice
    amount: int
    writes: list[Write]


def _with_moves(entries: list[CreditBalanceTransaction], moving: set[str]) -> list[Write]:
    """The Writes of `entries`, each grant's remaining credits moved ONCE by the sum of its entries
    (a transaction may touch an item only once); grants not in `moving` keep theirs."""
    writes: list[Write] = []
    first: dict[str, Write] = {}
    for e in entries:
        w = credit_ledger.ledger_write(e)
        if e.credit_grant not in moving:
            w.change.amounts = []
        elif e.credit_grant in first:
            first[e.credit_grant].change.amounts[0].delta += w.change.amounts[0].delta
            w.change.amounts = []
        else:
            first[e.credit_grant] = w
        writes.append(w)
    return writes


def apply(account: str, inv: Invoice, clock: Clock) -> Applied:
    """The billing credits `inv` (being finalized now, `total` before credits) takes. An invoice
    without a positive metered line reads nothing."""
    if not any(ln.metered and ln.amount > 0 for ln in lines_of(inv)) or inv.total <= 0:
        return Applied(inv, 0, [])
    balances = credit_ledger.grants_of(account, inv.customer, clock, currency=inv.currency)
    taken = allocation(inv, [state(b) for b in balances], clock.now)
    if not taken:
        return Applied(inv, 0, [])
    grants = {b.grant.id: b.grant for b in balances}
    entries = [
        credit_ledger.entry(
            grants[a.grant],
            APPLIED,
            a.amount,
            effective_at=clock.now,
            now=clock.now,
            invoice=inv.id,
            invoice_line_item=a.line,
            about=(inv.id, a.line),
        )
        for a in taken
    ]
    per_line: dict[str, list[LineCredit]] = {}
    for e in entries:
        assert e.invoice_line_item is not None
        per_line.setdefault(e.invoice_line_item, []).append(LineCredit(e.id, e.credit_grant, e.amount))
    lines = tuple(replace(ln, credits=tuple(per_line.get(ln.id, ()))) for ln in inv.lines)
    amount = sum(a.amount for a in taken)
    return Applied(replace(inv, lines=lines), amount, _with_moves(entries, set(grants)))


def _gone(grant: CreditGrant, now: int) -> str | None:
    """Why credits given back to `grant` at `now` leave it at once (None: they stay)."""
    if grant.voided_at is not None:
        return VOIDED
    return EXPIRED if grant.expired(now) else None


def reinstated(account: str, inv: Invoice, clock: Clock) -> list[Write]:
    """The writes that give back what voided `inv` took from grants (see the module doc)."""
    taken = [(ln, c) for ln in inv.lines for c in ln.credits]
    if not taken:
        return []
    grants = {s.record.id: s.record for s in grant_store.grants(account, [c.credit_grant for _, c in taken])}
    entries: list[CreditBalanceTransaction] = []
    moving: set[str] = set()
    now = clock.now
    for ln, c in taken:
        g = grants[c.credit_grant]
        entries.append(_back(g, inv.id, ln, c, now))
        gone = _gone(g, now)
        if gone is None:
            moving.add(g.id)
        else:
            entries.append(
                credit_ledger.entry(g, gone, c.amount, effective_at=now, now=now, about=(inv.id, ln.id))
            )
    return _with_moves(entries, moving)


def _back(g: CreditGrant, inv_id: str, ln: InvoiceLine, c: LineCredit, now: int) -> CreditBalanceTransaction:
    return credit_ledger.entry(
        g,
        INVOICE_VOIDED,
        c.amount,
        effective_at=now,
        now=now,
        invoice=inv_id,
        invoice_line_item=ln.id,
        about=(inv_id, ln.id),
    )
