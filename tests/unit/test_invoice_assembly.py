"""Invoice assembly (pure): which period each line bills, line amounts, totals and balances."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.domain.invoices import Cycle, ItemInput, Period, assemble, cycle_at_period_end, item_line, totals
from tally.domain.pricing import Tier
from tally.domain.records import Price, Recurring, Transform


def ts(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, tzinfo=dt.UTC).timestamp())


def price(
    usage_type: str = "licensed",
    currency: str = "usd",
    unit: str | None = "1000",
    **extra: Any,
) -> Price:
    transform = extra.pop("transform_quantity", None)
    tiers = extra.pop("tiers", None)
    return Price(
        id=extra.pop("id", f"price_{usage_type}"),
        created=0,
        livemode=False,
        currency=currency,
        product="prod_1",
        unit_amount=None if unit is None else Decimal(unit),
        recurring=Recurring("month", 1, usage_type, "mtr_1" if usage_type == "metered" else None),
        transform=Transform(**transform) if transform else None,
        tiers=tuple(Tier.from_dict(t) for t in tiers) if tiers else (),
        **extra,
    )


MARCH = Cycle(usage=Period(ts(2025, 3, 1), ts(2025, 4, 1)), advance=Period(ts(2025, 4, 1), ts(2025, 5, 1)))


# --- periods -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "anchor", "interval", "now", "usage", "advance"),
    [
        # Jan 31 anchor: Feb clamps to the 28th, March gets its 31st back
        (
            ts(2025, 1, 31, 10),
            ts(2025, 1, 31, 10),
            "month",
            ts(2025, 2, 10),
            (ts(2025, 1, 31, 10), ts(2025, 2, 28, 10)),
            (ts(2025, 2, 28, 10), ts(2025, 3, 31, 10)),
        ),
        # leap year: Feb 29
        (
            ts(2024, 1, 31),
            ts(2024, 1, 31),
            "month",
            ts(2024, 2, 1),
            (ts(2024, 1, 31), ts(2024, 2, 29)),
            (ts(2024, 2, 29), ts(2024, 3, 31)),
        ),
        # anchor after the start: a short first period, then whole ones from the anchor
        (
            ts(2025, 1, 20),
            ts(2025, 1, 31),
            "month",
            ts(2025, 1, 25),
            (ts(2025, 1, 20), ts(2025, 1, 31)),
            (ts(2025, 1, 31), ts(2025, 2, 28)),
        ),
        # exactly at a boundary, the new period has begun
        (
            ts(2025, 3, 1),
            ts(2025, 3, 1),
            "week",
            ts(2025, 3, 8),
            (ts(2025, 3, 8), ts(2025, 3, 15)),
            (ts(2025, 3, 15), ts(2025, 3, 22)),
        ),
    ],
)
def test_cycle_at_period_end(
    start: int,
    anchor: int,
    interval: str,
    now: int,
    usage: tuple[int, int],
    advance: tuple[int, int],
) -> None:
    # WHEN the invoice closing the current period is planned
    cycle = cycle_at_period_end(start, anchor, interval, 1, now)
    # THEN usage is the current period and the advance period follows it
    assert (cycle.usage.start, cycle.usage.end) == usage
    assert (cycle.advance.start, cycle.advance.end) == advance


# --- lines ---------------------------------------------------------------------------------------


def test_licensed_line_bills_quantity_in_advance() -> None:
    # GIVEN 3 seats at 1000
    item = ItemInput("si_1", price(), "Seats", quantity=3)
    # WHEN priced for March's closing invoice
    line = item_line(item, MARCH)
    # THEN 3 × 1000 for April
    assert (line.amount, line.quantity, line.period) == (3000, 3, MARCH.advance)
    assert line.description == "3 × Seats"
    assert (line.price, line.product, line.subscription_item) == ("price_licensed", "prod_1", "si_1")


def test_licensed_quantity_defaults_to_one() -> None:
    assert item_line(ItemInput("si_1", price(), "Seats"), MARCH).amount == 1000


def test_metered_line_bills_usage_in_arrears() -> None:
    # GIVEN 30 tokens at 0.05
    item = ItemInput("si_2", price("metered", unit="0.05"), "Tokens", usage=30)
    # WHEN priced
    line = item_line(item, MARCH)
    # THEN 30 × 0.05 = 1.5 → 2 (half-up) for March
    assert (line.amount, line.quantity, line.period) == (2, 30, MARCH.usage)


@pytest.mark.parametrize(("usage", "shown", "amount"), [(-50, 0, 0), (0, 0, 0), (None, 0, 0)])
def test_metered_usage_never_bills_below_zero(usage: int | None, shown: int, amount: int) -> None:
    line = item_line(ItemInput("si_2", price("metered", unit="7"), "Tokens", usage=usage), MARCH)
    assert (line.quantity, line.amount) == (shown, amount)


def test_transform_quantity_gives_the_line_quantity() -> None:
    # GIVEN packages of 1000 tokens at 250, rounded up
    transformed = price("metered", unit="250", transform_quantity={"divide_by": 1000, "round": "up"})
    # WHEN 2500 tokens are used
    line = item_line(ItemInput("si_3", transformed, "Tokens", usage=2500), MARCH)
    # THEN the line bills 3 packages (Stripe's line quantity) and keeps the raw usage in view
    assert (line.quantity, line.raw_quantity, line.amount) == (3, 2500, 750)
    assert line.description == "3 × Tokens (usage 2500)"


def test_tiered_volume_line() -> None:
    # GIVEN volume tiers: ≤ 10 at 100, above at 80 plus a flat 50
    tiered = price(
        "metered",
        unit=None,
        billing_scheme="tiered",
        tiers_mode="volume",
        tiers=[
            {"up_to": 10, "unit_amount_decimal": "100"},
            {"up_to": None, "unit_amount_decimal": "80", "flat_amount_decimal": "50"},
        ],
    )
    # WHEN 11 units are used: all at 80 + 50 = 930
    assert item_line(ItemInput("si_4", tiered, "Calls", usage=11), MARCH).amount == 930


def test_negative_licensed_quantity_is_an_error() -> None:
    with pytest.raises(ValueError):
        item_line(ItemInput("si_1", price(), "Seats", quantity=-1), MARCH)


# --- assembly and totals -------------------------------------------------------------------------


def test_assemble_rounds_each_line_then_sums() -> None:
    # GIVEN two metered lines of 1.5 each and a licensed line
    items = [
        ItemInput("si_a", replace(price("metered", unit="0.05"), id="price_a"), "A", usage=30),
        ItemInput("si_b", replace(price("metered", unit="0.05"), id="price_b"), "B", usage=30),
        ItemInput("si_c", price(), "Seats", quantity=2),
    ]
    # WHEN assembled
    draft = assemble(items, MARCH)
    # THEN each line rounds on its own (2 + 2, not round(3.0)) and the total adds them up
    assert [line.amount for line in draft.lines] == [2, 2, 2000]
    assert (draft.totals.subtotal, draft.totals.total, draft.totals.amount_due) == (2004, 2004, 2004)
    assert (draft.currency, draft.period) == ("usd", MARCH.usage)


@pytest.mark.parametrize(
    ("balance", "due"),
    [
        (0, 1000),
        (-300, 700),  # a credit balance reduces what is due
        (-5000, 0),  # ... never below zero
        (250, 1250),  # an owed balance is added
    ],
)
def test_starting_balance_applies_to_amount_due(balance: int, due: int) -> None:
    draft = assemble([ItemInput("si_1", price(), "Seats")], MARCH, starting_balance=balance)
    assert (draft.totals.total, draft.totals.amount_due, draft.totals.amount_remaining) == (1000, due, due)
    assert draft.totals.starting_balance == balance


def test_assemble_rejects_mixed_currencies_and_no_items() -> None:
    with pytest.raises(ValueError, match="currency"):
        assemble([ItemInput("si_1", price(), "A"), ItemInput("si_2", price(currency="eur"), "B")], MARCH)
    with pytest.raises(ValueError):
        assemble([], MARCH)


def test_jpy_amounts_are_whole_yen() -> None:
    draft = assemble(
        [
            ItemInput("si_1", price(currency="jpy", unit="1000"), "Seats", quantity=3),
            ItemInput("si_2", price("metered", currency="jpy", unit="3"), "Calls", usage=1234),
        ],
        MARCH,
    )
    assert (draft.currency, draft.totals.total) == ("jpy", 6702)


@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.sampled_from(["0.05", "1", "12.5", "0.000001"])), max_size=8
    ),
    st.integers(-(10**7), 10**7),
)
def test_total_is_the_sum_of_lines(usages: list[tuple[int, str]], balance: int) -> None:
    # Invariant: lines are never re-rounded together, and due = max(total + balance, 0).
    lines = [
        item_line(ItemInput(f"si_{i}", price("metered", unit=unit), "X", usage=u), MARCH)
        for i, (u, unit) in enumerate(usages)
    ]
    result = totals(lines, balance)
    assert result.total == sum(line.amount for line in lines)
    assert result.amount_due == max(result.total + balance, 0)
