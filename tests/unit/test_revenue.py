"""Revenue recognition's pure rules (`tally.domain.revenue`): months in UTC, accrual by cumulative
difference (telescoping to the invoice's amount), entries' sides, the report and its CSV."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.domain import revenue
from tally.domain.pricing import PriceModel


def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


def per_unit(decimal: str, transform: dict | None = None) -> PriceModel:
    return PriceModel.from_price({"unit_amount_decimal": decimal, "transform_quantity": transform})


GRADUATED = PriceModel.from_price(
    {
        "billing_scheme": "tiered",
        "tiers_mode": "graduated",
        "tiers": [{"up_to": 1000, "unit_amount": 2}, {"up_to": None, "unit_amount": 1, "flat_amount": 50}],
    }
)
VOLUME = PriceModel.from_price(
    {
        "billing_scheme": "tiered",
        "tiers_mode": "volume",
        "tiers": [{"up_to": 100, "unit_amount": 10}, {"up_to": None, "unit_amount": 5}],
    }
)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (
            _at(2025, 1, 15),
            _at(2025, 4, 15),
            [_at(2025, 2, 1), _at(2025, 3, 1), _at(2025, 4, 1), _at(2025, 4, 15)],
        ),
        (_at(2025, 1, 1), _at(2025, 2, 1), [_at(2025, 2, 1)]),
        (
            _at(2024, 12, 31, 23, 59, 59),
            _at(2025, 1, 1, 0, 0, 1),
            [_at(2025, 1, 1), _at(2025, 1, 1, 0, 0, 1)],
        ),
        (_at(2024, 2, 29, 12), _at(2024, 3, 1), [_at(2024, 3, 1)]),
    ],
)
def test_spans_are_cut_at_utc_month_starts(start, end, expected):
    assert revenue.slice_ends(start, end) == expected


def test_month_names_and_starts():
    assert revenue.period_name(_at(2025, 12, 31, 23, 59, 59)) == "2025-12"
    assert revenue.next_month(_at(2025, 12, 31, 23)) == _at(2026, 1, 1)
    assert revenue.is_month_start(_at(2024, 2, 1)) and not revenue.is_month_start(_at(2024, 2, 1, 0, 0, 1))
    assert revenue.months(_at(2024, 11, 1), _at(2025, 2, 1)) == [
        _at(2024, 11, 1),
        _at(2024, 12, 1),
        _at(2025, 1, 1),
    ]


@pytest.mark.parametrize(
    ("model", "cumulative", "expected"),
    [
        # 0.5 cent per unit, 3 units a month: rate(3)=2, rate(6)=3, rate(9)=round(4.5)=5
        (per_unit("0.5"), [3, 6, 9], [2, 1, 2]),
        # graduated: 600 → 1200; 1200 → 2000 + 200 + 50 flat; 1500 → 2000 + 500 + 50
        (GRADUATED, [600, 1200, 1500], [1200, 1050, 300]),
        # volume: 90 × 10 = 900; 150 × 5 = 750 — a month can take revenue back (−150)
        (VOLUME, [90, 150], [900, -150]),
        # 4 cents per 100 units, rounded up: ceil(150/100)=2 → 8; ceil(250/100)=3 → 12
        (per_unit("4", {"divide_by": 100, "round": "up"}), [150, 250], [8, 4]),
        # a negative period total bills 0 (as the invoice), so do its months
        (per_unit("1"), [-5, 3], [0, 3]),
    ],
)
def test_months_recognize_the_cumulative_difference(model, cumulative, expected):
    ends = [_at(2025, 2, 1), _at(2025, 3, 1), _at(2025, 4, 1)][: len(cumulative)]
    got = revenue.accrual_by_month(model, list(zip(ends, cumulative, strict=True)))
    assert [amount for _, amount in got] == expected
    assert [month for month, _ in got] == [_at(2025, 1, 1), _at(2025, 2, 1), _at(2025, 3, 1)][
        : len(cumulative)
    ]


@given(st.lists(st.integers(min_value=-50, max_value=5000), min_size=1, max_size=12))
def test_months_always_sum_to_the_invoice_amount(increments):
    # whatever the monthly usage, the months of a span add up to rating the span's total
    cumulative, total = [], 0
    for i, inc in enumerate(increments):
        total += inc
        cumulative.append((_at(2025 + (i + 1) // 12, (i + 1) % 12 + 1, 1), total))
    for model in (per_unit("0.37"), GRADUATED, VOLUME, per_unit("3", {"divide_by": 7, "round": "down"})):
        got = revenue.accrual_by_month(model, cumulative)
        assert sum(a for _, a in got) == revenue.rated(model, total)


def test_an_entry_of_zero_is_nothing_and_a_negative_one_swaps_sides():
    assert revenue.entry(1, "usd", revenue.UNBILLED, revenue.REVENUE, 0, revenue.ACCRUAL, "in_1") == []
    (e,) = revenue.entry(1, "usd", revenue.UNBILLED, revenue.REVENUE, -150, revenue.ACCRUAL, "in_1")
    assert (e.debit, e.credit, e.amount) == (revenue.REVENUE, revenue.UNBILLED, 150)


def _booked(**kw) -> revenue.Booked:
    base = dict(id="in_1", currency="usd", total=10000, amount_due=10000, amount_paid=0)
    base.update(finalized_at=None, paid_at=None, voided_at=None)
    base.update(kw)
    return revenue.Booked(**base)


def test_a_draft_books_nothing_and_a_paid_invoice_books_three_steps():
    assert revenue.invoice_entries(_booked(), 10000) == []
    paid = _booked(finalized_at=_at(2025, 4, 1, 1), paid_at=_at(2025, 5, 10), amount_paid=10000)
    got = [(e.kind, e.debit, e.credit, e.amount) for e in revenue.invoice_entries(paid, 10000)]
    assert got == [
        (revenue.REVERSAL, "Revenue", "UnbilledReceivables", 10000),
        (revenue.REBOOKING, "AccountsReceivable", "Revenue", 10000),
        (revenue.PAYMENT, "Cash", "AccountsReceivable", 10000),
    ]


def test_the_report_keeps_its_interval_and_nets_each_account_its_way():
    entries = [
        *revenue.entry(_at(2024, 12, 5), "usd", revenue.UNBILLED, revenue.REVENUE, 7, revenue.ACCRUAL, "s"),
        *revenue.entry(_at(2025, 1, 5), "usd", revenue.UNBILLED, revenue.REVENUE, 40, revenue.ACCRUAL, "s"),
        *revenue.entry(
            _at(2025, 1, 6), "jpy", revenue.RECEIVABLES, revenue.REVENUE, 500, revenue.REBOOKING, "i"
        ),
        *revenue.entry(_at(2025, 2, 1), "usd", revenue.UNBILLED, revenue.REVENUE, 1, revenue.ACCRUAL, "s"),
    ]
    r = revenue.report(entries, _at(2025, 1, 1), _at(2025, 2, 1))
    assert r.periods == ("2025-01",)
    assert [(j.currency, j.debit, j.amount) for j in r.journal] == [
        ("jpy", "AccountsReceivable", 500),
        ("usd", "UnbilledReceivables", 40),
    ]
    usd = {row.account: (row.debit, row.credit, row.net) for row in r.accounts["usd"]}
    assert usd["Revenue"] == (0, 40, 40) and usd["UnbilledReceivables"] == (40, 0, 40)
    assert revenue.summary_csv(r).splitlines()[1:] == [
        "2025-01,jpy,AccountsReceivable,Revenue,500",
        "2025-01,usd,UnbilledReceivables,Revenue,0.40",
    ]


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (4000, "usd", "40.00"),
        (5, "usd", "0.05"),
        (-10000, "eur", "-100.00"),
        (0, "usd", "0.00"),
        (500, "jpy", "500"),
        (1230, "kwd", "1.230"),
        (7, "bhd", "0.007"),
        (2**62, "usd", "46116860184273879.04"),
    ],
)
def test_csv_amounts_are_exact_major_units(amount, currency, text):
    assert revenue.major_units(amount, currency) == text
