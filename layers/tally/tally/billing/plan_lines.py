"""The lines a pricing plan subscription bills on its cadence's invoice (v2), per service interval.

`lines_of(sub, P, T)` is what tick `T` (closing the billing interval `[P, T)`) bills for one
subscription (`tally.domain.cadence_billing` decides which service intervals):

- a rate card component: per completed service interval, split where a `modify` changed the
  rate card version pinned (`rate_spans`: usage before the change at the old version's rates,
  after it at the new one's, each line naming its plan version and, in its description, its
  part), and per rate of that version, the usage of the rate's metered item for the customer over
  the part (`item_usage`: its meter's segments matching its `meter_segment_conditions`, the whole
  meter without any; per-hour reads, never events), priced by the rate (tiers reset per interval,
  and per part); a rate with no usage makes no line;
- a license fee component: per service interval starting in `[P, T)`, the pinned license fee
  version's price × the quantity of the segment in force at the interval's start — except the
  first interval when the subscribe intent collected it at commit (`collected_at_commit`);
- the proration lines of changes effective in `[P, T)` (`tally.billing.plan_prorations`).

`first_fees(sub)` are the license fee lines of the first service interval (what a subscribe
intent with `collect_at: on_effective_at` collects at commit: `tally.billing.intents`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tally.billing import item_usage, plan_prorations, rate_cards
from tally.clock import Clock
from tally.domain import cadence_billing as rules
from tally.domain import limits, partial_periods, presentation
from tally.domain.catalog import MeteredItem, RateCard, RateCardRate, RateCardVersion, price_model
from tally.domain.intents import PlanSubscription, Segment
from tally.domain.plans import (
    LicenseFee,
    LicenseFeeVersion,
    PricingPlanComponent,
    PricingPlanVersion,
    in_version,
)
from tally.domain.pricing import billable_quantity, line_amount
from tally.domain.records import LICENSE_FEE, RATE_CARD, InvoiceLine, Meter, PlanLine
from tally.ids import new_id
from tally.store import lists, objects

LONGEST = 3 * 366 * 86_400  # the longest service interval (3 years: Stripe's cap)


class Reader:
    """Catalog reads of one build, each object read once."""

    def __init__(self, account: str, clock: Clock) -> None:
        self.account, self.clock = account, clock
        self._cache: dict[tuple[type, str], object] = {}
        self._components: dict[str, list[PricingPlanComponent]] = {}
        self._rates: dict[str, list[RateCardRate]] = {}

    def get(self, cls: type, object_id: str) -> Any:
        key = (cls, object_id)
        if key not in self._cache:
            self._cache[key] = objects.get(self.account, object_id, cls, self.clock)
        return self._cache[key]

    def components(self, plan_id: str, version_id: str) -> list[PricingPlanComponent]:
        """The components of a plan version (every component of the plan, read once)."""
        if plan_id not in self._components:
            every = lists.every_record(
                self.account, PricingPlanComponent, self.clock, any_of=[("pricing_plan", plan_id)]
            )
            self._components[plan_id] = every
        version: PricingPlanVersion = self.get(PricingPlanVersion, version_id)
        return in_version(self._components[plan_id], version.seq)

    def rates(self, card_id: str, version_id: str) -> list[RateCardRate]:
        if version_id not in self._rates:
            card: RateCard = self.get(RateCard, card_id)
            version: RateCardVersion = self.get(RateCardVersion, version_id)
            self._rates[version_id] = rate_cards.rates(self.account, card, version, self.clock)
        return self._rates[version_id]


def _versions(sub: PlanSubscription, low: int, high: int) -> list[tuple[str, str]]:
    """The (plan, version) pairs of the segments in force at some instant of `[low, high)` (each
    interval then keeps only what starts under its own segment: `segment_at`)."""
    out: list[tuple[str, str]] = []
    for i, seg in enumerate(sub.timeline):
        nxt = sub.timeline[i + 1].start if i + 1 < len(sub.timeline) else None
        if (i == 0 or seg.start < high) and (nxt is None or nxt > low):
            pair = (seg.pricing_plan, seg.pricing_plan_version)
            if pair not in out:
                out.append(pair)
    return out


def lines_of(
    account: str,
    sub: PlanSubscription,
    p: int,
    t: int,
    clock: Clock,
    reader: Reader | None = None,
    *,
    fees: bool = True,
) -> list[InvoiceLine]:
    """The lines tick `t` bills for one subscription (module doc); without `fees`, only its rate
    card lines (what the usage of the intervals ending in `(p, t]` amounts to now: late usage)."""
    r = reader or Reader(account, clock)
    lines: list[InvoiceLine] = []
    # an interval ending in (p, t] starts at most one interval (≤ 3 years: Stripe's cap) before p
    for plan_id, version_id in _versions(sub, p - LONGEST, t):
        for component in r.components(plan_id, version_id):
            if component.type == "rate_card":
                lines += _rate_lines(account, r, sub, component, version_id, p, t)
            elif component.type == "license_fee" and fees:
                lines += _fee_lines(r, sub, component, version_id, p, t)
    if fees:
        lines += plan_prorations.proration_lines(r, sub, p, t)
    return sorted(lines, key=_order)


def _order(ln: InvoiceLine) -> tuple[Any, ...]:
    """Lines by interval, kind, then one rate's groups in the order of their values."""
    dims = presentation.order(ln.plan.dimensions) if ln.plan is not None else ()
    rate = (ln.plan.rate_card_rate or "") if ln.plan is not None else ""
    return ln.period_start, ln.usage_type, rate, dims, ln.id


