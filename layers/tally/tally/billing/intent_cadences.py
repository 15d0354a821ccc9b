"""The cadence of a billing intent (v2): an existing one (`cadence`), or the one its commit creates
(`cadence_data`).

With `cadence_data`, the intent is created with the cadence's id chosen and its billing cycle
resolved at the customer's clock (unset fields take that instant, as `POST /v2/billing/cadences`
does), the payer checked (an active billing profile, or `billing_profile_data.customer` for a
profile the commit creates), and nothing else written. Until commit, reserve resolves effective
instants against that cycle (`cadence_of`: the cadence as it would be). Commit writes the cadence
(and the profile) in ITS transaction (`writes`): the intent's own version check makes it exactly
once — a second commit fails that check, a failed transaction wrote nothing and a retry writes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.billing import cadences
from tally.billing.clocks import clock_for
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain.cadences import BillingCycle, BillingProfile, Cadence, anchor, resolve
from tally.domain.intents import CadenceData, Intent
from tally.domain.records import Customer
from tally.errors import InvalidRequest, NotFound
from tally.ids import new_id
from tally.settings import settings
from tally.store import objects
from tally.store.changes import Change, Write


@dataclass(frozen=True)
class CadenceRequest:
    """`cadence_data` as asked: a cycle and a payer (exactly one of the two)."""

    billing_cycle: BillingCycle
    billing_profile: str | None = None
    customer: str | None = None  # `billing_profile_data.customer`


def existing(account: str, cadence_id: str, clock: Clock) -> Cadence:
    """An active cadence an intent names (400 `resource_missing` / `billing_cadence_canceled`)."""
    try:
        cadence = cadences.retrieve_cadence(account, cadence_id, clock)
    except NotFound as exc:
        raise InvalidRequest(exc.message, code="resource_missing", param="cadence") from None
    if cadence.status != "active":
        raise InvalidRequest(
            "This billing cadence is canceled.", code="billing_cadence_canceled", param="cadence"
        )
    return cadence


def planned(account: str, asked: CadenceRequest, request_clock: Clock) -> tuple[CadenceData, Clock]:
    """The cadence an intent's commit will create, checked now; and its customer's clock."""
    if asked.billing_profile is not None:
        param = "cadence_data.payer.billing_profile"
        profile = referenced(account, asked.billing_profile, BillingProfile, param, request_clock)
        if profile.status != "active":
            raise InvalidRequest("This billing profile is inactive.", param=param)
        customer, profile_id, new_profile = profile.customer, profile.id, False
    else:
        param = "cadence_data.payer.billing_profile_data.customer"
        customer = referenced(account, asked.customer or "", Customer, param, request_clock).id
        profile_id, new_profile = new_id("bprof", 24), True
    clock = clock_for(account, customer, request_clock)
    data = CadenceData(
        cadence=new_id("bc", 24),
        billing_profile=profile_id,
        customer=customer,
        billing_cycle=resolve(asked.billing_cycle, clock.now),
        new_profile=new_profile,
    )
    return data, clock


def cadence_of(account: str, intent: Intent, clock: Clock) -> Cadence:
    """The intent's cadence: the stored one, or — before a `cadence_data` commit — the one the
    commit would create at `clock`'s now (never stored)."""
    if intent.cadence_data is None or intent.status == "committed":
        return existing(account, intent.cadence, clock)
    return _made(account, intent.cadence_data, clock)


def _made(account: str, data: CadenceData, clock: Clock) -> Cadence:
    customer = objects.get(account, data.customer, Customer, clock)
    return Cadence(
        id=data.cadence,
        created=clock.now,
        livemode=settings().livemode,
        billing_profile=data.billing_profile,
        customer=data.customer,
        cycle=data.billing_cycle,
        anchor=anchor(data.billing_cycle, clock.now),
        test_clock=customer.test_clock,
    )


def writes(account: str, intent: Intent, clock: Clock) -> list[Write]:
    """What a `cadence_data` commit creates, for its transaction: the cadence (and its profile,
    from `billing_profile_data`), each a conditional create. Nothing for an existing cadence."""
    data = intent.cadence_data
    if data is None:
        return []
    out: list[Write] = []
    if data.new_profile:
        profile = BillingProfile(
            id=data.billing_profile, created=clock.now, livemode=settings().livemode, customer=data.customer
        )
        out.append(Write(Change(profile, None, {})))
    else:  # still the customer's and active (it may have changed since the intent was created)
        referenced(account, data.billing_profile, BillingProfile, "cadence_data.payer.billing_profile", clock)
    out.append(Write(Change(_made(account, data, clock), None, {})))
    return out
