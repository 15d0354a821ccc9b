"""Billing credits applied to an invoice: which grants, in which order, how much on which line.

Pure, no I/O. Stripe's rules (docs: "Billing credits", repeated in "How billing credits work"):

- **What credits cover:** metered lines of subscription invoices, at their amount after discounts
  and before tax and the customer balance. Licensed lines, one-off invoices and zero lines get
  nothing.
- **Which grants may apply** (`eligible`): same currency; a positive remaining amount; the
  invoice's `period_end` ≥ the grant's `effective_at`; `period_end` < `expires_at` (a grant that
  expires inside the period covers none of it), and the grant not yet expired when the invoice
  finalizes (`at` < `expires_at`); not voided; its scope holds the line (`price_type: metered`:
  every metered line; `prices[]`: lines of those prices).
- **Order among grants** (`order_key`): priority (0 first) → sooner `expires_at` (never-expiring
  last) → `promotional` before `paid` → earlier `effective_at` → earlier `created` (→ id, so the
  order is total and two computations of one invoice always agree).
- **A cadence invoice's lines** (v2, issue 14 point 5) carry their service interval: a grant
  covers such a line when the interval overlaps the grant's `[effective_at, expires_at)`
  (`covers_period`), not by the invoice's `period_end`; a service action's grant (`held`) may
  still apply after its `expires_at`, since its interval's usage is invoiced at the tick after.
- **Lines are covered in the order they appear:** each line takes from the grants in that order
  until it is covered or they are spent.
- **Never below zero** (Tally's choice, docs/API.md): the credits of one invoice are at most its
  positive total before credits, so promotional credit never turns into a customer balance (the
  last allocations are trimmed when lines with negative amounts, prorations, bring the total
  below the metered lines' sum).

`allocate` returns one `Allocation` per (grant, line) it took from, in the order taken: the
invoice's `pretax_credit_amounts` and the grants' `credits_applied` ledger entries come from it.
The same function prices an invoice at finalization and the real-time burndown of a preview
(`tally.billing.burndown`), so the balance a customer sees is what the invoice will consume.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

# One finalization is one DynamoDB transaction (≤ 100 actions), and each (grant, line) allocation
# takes 4 of them (the `credits_applied` entry, its two events, the grant's remaining credits) — 6
# when a void reinstates it into an expired grant. Tally's limit (docs/API.md): an invoice takes
# credits in at most this many (grant, line) pairs; lines beyond are not covered.
MAX_ALLOCATIONS = 12
PROMOTIONAL = "promotional"
PAID = "paid"
METERED_SCOPE = "metered"


@dataclass(frozen=True)
class GrantState:
    """A credit grant as application sees it: what is left of it and the fields that order it.

    `prices` is the `applicability_config.scope.prices` list (None: `price_type: metered`).
    `effective_at` None means effective since `created` (Stripe's default is "now")."""

    id: str
    currency: str
    remaining: int
    priority: int = 50
    expires_at: int | None = None
    category: str = PAID
    effective_at: int | None = None
    created: int = 0
    prices: frozenset[str] | None = None
    voided: bool = False
    held: bool = False  # a service action's grant: usable after `expires_at` for its own interval

    @property
    def starts(self) -> int:
        return self.created if self.effective_at is None else self.effective_at

    def covers(self, price: str) -> bool:
        """Whether the grant's scope holds a metered line of `price`."""
        return self.prices is None or price in self.prices


@dataclass(frozen=True)
class LineState:
    """An invoice line as application sees it. `metered`: a usage line (only those are covered);
    `amount`: after discounts, before tax."""

    id: str
    price: str
    amount: int
    metered: bool
    # a cadence invoice's line: its service interval `[start, end)` (None: a v1 invoice's line)
    period: tuple[int, int] | None = None


@dataclass(frozen=True)
class Allocation:
    """`amount` of grant `grant` applied to line `line`."""

    grant: str
    line: str
    amount: int


def order_key(grant: GrantState) -> tuple[int, int, int, int, int, int, str]:
    """Stripe's order of application: the smaller key applies first."""
    never = grant.expires_at is None
    return (
        grant.priority,
        1 if never else 0,
        0 if never else int(grant.expires_at or 0),
        0 if grant.category == PROMOTIONAL else 1,
        grant.starts,
        grant.created,
        grant.id,
    )


def eligible(grant: GrantState, currency: str, period_end: int, at: int) -> bool:
    """Whether `grant` may apply to an invoice in `currency` closing a period at `period_end`,
    finalized at `at` (a preview passes the instant it is computed at)."""
    if grant.voided or grant.remaining <= 0 or grant.currency != currency:
        return False
    if grant.starts > period_end:
        return False
    return grant.expires_at is None or (period_end < grant.expires_at and at < grant.expires_at)


def usable(grant: GrantState, currency: str, at: int) -> bool:
    """Whether `grant` may apply at all to a cadence invoice in `currency` finalized at `at`: a
    service action's grant (`held`) still may after its `expires_at` (its interval's usage is
    invoiced after the interval: docs/API.md); any other only before it."""
    if grant.voided or grant.remaining <= 0 or grant.currency != currency:
        return False
    return grant.held or grant.expires_at is None or at < grant.expires_at


def covers_period(grant: GrantState, period: tuple[int, int]) -> bool:
    """Whether `grant` covers usage of the service interval `period`: the interval overlaps the
    grant's `[effective_at, expires_at)` (Stripe: a grant effective mid-period "is applicable for
    the entirety of that period"; one expiring at the interval's end covers that interval)."""
    start, end = period
    return grant.starts < end and (grant.expires_at is None or start < grant.expires_at)


def ordered(grants: Iterable[GrantState], currency: str, period_end: int, at: int) -> list[GrantState]:
    """The grants that may apply to the invoice, in the order they apply."""
    return sorted((g for g in grants if eligible(g, currency, period_end, at)), key=order_key)


def allocate(
    grants: Iterable[GrantState],
    lines: Sequence[LineState],
    *,
    currency: str,
    period_end: int,
    at: int,
    limit: int | None = None,
) -> list[Allocation]:
    """The credits an invoice takes: lines in order, each from the grants in Stripe's order.

    `limit` caps the invoice's credits (its positive total before credits; None: the sum of its
    metered lines). Never more from a grant than its `remaining`, nor on a line than its amount,
    nor in more than `MAX_ALLOCATIONS` (grant, line) pairs."""
    left = {g.id: g.remaining for g in grants}
    by_period = any(ln.period is not None for ln in lines)  # a cadence invoice: per line's interval
    if by_period:
        queue = sorted((g for g in grants if usable(g, currency, at)), key=order_key)
    else:
        queue = ordered(grants, currency, period_end, at)
    cap = limit if limit is not None else sum(ln.amount for ln in lines if ln.metered and ln.amount > 0)
    cap = max(cap, 0)
    out: list[Allocation] = []
    for ln in lines:
        if not ln.metered or ln.amount <= 0:
            continue
        need = ln.amount
        for g in queue:
            if need == 0 or cap == 0:
                break
            take = min(need, left[g.id], cap)
            if take <= 0 or not g.covers(ln.price):
                continue
            if by_period and not (
                covers_period(g, ln.period)
                if ln.period is not None
                else eligible(g, currency, period_end, at)
            ):
                continue
            if len(out) == MAX_ALLOCATIONS:
                return out
            out.append(Allocation(g.id, ln.id, take))
            left[g.id] -= take
            need -= take
            cap -= take
    return out


def by_grant(allocations: Iterable[Allocation]) -> dict[str, int]:
    """What each grant gives, in the order grants were first taken from."""
    out: dict[str, int] = {}
    for a in allocations:
        out[a.grant] = out.get(a.grant, 0) + a.amount
    return out


def by_line(allocations: Iterable[Allocation]) -> dict[str, int]:
    """What each line receives."""
    out: dict[str, int] = {}
    for a in allocations:
        out[a.line] = out.get(a.line, 0) + a.amount
    return out


def spent(grants: Sequence[GrantState], allocations: Iterable[Allocation]) -> list[GrantState]:
    """The grants after an invoice took `allocations` from them (a preview of several invoices in
    turn: the first to finalize takes first)."""
    taken: Mapping[str, int] = by_grant(allocations)
    return [g if g.id not in taken else replace(g, remaining=g.remaining - taken[g.id]) for g in grants]
