"""Pure rules of branch v2events: when a pricing plan subscription's servicing events are due
(`domain.v2_events`), how presentation groups split a rate's price (`domain.presentation`), and how
a license fee is spread over its service interval (`domain.revenue_fees`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tally.domain import presentation, revenue, revenue_fees, v2_events
from tally.domain.catalog import RateTier, price_model

ACT, CAN = v2_events.SERVICING_ACTIVATED, v2_events.SERVICING_CANCELED


def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


def test_servicing_events_are_due_activation_then_cancel_each_once():
    assert v2_events.next_servicing("pending", 100, None) == 100
    assert v2_events.announcements("pending", 100, None, 99) == ("pending", [])
    assert v2_events.announcements("pending", 100, None, 100) == ("active", [ACT])
    assert v2_events.next_servicing("active", 100, None) is None
    assert v2_events.next_servicing("active", 100, 200) == 200
    assert v2_events.announcements("pending", 100, 200, 500) == ("canceled", [ACT, CAN])
    assert v2_events.announcements("active", 100, 200, 500) == ("canceled", [CAN])
    assert v2_events.announcements("canceled", 100, 200, 500) == ("canceled", [])
    # canceled at its activation instant: never active, only the cancel is announced
    assert v2_events.next_servicing("pending", 100, 100) == 100
    assert v2_events.announcements("pending", 100, 100, 100) == ("canceled", [CAN])


GRADUATED = price_model(
    None, (RateTier(Decimal(100), Decimal(0)), RateTier(None, Decimal(2))), "graduated", None, None
)


def test_groups_split_a_graduated_price_by_cumulative_differences():
    # 80 + 50 + 5 = 135: (135 − 100) × 2 = 70 → a 0, b 60, none 10
    assert presentation.split(GRADUATED, [80, 50, 5]) == [(80, 0), (50, 60), (5, 10)]
    assert presentation.split(GRADUATED, [0, 120]) == [(0, 0), (120, 40)]


@given(st.lists(st.integers(min_value=-5, max_value=10_000), min_size=1, max_size=6))
def test_groups_always_add_up_to_the_price_of_the_total(quantities):
    total = sum(max(q, 0) for q in quantities)
    parts = presentation.split(GRADUATED, quantities)
    assert sum(a for _, a in parts) == revenue.rated(GRADUATED, total)
    assert sum(b for b, _ in parts) == total


def test_group_labels_and_order():
    group = presentation.group_of(("model", "region"), ("a", None), ("region", "model"))
    assert group == (("region", None), ("model", "a"))
    assert presentation.label(group) == "region: none, model: a"
    assert sorted([(("m", None),), (("m", "b"),), (("m", "a"),)], key=presentation.order) == [
        (("m", "a"),),
        (("m", "b"),),
        (("m", None),),
    ]


def test_a_fee_is_spread_by_seconds_per_month():
    assert revenue_fees.shares(9000, _at(2026, 1, 1), _at(2026, 4, 1)) == [
        (_at(2026, 1, 1), 3100),
        (_at(2026, 2, 1), 2800),
        (_at(2026, 3, 1), 3100),
    ]


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=_at(2025, 1, 1), max_value=_at(2027, 1, 1)),
    st.integers(min_value=1, max_value=400 * 86_400),
)
def test_a_fees_shares_add_up_to_its_amount(amount, start, length):
    assert sum(s for _, s in revenue_fees.shares(amount, start, start + length)) == amount


def test_a_fee_finalized_inside_its_interval_accrues_before_and_defers_after():
    span = (_at(2026, 1, 1), _at(2026, 4, 1))
    booked = revenue_fees.booking(9000, span, "usd", "in_1", _at(2026, 2, 1, 1), None)
    assert booked.accrued == 3100 and [e.amount for e in booked.accruals] == [3100]
    kinds = [(e.kind, e.debit, e.credit, e.amount) for e in booked.deferrals]
    assert kinds == [
        (revenue_fees.RELEASE, revenue.DEFERRED, revenue.REVENUE, 2800),
        (revenue_fees.RELEASE, revenue.DEFERRED, revenue.REVENUE, 3100),
        (revenue_fees.DEFERRAL, revenue.REVENUE, revenue.DEFERRED, 5900),
    ]
