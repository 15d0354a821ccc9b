"""Revenue recognition of a v2 cadence invoice's plan lines (`tally.billing.revenue_recognition`
calls it per invoice; docs/API.md, "Revenue recognition"):

- **rate card lines**: usage delivered over the line's service interval, accrued month by month
  as a v1 metered line's (cumulative rating: `rate(usage to the month's end) − rate(usage to its
  start)` with the rate's own price model, so the months add up to the interval's rated usage,
  the lines' amount), reversed at finalization. One accrual per (subscription, rate, interval):
  the lines of one rate's `invoice_presentation_dimensions` groups add up to its rating. Usage is
  the metered item's (its segment conditions applied: `item_usage`), read per month cut from the
  hour buckets. A `last` meter's interval is recognized in the month it ends. Late-usage lines
  are revenue when finalized (as v1 true-ups).
- **license fee lines**: spread over their service interval (`tally.domain.revenue_fees`):
  accrued before the finalization month, deferred and released from it on.
"""

from __future__ import annotations

from tally.billing import item_usage
from tally.clock import Clock
from tally.domain import revenue
from tally.domain.aggregation import Formula
from tally.domain.catalog import MeteredItem, RateCardRate, price_model
from tally.domain.records import LICENSE_FEE, RATE_CARD, Invoice, Meter
from tally.domain.revenue import Entry
from tally.domain.revenue_fees import FeeBooking, booking
from tally.store import objects


class Reads:
    """Rates, metered items and meters, each read once per report."""

    def __init__(self, account: str, clock: Clock) -> None:
        self.account, self.clock = account, clock
        self._got: dict[tuple[type, str], object] = {}

    def get(self, cls: type, object_id: str) -> object:
        if (cls, object_id) not in self._got:
            self._got[(cls, object_id)] = objects.get(self.account, object_id, cls, self.clock)
        return self._got[(cls, object_id)]


def _usage_accrual(reads: Reads, inv: Invoice, rate_id: str, span: tuple[int, int]) -> list[Entry]:
    start, end = span
    rate = reads.get(RateCardRate, rate_id)
    assert isinstance(rate, RateCardRate)
    item = reads.get(MeteredItem, rate.metered_item)
    assert isinstance(item, MeteredItem)
    meter = reads.get(Meter, item.meter)
    assert isinstance(meter, Meter)
    model = price_model(rate.unit_amount, rate.tiers, rate.tiering_mode, rate.divide_by, rate.round)

    def used(until: int) -> int:
        return item_usage.metered_item_usage(reads.account, item, meter, inv.customer, start, until)

    if meter.formula is Formula.LAST:  # known when the interval ends: recognized that month
        cumulative = [(end, used(end))]
    else:
        cumulative = [(cut, used(cut)) for cut in revenue.slice_ends(start, end)]
    out: list[Entry] = []
    for month, amount in revenue.accrual_by_month(model, cumulative):
        out += revenue.entry(
            month, inv.currency, revenue.UNBILLED, revenue.REVENUE, amount, revenue.ACCRUAL, inv.id
        )
    return out


def plan_entries(reads: Reads, inv: Invoice, start: int, end: int) -> tuple[list[Entry], list[Entry]]:
    """(accruals, other entries) of `inv`'s plan lines for a report over `[start, end)`: the
    accruals are reversed at finalization with the invoice's (the caller sums them); the others are
    fee deferrals and releases."""
    accruals: list[Entry] = []
    others: list[Entry] = []
    finalized_inside = inv.finalized_at is not None and start <= inv.finalized_at < end
    seen: set[tuple[str, str, int, int]] = set()
    for line in inv.lines:
        plan = line.plan
        if plan is None or plan.late:
            continue
        span = (line.period_start, line.period_end)
        if line.usage_type == LICENSE_FEE:
            fee: FeeBooking = booking(
                line.amount, span, inv.currency, inv.id, inv.finalized_at, inv.voided_at
            )
            accruals += fee.accruals
            others += fee.deferrals
            continue
        if line.usage_type != RATE_CARD or plan.rate_card_rate is None:
            continue
        key = (plan.pricing_plan_subscription, plan.rate_card_rate, *span)
        overlaps = span[0] < end and start < span[1]
        if key in seen or not (finalized_inside or overlaps):
            continue
        seen.add(key)
        accruals += _usage_accrual(reads, inv, plan.rate_card_rate, span)
    return accruals, others
