"""Partial-period behaviours of billing intent actions (v2 `overrides.partial_period_behaviors`)
and the license fee prorations they make — pure rules, no I/O.

A pricing plan subscription's service intervals count from its `activated_at`, each component
with its own service cycle (`tally.domain.cadence_billing`), so a subscribe always starts an
interval; a `modify` or a `deactivate` may take effect inside one. License fees bill each interval
in advance and in full, priced by the segment in force at its start. When a change takes effect
at `M` strictly inside a fee's interval `[s, e)`:

- `credit_proration_behavior: prorated` credits the unused part of what the previous segment's
  fee billed for that interval: −(amount × (e − M) / (e − s)); `none` credits nothing;
- `debit_proration_behavior: prorated` debits the remaining part of the new segment's fee:
  +(amount × (e − M) / (e − s)); `none` debits nothing (the new fee starts at its next interval).

`amount` is the interval's line amount as billed (price × quantity, rounded once), the fraction
is in seconds, and each proration is rounded once, half-up, to integer minor units (a credit is
the negated rounded magnitude): 20.00 for a 31-day month, 16 days left → 2000 × 16/31 = 1032.26
→ 1032. A fee whose version and quantity do not change is not prorated. Defaults are Stripe's
private-preview SDK's: subscribe debits `prorated`, modify credits and debits `prorated`,
deactivate credits `none`; a recurring credit grant's `create_behavior` is `full_credits`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from tally.domain.cadence_billing import Interval, intervals_between
from tally.domain.intents import PlanSubscription

PRORATION = ("none", "prorated")
CREATE_BEHAVIOR = ("full_credits", "none")
# The license fee fields each action type takes, and the override types it takes
LICENSE_FEE_FIELDS = {
    "subscribe": ("debit_proration_behavior",),
    "modify": ("credit_proration_behavior", "debit_proration_behavior"),
    "deactivate": ("credit_proration_behavior",),
}
OVERRIDE_TYPES = {
    "subscribe": ("license_fee", "recurring_credit_grant"),
    "modify": ("license_fee", "recurring_credit_grant"),
    "deactivate": ("license_fee",),
}
DEFAULTS = {
    "subscribe": {"credit": "none", "debit": "prorated", "grants": "full_credits"},
    "modify": {"credit": "prorated", "debit": "prorated", "grants": "full_credits"},
    "deactivate": {"credit": "none", "debit": "none", "grants": "full_credits"},
}


def behaviors(
    action_type: str, credit: str | None, debit: str | None, grants: str | None
) -> tuple[str, str, str]:
    """(credit, debit, create_behavior) of an action: what it gave, else its type's default."""
    d = DEFAULTS[action_type]
    return credit or d["credit"], debit or d["debit"], grants or d["grants"]


def prorate(amount: int, remaining: int, whole: int) -> int:
    """`amount` × `remaining` / `whole` (seconds), rounded once, half-up (away from zero)."""
    if whole <= 0 or remaining <= 0:
        return 0
    exact = Decimal(abs(amount)) * remaining / whole
    rounded = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return -rounded if amount < 0 else rounded


def interval_around(anchor: int, interval: str, count: int, at: int) -> Interval | None:
    """The service interval counted from `anchor` that `at` falls strictly inside (None when `at`
    is an interval boundary or before `anchor`: nothing is partial there)."""
    for i in intervals_between(anchor, interval, count, at, at + 1):
        if i.start < at < i.end:
            return i
    return None


@dataclass(frozen=True)
class FeeCharge:
    """What one license fee of a segment bills for a full service interval."""

    license_fee: str
    license_fee_version: str
    licensed_item: str
    pricing_plan_version: str
    interval: str
    interval_count: int
    quantity: int
    amount: int  # minor units, the full interval's line amount
    display_name: str
    currency: str
    unit_amount: Decimal | None = None


@dataclass(frozen=True)
class Proration:
    """One proration line: `charge` (the fee it concerns), `credit` (unused time on the old fee)
    or debit (remaining time on the new), `span` = [at, interval end), `amount` signed."""

    charge: FeeCharge
    credit: bool
    span: Interval
    amount: int


def prorations(
    anchor: int,
    at: int,
    old: Sequence[FeeCharge],
    new: Sequence[FeeCharge],
    credit: str,
    debit: str,
) -> list[Proration]:
    """The proration lines of a change at `at` (module doc) from `old`'s fees to `new`'s, each
    fee's interval counted from `anchor` (the subscription's `activated_at`)."""
    same = {(c.license_fee_version, c.quantity) for c in old} & {
        (c.license_fee_version, c.quantity) for c in new
    }
    out: list[Proration] = []
    for charges, is_credit, behavior in ((old, True, credit), (new, False, debit)):
        if behavior != "prorated":
            continue
        for c in charges:
            if (c.license_fee_version, c.quantity) in same:
                continue  # unchanged: nothing to prorate
            i = interval_around(anchor, c.interval, c.interval_count, at)
            if i is None:
                continue
            amount = prorate(c.amount, i.end - at, i.end - i.start)
            if amount:
                out.append(Proration(c, is_credit, Interval(at, i.end), -amount if is_credit else amount))
    return out


def describe(p: Proration) -> str:
    """Stripe's proration wording: "Unused time on 1 × Fee after 16 Jan 2026" (a credit) or
    "Remaining time on 1 × Fee after 16 Jan 2026" (a debit)."""
    what = "Unused time" if p.credit else "Remaining time"
    return f"{what} on {p.charge.quantity} × {p.charge.display_name} after {when(p.span.start)}"


def when(instant: int) -> str:
    """A UTC date for a line's description ("16 Jan 2026", with the time when not midnight)."""
    moment = dt.datetime.fromtimestamp(instant, dt.UTC)
    day = f"{moment.day} {moment:%b %Y}"
    return day if moment.time() == dt.time() else f"{day} {moment:%H:%M:%S} UTC"


def grant_create_behavior(sub: PlanSubscription, at: int) -> str:
    """For service-action grants (branch `actions`): the `recurring_credit_grant.create_behavior`
    of the segment in force at `at`. A service interval that a segment starts strictly inside (a
    `modify` effective mid-interval that adds or changes a service action) grants its credits for
    the rest of that interval when this is `full_credits`, and none when it is `none`; an
    interval starting at a segment's start is never partial."""
    return sub.segment_at(at).credit_grant_create
