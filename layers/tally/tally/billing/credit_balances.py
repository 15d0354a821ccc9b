"""A customer's credit balance (`GET /v1/billing/credit_balance_summary`) and ledger
(`GET /v1/billing/credit_balance_transactions[/{id}]`).

Both first record the expiries due at the customer's "now" (`credit_ledger.record_expiries`: a
grant past `expires_at` gets its `credits_expired` entry, effective at `expires_at`, written once),
so what they show is the ledger at that instant, on a test clock too.

- `ledger_balance`, per currency: what is left of the selected grants that are effective and
  neither voided nor expired (`GrantBalance.ledger`).
- `available_balance`: `available(...)`, the ledger balance minus what the customer's invoices to
  come (drafts, open periods) will take, as their usage stands now (real-time burndown:
  `tally.billing.burndown`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tally.billing import burndown, clocks
from tally.billing import credit_ledger as ledger
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain.credits import METERED, CreditBalanceTransaction, CreditGrant, GrantBalance
from tally.domain.listing import Page, Window
from tally.domain.records import Customer
from tally.errors import InvalidRequest, NotFound
from tally.store import lists, objects

LABEL = "billing.credit_balance_transaction"


@dataclass(frozen=True)
class Filter:
    """The summary's `filter`: a grant (`credit_grant`), or an applicability scope (`price_type`
    metered, or `prices`)."""

    credit_grant: str | None = None
    price_type: str | None = None
    prices: tuple[str, ...] = ()

    def selects(self, g: CreditGrant) -> bool:
        if self.credit_grant is not None:
            return g.id == self.credit_grant
        if self.price_type == METERED:
            return True  # every grant applies to metered prices only
        return g.scope.price_type == METERED or any(p in g.scope.prices for p in self.prices)


@dataclass(frozen=True)
class Summary:
    customer: str
    ledger: dict[str, int]
    available: dict[str, int]


def available(
    account: str,
    customer: str,
    selected: Sequence[GrantBalance],
    clock: Clock,
    everyone: Sequence[GrantBalance] | None = None,
    request_now: int | None = None,
) -> dict[str, int]:
    """The available balance per currency of the `selected` grants at `clock`: each grant's ledger
    balance minus what the customer's invoices to come take from it (`tally.billing.burndown`:
    real-time burndown, allocated over ALL the customer's grants — `everyone`, read when not
    given — as finalization will). With `request_now` (the request's real time) burndown reads
    the running usage figures where they can answer (`burndown.pending`)."""
    if not selected:
        return {}
    if everyone is None:
        everyone = ledger.grants_of(account, customer, clock)
    grants = {b.grant.id: b for b in everyone}
    for b in selected:
        grants.setdefault(b.grant.id, b)
    per_grant = burndown.available(account, customer, list(grants.values()), clock, request_now)
    out: dict[str, int] = {}
    for b in selected:
        out[b.grant.currency] = out.get(b.grant.currency, 0) + per_grant[b.grant.id]
    return out


def summary(account: str, customer_id: str, f: Filter, clock: Clock) -> Summary:
    """The balance of the customer's grants the filter selects, per currency of those grants."""
    customer = referenced(account, customer_id, Customer, "customer", clock)
    at = clocks.clock_for(account, customer.id, clock)
    ledger.record_expiries(account, customer.id, at)
    everyone = None
    if f.credit_grant is not None:
        try:
            grant = objects.get(account, f.credit_grant, CreditGrant, clock)
        except NotFound:
            grant = None
        if grant is None or grant.customer != customer.id:
            raise InvalidRequest(
                f"No such credit grant for customer {customer.id}: '{f.credit_grant}'",
                code="resource_missing",
                param="filter[credit_grant]",
            )
        selected = ledger.balances(account, [grant])
    else:
        everyone = ledger.grants_of(account, customer.id, at)
        selected = [b for b in everyone if f.selects(b.grant)]
    totals: dict[str, int] = {}
    for b in selected:
        totals[b.grant.currency] = totals.get(b.grant.currency, 0) + b.ledger(at.now)
    shown = available(account, customer.id, selected, at, everyone, request_now=clock.now)
    return Summary(customer.id, totals, shown)


def transactions(
    account: str, customer_id: str, window: Window, clock: Clock, *, credit_grant: str | None = None
) -> Page[CreditBalanceTransaction]:
    """The customer's ledger, newest first; `credit_grant` keeps one grant's entries."""
    customer = referenced(account, customer_id, Customer, "customer", clock)
    ledger.record_expiries(account, customer.id, clocks.clock_for(account, customer.id, clock))
    where = None if credit_grant is None else (lambda t: t.credit_grant == credit_grant)
    return lists.list_records(
        account, CreditBalanceTransaction, window, clock, customer=customer.id, where=where, label=LABEL
    )


def transaction(account: str, txn_id: str, clock: Clock) -> CreditBalanceTransaction:
    return objects.get(account, txn_id, CreditBalanceTransaction, clock, label=LABEL)
