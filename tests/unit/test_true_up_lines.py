"""True-ups (pure): the line billing late usage of a finalized period, what an invoice billed, when
a period settles, and how the original period is named."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.domain.pricing import Tier, line_amount
from tally.domain.records import METERED, InvoiceLine, Price, Recurring, Transform
from tally.domain.true_ups import (
    SETTLES_AFTER,
    BilledLine,
    BilledPeriod,
    billed_period,
    describe_period,
    true_up,
)


def ts(year: int, month: int, day: int) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp())


MAY, JUNE = ts(2031, 5, 14), ts(2031, 6, 14)


def metered(**extra) -> Price:
    return Price(
        id="price_m",
        created=0,
        livemode=False,
        currency="usd",
        product="prod_t",
        recurring=Recurring("month", 1, METERED, "mtr_1"),
        **extra,
    )


PER_100_TOKENS = metered(unit_amount=Decimal(4), transform=Transform(100, "up"))
GRADUATED = metered(
    billing_scheme="tiered",
    tiers_mode="graduated",
    tiers=(Tier(100, Decimal(10), None), Tier(None, Decimal(5), Decimal(200))),
)
VOLUME = metered(
    billing_scheme="tiered",
    tiers_mode="volume",
    tiers=(Tier(100, Decimal(10), None), Tier(None, Decimal(9), None)),
)


def billed(quantity: int, amount: int, price: Price = PER_100_TOKENS) -> BilledLine:
    return BilledLine("si_1", price.id, MAY, JUNE, MAY, quantity, amount)


@pytest.mark.parametrize(
    ("price", "was", "usage", "expected"),
    [
        # 1,201 tokens → 13 × 4 = 52 billed; 1,801 now → 19 × 4 = 76: +6 units, +24
        (PER_100_TOKENS, (13, 52), 1_801, (6, 24)),
        # 80 → 800 billed; 130 now → 100 × 10 + 30 × 5 + 200 = 1,350: +50 units, +550 (not 50 × 10)
        (GRADUATED, (80, 800), 130, (50, 550)),
        # 80 → 800 billed; 130 now → 130 × 9 = 1,170: +50, +370 (not 50 × 9); 110 → 990: +190
        (VOLUME, (80, 800), 130, (50, 370)),
        (VOLUME, (80, 800), 110, (30, 190)),
        # a cancel: 1,501 → 16 × 4 = 64 billed; 1,201 now → 13 × 4 = 52: −3 units, −12
        (PER_100_TOKENS, (16, 64), 1_201, (-3, -12)),
        # volume: more usage can cost less — 100 × 10 = 1,000 billed; 101 × 9 = 909: +1 unit, −91
        (VOLUME, (100, 1_000), 101, (1, -91)),
    ],
)
def test_a_true_up_is_the_rerated_period_minus_what_was_billed(price, was, usage, expected):
    # GIVEN what was billed WHEN the period's usage is now `usage`
    line, after = true_up(billed(*was, price), price, "Tokens", usage)  # type: ignore[misc]
    # THEN the line bills the difference, and what is billed becomes the re-rated line
    assert (line.quantity, line.amount) == expected
    assert (after.quantity, after.amount) == (was[0] + expected[0], was[1] + expected[1])
    assert line.true_up and line.price == price.id and (line.period.start, line.period.end) == (MAY, JUNE)
    assert line.description == "Late usage for Tokens (May 14 – Jun 14, 2031)"


def test_no_difference_no_line():
    # 1,250 tokens are still 13 units (52): nothing to true up
    assert true_up(billed(13, 52), PER_100_TOKENS, "Tokens", 1_250) is None


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_true_ups_add_up_to_the_final_rating(first, second, third):
    # GIVEN a period billed at `first` usage, then trued up at `second`, then at `third`
    model = GRADUATED.model
    line = billed(first, line_amount(model, first), GRADUATED)
    total = line.amount
    for usage in (second, third):
        got = true_up(line, GRADUATED, "Tokens", usage)
        if got is not None:
            total += got[0].amount
            line = got[1]
    # THEN everything billed for it is what the final usage rates at, whatever the path
    assert total == line_amount(model, third) and line.amount == total


def test_an_invoice_records_its_own_metered_lines_only():
    def line(id_: str, usage_type: str = METERED, **extra) -> InvoiceLine:
        return InvoiceLine(
            id_, "si_1", "price_m", "prod_t", usage_type, 13, 52, MAY, JUNE, "13 × Tokens", "usd", **extra
        )

    lines = (
        line("il_up", true_up=True),  # a true-up of an earlier period: recorded on that period
        line("il_seats", "licensed"),
        line("il_tokens", usage_start=MAY + 3600),
    )
    got = billed_period("sub_1", "in_1", lines)
    assert got == BilledPeriod(
        "sub_1", "in_1", JUNE, (BilledLine("si_1", "price_m", MAY, JUNE, MAY + 3600, 13, 52),)
    )
    assert billed_period("sub_1", "in_1", (line("il_seats", "licensed"),)) is None


def test_a_period_settles_36_days_after_its_end():
    period = BilledPeriod("sub_1", "in_1", JUNE, (billed(13, 52),))
    assert SETTLES_AFTER == 36 * 86400
    assert not period.settled(JUNE + SETTLES_AFTER - 1) and period.settled(JUNE + SETTLES_AFTER)


def test_periods_are_named_in_utc_with_the_year_on_both_sides_across_a_year():
    assert describe_period(ts(2026, 1, 1), ts(2026, 2, 1)) == "Jan 1 – Feb 1, 2026"
    assert describe_period(ts(2025, 12, 1), ts(2026, 1, 1)) == "Dec 1, 2025 – Jan 1, 2026"
