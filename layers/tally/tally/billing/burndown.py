"""Real-time credit burndown (Tally's, beyond Stripe): what the customer's invoices not finalized
yet will take from each credit grant, as their usage stands now.

The `available_balance` of the credit balance summary is the ledger balance minus this figure, so
it falls as rated usage arrives — as soon as an event is stored, under any concurrency (it is read
from the usage buckets, which ingest updates atomically, never by scanning events) — and the
invoice consumes exactly what the balance showed, by construction: each invoice to come is priced
by the code that will finalize it, and allocated by the same rules.

- **Drafts** (periods ended, in their grace period): `lifecycle.rerated`, the finalization's own
  re-rating (metered lines with the usage stored now, true-ups recomputed); they finalize at
  `automatically_finalizes_at` (or now, with `auto_advance` off: whenever the caller finalizes).
- **Open periods** of each running subscription (and an ended period the close has not drafted
  yet): `invoices.build` at the period's start, the code the close runs; they finalize at the
  period end plus the account's grace period.
- Invoices take credits in the order they will finalize (Stripe: the first to finalize wins),
  each from what the earlier ones left (`credit_application.allocation`,
  `domain.credit_application.spent`).

Reads: the customer's drafts (one Query) and subscriptions (one Query), then per invoice what a
preview reads (prices, products, meters, usage per metered item). The usage reads go through
`store.usage.aggregate`, which `pending` routes (`usage_figures.read_through`, given the request's
real time: the balance summary) to the running per-period figure of each meter that keeps one — the figure
usage alerts read, kept once by the usage transactions: ONE item per (meter, customer) once the
period's bounds are registered, instead of one per hour of the period — else to the hour buckets.
A customer without grants reads nothing here (and ingest never does anything for burndown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tally.billing import account_settings, credit_application, invoices, lifecycle, usage_figures
from tally.clock import Clock
from tally.domain import credit_application as rules
from tally.domain import periods
from tally.domain.credits import GrantBalance
from tally.domain.listing import Window
from tally.domain.records import Customer, Invoice, Subscription
from tally.store import lists, objects

MAX_LISTED = 100  # drafts or subscriptions of one customer read for the forecast
PERIODS_AHEAD = 3  # unbilled periods of one subscription priced (the close is ≤ 1 min late)


@dataclass(frozen=True)
class Forecast:
    """An invoice to come, priced as it stands now (`total` before credits), and when it finalizes."""

    finalizes_at: int
    invoice: Invoice


def _drafts(account: str, customer: str, clock: Clock) -> list[Forecast]:
    page = lists.list_records(
        account,
        Invoice,
        Window(limit=MAX_LISTED),
        clock,
        customer=customer,
        where=lambda i: i.status == "draft",
    )
    out = []
    for inv in page.data:
        if not credit_application.lines_of(inv):
            continue
        rated, _ = lifecycle.rerated(account, inv, clock)
        due = inv.automatically_finalizes_at if inv.auto_advance else None
        out.append(Forecast(max(due or clock.now, clock.now), rated))
    return out


def _periods(account: str, s: Subscription, customer: Customer, clock: Clock, grace: int) -> list[Forecast]:
    """The invoices of `s`'s unbilled periods up to the one holding now, as the close would draft them."""
    out = []
    start, end = s.unbilled_period
    for _ in range(PERIODS_AHEAD):
        view = invoices.build(account, s, Clock.at(start), invoice_id="upcoming_burndown", customer=customer)
        ends = s.cancel_at_period_end or s.cancel_at == view.draft.period.end
        shown = invoices.without_advance(view) if ends else view
        record = shown.as_record()
        out.append(Forecast(record.period_end + grace, record))
        if end > clock.now or ends:
            break
        start = end
        end = periods.current_period(
            s.start_date, s.billing_cycle_anchor, s.interval, s.interval_count, start
        )[1]
    return out


def forecasts(account: str, customer_id: str, clock: Clock) -> list[Forecast]:
    """The customer's invoices not finalized yet, in the order they will finalize."""
    out = _drafts(account, customer_id, clock)
    subs = lists.list_records(
        account,
        Subscription,
        Window(limit=MAX_LISTED),
        clock,
        customer=customer_id,
        where=lambda s: s.running,
    )
    if subs.data:
        grace = account_settings.invoice_grace(account, clock)
        customer = objects.get(account, customer_id, Customer, clock)
        for s in subs.data:
            out += _periods(account, s, customer, clock, grace)
    return sorted(out, key=lambda f: (f.finalizes_at, f.invoice.period_end))


def pending(
    account: str,
    customer: str,
    balances: Sequence[GrantBalance],
    clock: Clock,
    request_now: int | None = None,
) -> dict[str, int]:
    """What the customer's invoices to come will take from each grant (by id; absent: nothing).
    With `request_now` (the request's real time) their usage is read from the running figures
    where they can answer (`usage_figures.read_through`: one GetItem per (meter, customer)), else
    from the buckets: the same amounts."""
    grants = [credit_application.state(b) for b in balances]
    if not any(g.remaining > 0 for g in grants):
        return {}
    taken: dict[str, int] = {}
    with usage_figures.read_through(account, clock, request_now):
        coming = forecasts(account, customer, clock)
    for f in coming:
        allocated = credit_application.allocation(f.invoice, grants, f.finalizes_at)
        grants = rules.spent(grants, allocated)
        for grant_id, amount in rules.by_grant(allocated).items():
            taken[grant_id] = taken.get(grant_id, 0) + amount
    return taken


def available(
    account: str,
    customer: str,
    balances: Sequence[GrantBalance],
    clock: Clock,
    request_now: int | None = None,
) -> dict[str, int]:
    """Each grant's available balance now: its ledger balance (`GrantBalance.ledger`) minus what the
    invoices to come take from it. A grant not yet effective is in neither figure (its credits may
    still cover an invoice that finalizes after it starts; the ledger shows them from then).
    `request_now`: see `pending`."""
    taken = pending(account, customer, balances, clock, request_now)
    out = {}
    for b in balances:
        ledger = b.ledger(clock.now)
        out[b.grant.id] = ledger - (taken.get(b.grant.id, 0) if ledger > 0 else 0)
    return out
