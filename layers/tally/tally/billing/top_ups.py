"""What an automatic top-up does outside the credit watch, each step idempotent by a derived id:

- `available`: the customer's available credit balance in a currency (the one place evaluation
  reads it: `credit_balances.available`, where real-time burndown subtracts usage rated but not
  invoiced; a running per-period figure can replace it here alone);
- `start`: the top-up's one-off invoice (id `credit_watch.invoice_id(rule, n)`), one line for the
  amount, finalized at once; a second call finds it and only finishes what a crash left undone;
- `grant`: once that invoice is paid, a `paid` credit grant of its total (id
  `credit_watch.grant_id(invoice)`); a second call finds the grant and creates nothing.
"""

from __future__ import annotations

from tally.billing import clocks, credit_balances, credit_grants
from tally.billing import credit_ledger as ledger
from tally.clock import Clock
from tally.domain.credit_watch import RULE_METADATA, RuleState, TopUp, grant_id
from tally.domain.credits import METERED, PAID, CreditGrant, Scope
from tally.domain.records import Invoice
from tally.errors import Conflict, NotFound
from tally.store import objects

GRANT_NAME = "Automatic top-up"
INVOICE_DESCRIPTION = "Automatic credit top-up"


def available(account: str, customer: str, currency: str, clock: Clock) -> int:
    """The customer's available credit balance in `currency` at `clock` (the customer's clock)."""
    everyone = ledger.grants_of(account, customer, clock)  # burndown allocates over all of them
    selected = [b for b in everyone if b.grant.currency == currency]
    return credit_balances.available(account, customer, selected, clock, everyone).get(currency, 0)


def invoice(account: str, invoice_id: str, clock: Clock) -> Invoice | None:
    """The invoice, or None when it does not exist (yet)."""
    try:
        return objects.get(account, invoice_id, Invoice, clock)
    except NotFound:
        return None


def start(account: str, top_up: TopUp, clock: Clock) -> Invoice:
    """The top-up's invoice, created (and finalized) unless it already is."""
    from tally.billing import top_up_invoices  # one-off invoices: the `oneoff` branch

    return top_up_invoices.ensure(account, top_up, INVOICE_DESCRIPTION, clock)


def grant(account: str, state: RuleState, paid: Invoice, clock: Clock) -> str:
    """The `paid` grant of the paid top-up invoice `paid` (created unless it exists); its id."""
    gid = grant_id(paid.id)
    if _exists(account, gid, clock):
        return gid
    rule = state.rule
    spec = credit_grants.GrantSpec(
        customer=rule.customer,
        currency=paid.currency,
        amount=paid.total,
        scope=Scope(price_type=METERED),
        category=PAID,
        name=GRANT_NAME,
        metadata={RULE_METADATA: rule.id, "invoice": paid.id},
        id=gid,
    )
    try:
        credit_grants.create(account, spec, clocks.clock_for(account, rule.customer, clock))
    except Conflict:
        if not _exists(account, gid, clock):  # a real conflict, not "someone created it first"
            raise
    return gid


def _exists(account: str, gid: str, clock: Clock) -> bool:
    try:
        objects.get(account, gid, CreditGrant, clock)
    except NotFound:
        return False
    return True
