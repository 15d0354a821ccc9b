"""The application of billing credits to an invoice (`tally.domain.credit_application`): Stripe's order of
grants (one test per tie-break), eligibility, lines covered in order, and the invoice's cap.
Amounts are hand-computed in cents."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.domain.credit_application import (
    MAX_ALLOCATIONS,
    PROMOTIONAL,
    Allocation,
    GrantState,
    LineState,
    allocate,
    by_grant,
    by_line,
    eligible,
    spent,
)

END = 1_700_000_000  # the invoice's period_end
AT = END + 3600  # finalized after the grace period


def grant(gid: str, remaining: int = 1000, **kw: object) -> GrantState:
    fields: dict = {"currency": "usd", "created": 100, "effective_at": 100, **kw}
    return GrantState(id=gid, remaining=remaining, **fields)


def metered(lid: str, amount: int, price: str = "price_m") -> LineState:
    return LineState(id=lid, price=price, amount=amount, metered=True)


def first_taken(*grants: GrantState) -> str:
    """GIVEN grants that could each cover a 100-cent line, WHEN the invoice finalizes, THEN the
    grant that covers it (100 from one grant, nothing from the other)."""
    taken = allocate(grants, [metered("il_1", 100)], currency="usd", period_end=END, at=AT)
    assert len(taken) == 1 and taken[0].amount == 100
    return taken[0].grant


# -- the ordering table: one test per tie-break -------------------------------------------------
def test_priority_first_lower_number_wins() -> None:
    assert first_taken(grant("a", priority=50), grant("b", priority=0)) == "b"
    assert first_taken(grant("a", priority=1), grant("b", priority=100, expires_at=AT + 10)) == "a"


def test_then_sooner_expiry_first_never_expiring_last() -> None:
    later, sooner = grant("a", expires_at=END + 900_000), grant("b", expires_at=END + 7200)
    assert first_taken(later, sooner) == "b"
    assert first_taken(grant("c"), later) == "a"  # c never expires: last


def test_then_promotional_before_paid() -> None:
    assert first_taken(grant("a", category="paid"), grant("b", category=PROMOTIONAL)) == "b"
    # expiry decides before category
    assert (
        first_taken(grant("c", category="paid", expires_at=AT + 10), grant("d", category=PROMOTIONAL)) == "c"
    )


def test_then_earlier_effective_at() -> None:
    assert first_taken(grant("a", effective_at=500), grant("b", effective_at=200)) == "b"
    # category decides before effective_at
    assert first_taken(grant("c", effective_at=1), grant("d", effective_at=900, category=PROMOTIONAL)) == "d"


def test_then_earlier_created() -> None:
    assert (
        first_taken(grant("a", created=300, effective_at=300), grant("b", created=200, effective_at=300))
        == "b"
    )
    # effective_at decides before created
    assert (
        first_taken(grant("c", created=9, effective_at=400), grant("d", created=50, effective_at=300)) == "d"
    )


def test_then_id_so_the_order_is_total() -> None:
    assert first_taken(grant("credgr_b"), grant("credgr_a")) == "credgr_a"


# -- eligibility ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "ok"),
    [
        ({}, True),
        ({"currency": "eur"}, False),
        ({"remaining": 0}, False),
        ({"voided": True}, False),
        ({"effective_at": END}, True),  # period_end ≥ effective_at
        ({"effective_at": END + 1}, False),
        ({"expires_at": END + 1}, False),  # expired before the invoice finalizes (at = END + 3600)
        ({"expires_at": END}, False),  # period_end < expires_at fails: expires inside the period
        ({"expires_at": END - 10}, False),
        ({"expires_at": AT + 1}, True),
        ({"effective_at": None, "created": END + 1}, False),  # effective since creation
    ],
)
def test_eligibility(changes: dict, ok: bool) -> None:
    g = grant(
        "g", **{k: v for k, v in changes.items() if k != "remaining"}, remaining=changes.get("remaining", 10)
    )
    assert eligible(g, "usd", END, AT) is ok


# -- lines, scopes, caps ------------------------------------------------------------------------
def test_lines_covered_in_order_and_grants_in_order_across_lines() -> None:
    # GIVEN a (priority 0) 250 and b (priority 50) 1000; lines 200, 300, licensed 5000
    lines = [metered("il_1", 200), metered("il_2", 300), LineState("il_3", "price_l", 5000, metered=False)]
    got = allocate(
        [grant("b"), grant("a", remaining=250, priority=0)], lines, currency="usd", period_end=END, at=AT
    )
    # THEN line 1 takes 200 of a; line 2 takes a's last 50, then 250 of b; the licensed line nothing
    assert got == [Allocation("a", "il_1", 200), Allocation("a", "il_2", 50), Allocation("b", "il_2", 250)]
    assert by_grant(got) == {"a": 250, "b": 250}
    assert by_line(got) == {"il_1": 200, "il_2": 300}


def test_prices_scope_covers_only_its_prices() -> None:
    scoped = grant("s", priority=0, prices=frozenset({"price_b"}))
    lines = [metered("il_a", 400, "price_a"), metered("il_b", 300, "price_b")]
    got = allocate([scoped, grant("m", remaining=100)], lines, currency="usd", period_end=END, at=AT)
    assert got == [Allocation("m", "il_a", 100), Allocation("s", "il_b", 300)]


def test_credits_never_exceed_the_invoice_total() -> None:
    # GIVEN metered 500 and a proration credit of -200: the total before credits is 300
    lines = [metered("il_1", 500), LineState("il_2", "price_l", -200, metered=False)]
    got = allocate([grant("g", remaining=1000)], lines, currency="usd", period_end=END, at=AT, limit=300)
    assert got == [Allocation("g", "il_1", 300)]


def test_spent_grants_feed_the_next_invoice() -> None:
    g = grant("g", remaining=700)
    first = allocate([g], [metered("il_1", 500)], currency="usd", period_end=END, at=AT)
    after = spent([g], first)
    assert after[0].remaining == 200
    second = allocate(after, [metered("il_2", 500)], currency="usd", period_end=END, at=AT)
    assert second == [Allocation("g", "il_2", 200)]


def test_nothing_without_metered_lines_or_grants() -> None:
    assert allocate([], [metered("il_1", 100)], currency="usd", period_end=END, at=AT) == []
    lic = [LineState("il_1", "p", 100, metered=False), metered("il_2", 0)]
    assert allocate([grant("g")], lic, currency="usd", period_end=END, at=AT) == []


def test_at_most_max_allocations_pairs() -> None:
    lines = [metered(f"il_{i:02d}", 10) for i in range(MAX_ALLOCATIONS + 3)]
    got = allocate([grant("g")], lines, currency="usd", period_end=END, at=AT)
    assert len(got) == MAX_ALLOCATIONS and sum(a.amount for a in got) == 10 * MAX_ALLOCATIONS


# -- invariants (property) --------------------------------------------------------------------------

grant_st = st.builds(
    lambda i, rem, pri, exp, cat, eff, prices: GrantState(
        id=f"g{i}",
        currency="usd",
        remaining=rem,
        priority=pri,
        expires_at=exp,
        category=cat,
        effective_at=eff,
        created=eff,
        prices=prices,
    ),
    st.integers(0, 10**6),
    st.integers(0, 500),
    st.sampled_from([0, 50, 100]),
    st.sampled_from([None, END - 1, END, AT + 1, AT + 10]),
    st.sampled_from(["paid", PROMOTIONAL]),
    st.sampled_from([0, END, END + 1]),
    st.sampled_from([None, frozenset({"p1"}), frozenset({"p2", "p3"})]),
)
line_st = st.builds(
    lambda i, price, amount, m: LineState(f"il_{i}", price, amount, m),
    st.integers(0, 10**6),
    st.sampled_from(["p1", "p2", "p3"]),
    st.integers(-300, 600),
    st.booleans(),
)


@given(
    st.lists(grant_st, max_size=6, unique_by=lambda g: g.id),
    st.lists(line_st, max_size=8, unique_by=lambda ln: ln.id),
    st.one_of(st.none(), st.integers(-100, 3000)),
)
def test_allocation_never_overdraws_and_covers_what_it_can(
    grants: list[GrantState], lines: list[LineState], limit: int | None
) -> None:
    got = allocate(grants, lines, currency="usd", period_end=END, at=AT, limit=limit)
    by_id = {g.id: g for g in grants}
    per_grant, per_line = by_grant(got), by_line(got)
    amounts = {ln.id: ln for ln in lines}
    # never more from a grant than is left, on a line than its amount, nor on the invoice than the cap
    assert all(a.amount > 0 for a in got) and len(got) <= MAX_ALLOCATIONS
    assert all(per_grant[g] <= by_id[g].remaining and eligible(by_id[g], "usd", END, AT) for g in per_grant)
    assert all(amounts[ln].metered and per_line[ln] <= amounts[ln].amount for ln in per_line)
    assert all(by_id[a.grant].covers(amounts[a.line].price) for a in got)
    cap = limit if limit is not None else sum(ln.amount for ln in lines if ln.metered and ln.amount > 0)
    assert sum(per_grant.values()) <= max(cap, 0)
    # and it stops only when the cap or the pair limit is reached, or no usable grant is left for a line
    if sum(per_grant.values()) < max(cap, 0) and len(got) < MAX_ALLOCATIONS:
        for ln in lines:
            short = ln.metered and per_line.get(ln.id, 0) < ln.amount
            usable = [
                g
                for g in grants
                if eligible(g, "usd", END, AT) and g.covers(ln.price) and per_grant.get(g.id, 0) < g.remaining
            ]
            assert not (short and usable), (ln, usable)
