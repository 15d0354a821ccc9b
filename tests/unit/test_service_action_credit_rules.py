"""Credits on a cadence invoice's lines (issue 14 point 5, branch `actions`): a line is matched by
its service interval, and a service action's grant (`held`) still applies after its `expires_at`
to the interval it was granted for — the tick that invoices that interval comes after its end.
Amounts in cents, by hand."""

from __future__ import annotations

from tally.domain.credit_application import GrantState, LineState, allocate, covers_period, usable

JAN, FEB, MAR = 1_767_225_600, 1_769_904_000, 1_772_323_200  # 2026-01-01, 02-01, 03-01 UTC
AT = FEB + 3600  # the tick's invoice finalizes an hour after the tick


def grant(gid: str, start: int, end: int | None, held: bool = True, remaining: int = 500) -> GrantState:
    return GrantState(
        id=gid,
        currency="usd",
        remaining=remaining,
        effective_at=start,
        expires_at=end,
        created=start,
        held=held,
    )


def line(lid: str, amount: int, start: int, end: int, item: str = "bli_a") -> LineState:
    return LineState(id=lid, price=item, amount=amount, metered=True, period=(start, end))


def test_a_grant_covers_the_service_interval_it_overlaps_and_no_other():
    january = grant("g_jan", JAN, FEB)
    assert covers_period(january, (JAN, FEB))
    assert not covers_period(january, (FEB, MAR))  # starts at its expiry
    assert not covers_period(grant("g_feb", FEB, MAR), (JAN, FEB))  # ends at its start
    # Stripe: a grant effective mid-period "is applicable for the entirety of that period"
    assert covers_period(grant("g_mid", JAN + 15 * 86_400, None), (JAN, FEB))


def test_a_service_action_grant_applies_after_its_expiry_to_its_own_interval():
    # GIVEN January's 5.00 grant (expired at Feb 1) and February's, and January's usage line of
    # 26.00 invoiced at the Feb 1 tick, finalized at 01:00
    grants = [grant("g_jan", JAN, FEB), grant("g_feb", FEB, MAR)]
    taken = allocate(grants, [line("il_1", 2600, JAN, FEB)], currency="usd", period_end=FEB, at=AT)
    # THEN January's grant covers 5.00 of it; February's none (another interval)
    assert [(a.grant, a.line, a.amount) for a in taken] == [("g_jan", "il_1", 500)]


def test_a_grant_made_by_the_api_does_not_apply_once_expired():
    api_grant = grant("g_api", JAN, FEB, held=False)
    assert usable(grant("g_jan", JAN, FEB), "usd", AT) and not usable(api_grant, "usd", AT)
    assert allocate([api_grant], [line("il_1", 2600, JAN, FEB)], currency="usd", period_end=FEB, at=AT) == []


def test_a_billable_items_scope_covers_only_those_metered_items_lines():
    scoped = GrantState(
        id="g",
        currency="usd",
        remaining=500,
        effective_at=JAN,
        expires_at=FEB,
        held=True,
        prices=frozenset({"bli_a"}),
    )
    lines = [line("il_b", 300, JAN, FEB, "bli_b"), line("il_a", 200, JAN, FEB, "bli_a")]
    taken = allocate([scoped], lines, currency="usd", period_end=FEB, at=AT)
    assert [(a.line, a.amount) for a in taken] == [("il_a", 200)]


def test_a_plan_subscription_is_due_at_activation_then_at_its_next_start_and_again_after_a_modify():
    from dataclasses import replace

    from tally.domain.intents import PlanSubscription, Segment

    sub = PlanSubscription(
        id="bpps_1",
        created=JAN,
        livemode=False,
        billing_cadence="bc_1",
        customer="cus_1",
        activated_at=JAN,
        timeline=(Segment(JAN, "bpp_1", "bppv_1"),),
    )
    assert sub.due_at == JAN  # never looked at: its first interval starts at activation
    # (its activation announced: the due index holds the sooner of servicing events and grants)
    seen = replace(sub, grants_through=JAN, grants_next=FEB, grants_mark=sub.mark, announced="active")
    assert seen.due_at == FEB
    assert replace(seen, announced="pending").due_at == JAN  # activation not yet announced
    # a modify from mid-February: due at the earlier of its start and the next interval's
    modify = Segment(FEB + 14 * 86_400, "bpp_1", "bppv_2")
    assert replace(seen, timeline=(*seen.timeline, modify)).due_at == FEB
    february = replace(seen, grants_through=FEB, grants_next=MAR)
    assert replace(february, timeline=(*february.timeline, modify)).due_at == FEB + 14 * 86_400
    # nothing left to grant: out of the due index; on a test clock, never in it (the advance runs it)
    assert replace(seen, grants_next=None).due_at is None
    assert replace(sub, test_clock="clock_1").due_at is None
