"""Revenue recognition of a v2 license fee line (a cadence invoice's, billed in advance for its
service interval): recognized over that interval, not when invoiced. Pure, no I/O.

The fee's amount is spread over the UTC months of its service interval `[s, e)` in proportion to
the seconds of each month inside it, as cumulative differences (`round(amount × elapsed / length)`
half up, so the months add up to the amount exactly). A month's share is revenue that month:

- a month before the invoice's finalization month: accrued (Dr UnbilledReceivables / Cr Revenue,
  dated at the month's start inside the interval), reversed at finalization with the invoice's
  other accruals (`revenue.invoice_entries`) — under the seed's rule a fee may be billed after its
  interval started;
- the finalization month and later: deferred at finalization (Dr Revenue / Cr DeferredRevenue, the
  sum of those shares) and released each month (Dr DeferredRevenue / Cr Revenue, dated at the
  month's start, or at the finalization within its own month);
- a draft (never finalized yet): every share accrues (its finalization decides later);
- voided after finalization: no release from the void's month on; what is still deferred is
  released at the void (the void's own entry takes the whole rebooking back from Revenue), so
  the fee nets to nothing.

So a fee's revenue over all months is its amount (rebooked at finalization with the invoice's
total, less what was accrued before and deferred after), spread by its service interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from tally.domain import revenue
from tally.domain.revenue import Entry

DEFERRAL = "fee_deferral"
RELEASE = "fee_release"


@dataclass(frozen=True)
class FeeBooking:
    """A fee line's entries besides the invoice's: its accruals (reversed at finalization: `accrued`
    is their sum) and its deferral and releases."""

    accruals: list[Entry]
    accrued: int
    deferrals: list[Entry]


def shares(amount: int, start: int, end: int) -> list[tuple[int, int]]:
    """(month start, share) of `amount` over `[start, end)`, by seconds, adding up exactly."""
    length = end - start
    out: list[tuple[int, int]] = []
    before, at = 0, start
    for cut in revenue.slice_ends(start, end):
        upto = int((Decimal(amount) * (cut - start) / length).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        out.append((revenue.month_start(at), upto - before))
        before, at = upto, cut
    return out


def booking(
    amount: int,
    span: tuple[int, int],
    currency: str,
    source: str,
    finalized_at: int | None,
    voided_at: int | None,
) -> FeeBooking:
    """The entries of one license fee line (module doc)."""
    start, end = span
    if end <= start:
        return FeeBooking([], 0, [])
    accruals: list[Entry] = []
    deferrals: list[Entry] = []
    accrued = 0
    finalized_month = None if finalized_at is None else revenue.month_start(finalized_at)
    later = 0
    for month, share in shares(amount, start, end):
        at = max(month, start)
        if finalized_month is None or month < finalized_month:
            accruals += revenue.entry(
                at, currency, revenue.UNBILLED, revenue.REVENUE, share, revenue.ACCRUAL, source
            )
            accrued += share
            continue
        later += share
        assert finalized_at is not None
        when = max(at, finalized_at)
        if voided_at is not None and revenue.month_start(voided_at) <= month:
            continue  # released at the void, below
        deferrals += revenue.entry(when, currency, revenue.DEFERRED, revenue.REVENUE, share, RELEASE, source)
    if finalized_at is not None:
        deferrals += revenue.entry(
            finalized_at, currency, revenue.REVENUE, revenue.DEFERRED, later, DEFERRAL, source
        )
        if voided_at is not None:
            released = sum(e.amount for e in deferrals if e.kind == RELEASE)
            left = later - released
            deferrals += revenue.entry(
                voided_at, currency, revenue.DEFERRED, revenue.REVENUE, left, revenue.VOID, source
            )
    return FeeBooking(accruals, accrued, deferrals)