def _rate_lines(
    account: str,
    r: Reader,
    sub: PlanSubscription,
    component: PricingPlanComponent,
    version_id: str,
    p: int,
    t: int,
) -> list[InvoiceLine]:
    card: RateCard = r.get(RateCard, component.target)
    out = []
    for i in rules.usage_intervals(
        sub.activated_at, sub.canceled_at, card.interval, card.interval_count, p, t
    ):
        for span in rate_spans(r, sub, card, i):
            if span.segment.pricing_plan_version != version_id:
                continue  # another version priced this part of the interval
            out += _span_lines(account, r, sub, card, component, version_id, i, span)
    return out


def _span_lines(
    account: str,
    r: Reader,
    sub: PlanSubscription,
    card: RateCard,
    component: PricingPlanComponent,
    version_id: str,
    i: rules.Interval,
    span: Span,
) -> list[InvoiceLine]:
    out = []
    whole = (span.start, span.end) == (i.start, i.end)
    for rate in r.rates(card.id, component.target_version or card.live_version):
        item: MeteredItem = r.get(MeteredItem, rate.metered_item)
        meter: Meter = r.get(Meter, item.meter)
        model = price_model(rate.unit_amount, rate.tiers, rate.tiering_mode, rate.divide_by, rate.round)
        groups = item_usage.grouped_usage(account, item, meter, sub.customer, span.start, span.end)
        for _, quantity in groups:
            limits.check_usage(f"The usage of {item.id}", quantity)
        priced = presentation.split(model, [quantity for _, quantity in groups])
        for (group, quantity), (billed, amount) in zip(groups, priced, strict=True):
            if quantity <= 0:
                continue  # no usage in this span (or this group)
            limits.check_amount(f"The amount of {rate.id}", amount)
            described = f"{billed} × {item.display_name}"
            if group:
                described += f" ({presentation.label(group)})"
            if not whole:  # two versions price this interval: say which part this one priced
                described += (
                    f" ({partial_periods.when(span.start)} – {partial_periods.when(span.end)},"
                    f" plan version {version_id})"
                )
            plan = PlanLine(
                sub.id,
                version_id,
                rate_card=card.id,
                rate_card_rate=rate.id,
                metered_item=item.id,
                dimensions=group,
            )
            out.append(
                InvoiceLine(
                    id=new_id("il"),
                    subscription_item="",
                    price="",
                    product="",
                    usage_type=RATE_CARD,
                    quantity=billed,
                    amount=amount,
                    period_start=span.start,
                    period_end=span.end,
                    description=described,
                    currency=card.currency,
                    unit_amount=rate.unit_amount,
                    plan=plan,
                )
            )
    return out


@dataclass(frozen=True)
class Span:
    """A part `[start, end)` of a service interval priced by one rate card version: the one the
    plan version of `segment` (the first segment of the part) pins."""

    start: int
    end: int
    segment: Segment


