"""The license fee proration lines of a pricing plan subscription's changes (v2), per tick.

Tick `T` (closing `[P, T)`) bills the prorations of every change that took effect in `[P, T)`:
each segment of the timeline starting there (a `modify`: the previous segment's fees credited,
the new one's debited, by the segment's `credit_proration` / `debit_proration`), and a cancel
there (`deactivate`: the fees of the segment in force credited when its
`cancel_credit_proration` is `prorated`). The rules and rounding: `tally.domain.partial_periods`.
Each line names the plan version and the license fee version it prorates, its `period` is the
prorated part `[M, interval end)`, and its description says "Unused time on …" (a credit) or
"Remaining time on …" (a debit), as Stripe's prorations do.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from tally.domain import limits
from tally.domain import partial_periods as rules
from tally.domain.catalog import price_model
from tally.domain.intents import PlanSubscription, Segment
from tally.domain.plans import LicenseFee, LicenseFeeVersion, PricingPlanComponent
from tally.domain.pricing import billable_quantity, line_amount
from tally.domain.records import LICENSE_FEE, InvoiceLine, PlanLine
from tally.ids import new_id


class Catalog(Protocol):
    """The catalog reads of one build (`tally.billing.plan_lines.Reader`)."""

    def get(self, cls: type, object_id: str) -> Any: ...

    def components(self, plan_id: str, version_id: str) -> list[PricingPlanComponent]: ...


def charges(r: Catalog, segment: Segment) -> list[rules.FeeCharge]:
    """What each license fee of `segment` bills for one full service interval."""
    out = []
    for component in r.components(segment.pricing_plan, segment.pricing_plan_version):
        if component.type != "license_fee":
            continue
        fee: LicenseFee = r.get(LicenseFee, component.target)
        version: LicenseFeeVersion = r.get(LicenseFeeVersion, component.target_version or fee.live_version)
        model = price_model(
            version.unit_amount, version.tiers, version.tiering_mode, version.divide_by, version.round
        )
        quantity = next((q.quantity for q in segment.quantities if q.component == component.id), 1)
        billed = billable_quantity(model, quantity)
        amount = limits.check_amount(f"The amount of {fee.id}", line_amount(model, billed))
        out.append(
            rules.FeeCharge(
                license_fee=fee.id,
                license_fee_version=version.id,
                licensed_item=fee.licensed_item,
                pricing_plan_version=segment.pricing_plan_version,
                interval=fee.interval,
                interval_count=fee.interval_count,
                quantity=billed,
                amount=amount,
                display_name=fee.display_name,
                currency=fee.currency,
                unit_amount=version.unit_amount,
            )
        )
    return out


def proration_lines(r: Catalog, sub: PlanSubscription, p: int, t: int) -> list[InvoiceLine]:
    """The proration lines of `sub`'s changes effective in `[p, t)` (module doc)."""
    found: list[rules.Proration] = []
    cancel = sub.canceled_at
    for k in range(1, len(sub.timeline)):
        segment = sub.timeline[k]
        if not p <= segment.start < t or (cancel is not None and segment.start >= cancel):
            continue
        if segment.prorations_collected:
            continue  # its intent's commit invoiced them (`collected`)
        found += rules.prorations(
            sub.activated_at,
            segment.start,
            charges(r, sub.timeline[k - 1]),
            charges(r, segment),
            segment.credit_proration,
            segment.debit_proration,
        )
    credit = sub.cancel_credit_proration == "prorated" and not sub.cancel_credit_collected
    if cancel is not None and p <= cancel < t and credit:
        last = charges(r, sub.segment_at(cancel - 1))
        found += rules.prorations(sub.activated_at, cancel, last, [], "prorated", "none")
    return [_line(sub, x) for x in found]


def collected(r: Catalog, sub: PlanSubscription, at: int) -> tuple[PlanSubscription, list[InvoiceLine]]:
    """What a commit collects of `sub`'s change at `at` (`collect_at: on_effective_at`, effective
    by then): its proration lines, and `sub` marked so that no tick bills them again."""
    # only the change at `at` is in [at, at + 1), so clearing every mark finds just its lines
    fresh = replace(
        sub,
        timeline=tuple(replace(s, prorations_collected=False) for s in sub.timeline),
        cancel_credit_collected=False,
    )
    lines = proration_lines(r, fresh, at, at + 1)
    marked = replace(
        sub,
        timeline=tuple(
            replace(s, prorations_collected=s.prorations_collected or s.start == at) for s in sub.timeline
        ),
        cancel_credit_collected=sub.cancel_credit_collected or sub.canceled_at == at,
    )
    return marked, lines


def _line(sub: PlanSubscription, x: rules.Proration) -> InvoiceLine:
    c = x.charge
    return InvoiceLine(
        id=new_id("il"),
        subscription_item="",
        price="",
        product="",
        usage_type=LICENSE_FEE,
        quantity=c.quantity,
        amount=x.amount,
        period_start=x.span.start,
        period_end=x.span.end,
        description=rules.describe(x),
        currency=c.currency,
        unit_amount=c.unit_amount,
        proration=True,
        plan=PlanLine(
            sub.id,
            c.pricing_plan_version,
            license_fee=c.license_fee,
            license_fee_version=c.license_fee_version,
            licensed_item=c.licensed_item,
        ),
    )
