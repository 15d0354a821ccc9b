"""Late usage, never lost: the true-up lines a subscription's next invoice carries.

Usage stamped in a period whose invoice is already finalized (meter events may be stamped up to
35 days back; a cancel adjustment removes usage) is billed on the subscription's next invoice as
one true-up line per metered line of that period: the period re-rated with the usage stored now,
at the same price, minus what was billed for it so far (`tally.domain.true_ups`).

- What was billed is kept per finalized invoice (`tally.store.billed`), written by the
  transaction that finalizes it (`tally.billing.lifecycle`), and updated by the transaction that
  finalizes a later invoice carrying a true-up for it (conditional on the version read: a true-up
  is billed once, whatever retries, crashes or concurrent finalizations happen).
- `lines` gives the true-up lines as they stand now: `billing.invoices.build` adds them to the
  draft the period close writes and to the preview (so they agree), and finalization recomputes
  them (`recheck`) as it re-rates the metered lines, so late usage in the grace period counts.
- Only periods that can still change are re-checked: a billed period is forgotten by the first
  finalization at least 36 days after its end (its last re-check). So a check reads one Query
  plus, per open period, its usage over hours (and one item per shard where the line's span
  starts or ends inside a minute) — never events. Each line re-counts exactly the span it billed
  (`BilledLine.usage_span`, to the second), so a late event in a boundary minute is trued up on
  the one period whose span holds its timestamp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tally.clock import Clock
from tally.domain import true_ups
from tally.domain.invoices import Line
from tally.domain.records import InvoiceLine, Meter, Price, Product
from tally.ids import new_id
from tally.store import billed, objects, usage
from tally.store.billed import StoredPeriod
from tally.store.changes import Aux


@dataclass(frozen=True)
class Recheck:
    """One open billed period re-rated now: its true-up lines, and the period once they are billed."""

    stored: StoredPeriod
    lines: tuple[Line, ...]
    after: true_ups.BilledPeriod


def recheck(
    account: str,
    subscription: str,
    customer: str,
    prices: dict[str, Price],
    names: dict[str, str],
    clock: Clock,
    meters: dict[str, Meter] | None = None,
    *,
    periods: list[StoredPeriod] | None = None,
    skip_invoice: str | None = None,
) -> list[Recheck]:
    """Every open billed period of `subscription` (`periods` when the caller read them, else one
    Query) re-rated with the usage stored now (adds the prices, product names and meters it reads
    to `prices`, `names` and `meters`)."""
    meters = {} if meters is None else meters
    out = []
    for stored in billed.open_periods(account, subscription) if periods is None else periods:
        if stored.record.invoice == skip_invoice:
            continue
        lines: list[Line] = []
        after: list[true_ups.BilledLine] = []
        for b in stored.record.lines:
            if b.price not in prices:
                prices[b.price] = objects.get(account, b.price, Price, clock)
            price = prices[b.price]
            if price.product not in names:
                names[price.product] = objects.get(account, price.product, Product, clock).name
            if not price.meter:
                after.append(b)
                continue
            if price.meter not in meters:
                meters[price.meter] = objects.get(account, price.meter, Meter, clock, label="billing meter")
            since, end = b.usage_span
            used = usage.aggregate(account, meters[price.meter], customer, since, end) if since < end else 0
            found = true_ups.true_up(b, price, names[price.product], used)
            if found is None:
                after.append(b)
            else:
                lines.append(found[0])
                after.append(found[1])
        out.append(Recheck(stored, tuple(lines), replace(stored.record, lines=tuple(after))))
    return out


def lines(
    account: str,
    subscription: str,
    customer: str,
    prices: dict[str, Price],
    names: dict[str, str],
    clock: Clock,
    meters: dict[str, Meter] | None = None,
    periods: list[StoredPeriod] | None = None,
) -> list[Line]:
    """The true-up lines the subscription's next invoice carries, as they stand now."""
    checks = recheck(account, subscription, customer, prices, names, clock, meters, periods=periods)
    return [ln for r in checks for ln in r.lines]


def finalized(
    account: str,
    invoice_id: str,
    subscription: str,
    customer: str,
    drafted: Sequence[InvoiceLine],
    clock: Clock,
) -> tuple[list[InvoiceLine], list[Recheck]]:
    """The true-up lines an invoice carries when finalized now (a draft's line keeps its id), and
    the re-checks whose writes (`writes`) go into the finalizing transaction."""
    prices: dict[str, Price] = {}
    checks = recheck(account, subscription, customer, prices, {}, clock, skip_invoice=invoice_id)
    ids = {
        (ln.subscription_item, ln.price, ln.period_start, ln.period_end): ln.id
        for ln in drafted
        if ln.true_up
    }
    out = []
    for check in checks:
        for ln in check.lines:
            key = (ln.subscription_item, ln.price, ln.period.start, ln.period.end)
            out.append(ln.stored(ids.get(key) or new_id("il"), prices[ln.price]))
    return out, checks


def writes(
    account: str,
    subscription: str,
    invoice_id: str,
    lines: tuple[InvoiceLine, ...],
    checks: list[Recheck],
    now: int,
) -> list[Aux]:
    """The billed-usage writes of finalizing an invoice with `lines` at `now`: what it billed for its
    own metered lines (new), each period it trued up (updated), each settled period (forgotten)."""
    out = []
    for check in checks:
        if check.after.settled(now):
            out.append(billed.settled(account, check.stored))
        elif check.lines:
            out.append(billed.updated(account, check.stored, check.after))
    own = true_ups.billed_period(subscription, invoice_id, lines)
    if own is not None and not own.settled(now):
        out.append(billed.created(account, own))
    return out