def rate_spans(r: Reader, sub: PlanSubscription, card: RateCard, i: rules.Interval) -> list[Span]:
    """How a mid-interval `modify` splits a rate card's service interval `i`: usage before the
    change is priced at the old version's rates, after it at the new one's (Stripe's
    `billing_mode=flexible` switch of a metered price: the old price bills usage up to the
    change, the new one from it). Parts whose segments pin the same rate card version are one
    part (tiers do not reset when the rates do not change); segments without the card bill none."""
    out: list[Span] = []
    pinned_before: str | None = None
    for k, segment in enumerate(sub.timeline):
        nxt = sub.timeline[k + 1].start if k + 1 < len(sub.timeline) else None
        start = i.start if k == 0 else max(segment.start, i.start)
        end = i.end if nxt is None else min(nxt, i.end)
        if start >= end:
            continue
        pinned = next(
            (
                c.target_version or card.live_version
                for c in r.components(segment.pricing_plan, segment.pricing_plan_version)
                if c.type == "rate_card" and c.target == card.id
            ),
            None,
        )
        if pinned is not None and pinned == pinned_before and out and out[-1].end == start:
            out[-1] = replace(out[-1], end=end)
        elif pinned is not None:
            out.append(Span(start, end, segment))
        pinned_before = pinned
    return out


def _fee_lines(
    r: Reader,
    sub: PlanSubscription,
    component: PricingPlanComponent,
    version_id: str,
    p: int,
    t: int,
) -> list[InvoiceLine]:
    fee: LicenseFee = r.get(LicenseFee, component.target)
    fee_version: LicenseFeeVersion = r.get(LicenseFeeVersion, component.target_version or fee.live_version)
    model = price_model(
        fee_version.unit_amount,
        fee_version.tiers,
        fee_version.tiering_mode,
        fee_version.divide_by,
        fee_version.round,
    )
    out = []
    for i in rules.fee_intervals(sub.activated_at, sub.canceled_at, fee.interval, fee.interval_count, p, t):
        segment = sub.segment_at(i.start)
        if segment.pricing_plan_version != version_id:
            continue
        if sub.collected_at_commit and i.start == sub.activated_at:
            continue  # its subscribe intent collected it (`first_fees`)
        quantity = next((q.quantity for q in segment.quantities if q.component == component.id), 1)
        billed = billable_quantity(model, quantity)
        amount = limits.check_amount(f"The amount of {fee.id}", line_amount(model, billed))
        out.append(
            InvoiceLine(
                id=new_id("il"),
                subscription_item="",
                price="",
                product="",
                usage_type=LICENSE_FEE,
                quantity=billed,
                amount=amount,
                period_start=i.start,
                period_end=i.end,
                description=f"{billed} × {fee.display_name}",
                currency=fee.currency,
                unit_amount=fee_version.unit_amount,
                plan=PlanLine(
                    sub.id,
                    version_id,
                    license_fee=fee.id,
                    license_fee_version=fee_version.id,
                    licensed_item=fee.licensed_item,
                ),
            )
        )
    return out


def change_fees(
    account: str, sub: PlanSubscription, at: int, clock: Clock
) -> tuple[PlanSubscription, list[InvoiceLine]]:
    """The proration lines of `sub`'s change at `at` (a modify's segment, or its cancel) that its
    intent's commit collects, and `sub` marked so that no tick bills them again."""
    return plan_prorations.collected(Reader(account, clock), sub, at)


def first_fees(account: str, sub: PlanSubscription, clock: Clock) -> list[InvoiceLine]:
    """The license fee lines of `sub`'s first service interval (each fee's own), what a subscribe
    intent with `collect_at: on_effective_at` collects at commit."""
    r = Reader(account, clock)
    first = sub.timeline[0]
    uncollected = replace(sub, collected_at_commit=False)
    lines: list[InvoiceLine] = []
    for component in r.components(first.pricing_plan, first.pricing_plan_version):
        if component.type == "license_fee":
            at = sub.activated_at
            lines += _fee_lines(r, uncollected, component, first.pricing_plan_version, at, at + 1)
    return lines
