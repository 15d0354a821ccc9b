"""Pricing models: hand-computed tables per model, plus tier validation and one invariant."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.domain.pricing import (
    THREE_DECIMAL_CURRENCIES,
    ZERO_DECIMAL_CURRENCIES,
    PriceModel,
    Tier,
    billable_quantity,
    line_amount,
    validate_tiers,
)


def per_unit(unit_amount_decimal: str, transform: dict | None = None) -> PriceModel:
    return PriceModel.from_price(
        {
            "billing_scheme": "per_unit",
            "unit_amount": None,
            "unit_amount_decimal": unit_amount_decimal,
            "transform_quantity": transform,
        }
    )


def tiered(mode: str, *tiers: tuple[int | None, str | None, str | None]) -> PriceModel:
    """tiers: (up_to, unit_amount_decimal, flat_amount_decimal)."""
    return PriceModel.from_price(
        {
            "billing_scheme": "tiered",
            "tiers_mode": mode,
            "tiers": [
                {"up_to": up_to, "unit_amount_decimal": unit, "flat_amount_decimal": flat}
                for up_to, unit, flat in tiers
            ],
        }
    )


# --- per unit -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "quantity", "expected"),
    [
        ("25", 0, 0),  # 0 × 25 = 0
        ("25", 1, 25),  # 1 × 25 = 25
        ("25", 40, 1000),  # 40 × 25 = 1000
        ("0.05", 30, 2),  # 30 × 0.05 = 1.5 → half-up → 2
        ("0.05", 29, 1),  # 29 × 0.05 = 1.45 → 1
        ("0.05", 10, 1),  # 10 × 0.05 = 0.50 exactly → half-up → 1
        ("0.000000000001", 1, 0),  # 1e-12 → 0
        ("0.000000000001", 500_000_000_000, 1),  # 5e11 × 1e-12 = 0.5 → half-up → 1
        ("0.000000000001", 499_999_999_999, 0),  # 0.499999999999 → 0
        ("0.000000000001", 10**15, 1000),  # 1e15 × 1e-12 = 1000
        ("123.456789012345", 1000, 123457),  # 123456.789012345 → 123457
        ("0.333333333333", 3, 1),  # 0.999999999999 → 1
    ],
)
def test_per_unit_line_is_quantity_times_unit_rounded_once_half_up(unit, quantity, expected):
    # GIVEN a per-unit price WHEN a quantity is billed THEN the line is quantity × unit, half-up
    assert line_amount(per_unit(unit), quantity) == expected


def test_integer_unit_amount_is_used_when_no_decimal_string():
    # GIVEN a price with only the integer field WHEN billed THEN 7 × 12 = 84
    model = PriceModel.from_price({"billing_scheme": "per_unit", "unit_amount": 12})
    assert line_amount(model, 7) == 84


def test_unit_amount_decimal_wins_over_unit_amount():
    # GIVEN both fields (Stripe echoes both) WHEN parsed THEN the decimal string is the amount
    model = PriceModel.from_price(
        {"billing_scheme": "per_unit", "unit_amount": 5, "unit_amount_decimal": "5.5"}
    )
    assert model.unit_amount == Decimal("5.5")
    assert line_amount(model, 3) == 17  # 3 × 5.5 = 16.5 → 17


# --- transform_quantity ---------------------------------------------------------------------

ALPACA = {"divide_by": 100, "round": "up"}  # 4 cents per started 100 units


@pytest.mark.parametrize(
    ("transform", "usage", "quantity", "amount"),
    [
        (ALPACA, 25, 1, 4),  # ceil(25/100) = 1 → 1 × 4 = 4
        (ALPACA, 100, 1, 4),  # ceil(100/100) = 1 → 4
        (ALPACA, 101, 2, 8),  # ceil(101/100) = 2 → 8
        (ALPACA, 0, 0, 0),  # ceil(0/100) = 0 → 0
        (ALPACA, -250, 0, 0),  # negative total clamps to 0 → 0
        ({"divide_by": 100, "round": "down"}, 25, 0, 0),  # floor(25/100) = 0
        ({"divide_by": 100, "round": "down"}, 199, 1, 4),  # floor(199/100) = 1 → 4
        ({"divide_by": 100, "round": "down"}, 200, 2, 8),  # floor(200/100) = 2 → 8
        ({"divide_by": 100, "round": "down"}, -1, 0, 0),  # clamp, not floor(-1/100) = -1
        (None, -7, 0, 0),  # no transform: negative still bills 0
        (None, 7, 7, 28),  # no transform: 7 × 4 = 28
    ],
)
def test_transform_quantity_divides_then_rounds(transform, usage, quantity, amount):
    # GIVEN a 4-cent unit price with a transform WHEN usage is billed
    model = per_unit("4", transform)
    # THEN the billable quantity and amount are as computed by hand
    assert billable_quantity(model, usage) == quantity
    assert line_amount(model, quantity) == amount


# --- graduated ------------------------------------------------------------------------------

GRADUATED_FLAT_FIRST = tiered("graduated", (5, "0", "500"), (10, "100", None), (None, "50", None))
GRADUATED_FLAT_EACH = tiered("graduated", (10, "10", "100"), (None, "5", "200"))


@pytest.mark.parametrize(
    ("model", "quantity", "expected"),
    [
        (GRADUATED_FLAT_FIRST, 0, 0),  # no unit touches a tier → 0 (documented decision)
        (GRADUATED_FLAT_FIRST, 1, 500),  # flat 500 + 1 × 0
        (GRADUATED_FLAT_FIRST, 5, 500),  # flat 500 + 5 × 0
        (GRADUATED_FLAT_FIRST, 6, 600),  # 500 + 1 × 100
        (GRADUATED_FLAT_FIRST, 10, 1000),  # 500 + 5 × 100
        (GRADUATED_FLAT_FIRST, 12, 1100),  # 500 + 5 × 100 + 2 × 50
        (GRADUATED_FLAT_EACH, 10, 200),  # 10 × 10 + 100
        (GRADUATED_FLAT_EACH, 11, 405),  # (10 × 10 + 100) + (1 × 5 + 200)
        (GRADUATED_FLAT_EACH, 30, 500),  # (100 + 100) + (20 × 5 + 200)
    ],
)
def test_graduated_prices_each_unit_in_its_tier_plus_touched_flats(model, quantity, expected):
    # GIVEN graduated tiers WHEN a quantity is billed THEN each unit uses its tier's rate
    assert line_amount(model, quantity) == expected


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (1003, 0),  # 1000 × 0 + 3 × 0.15 = 0.45 → 0
        (1010, 2),  # 10 × 0.15 = 1.5 → 2
        (1100, 15),  # 100 × 0.15 = 15
    ],
)
def test_graduated_decimal_tiers(quantity, expected):
    # GIVEN 1000 free units, then 0.15 minor units each WHEN billed THEN half-up on the line
    model = tiered("graduated", (1000, "0", None), (None, "0.15", None))
    assert line_amount(model, quantity) == expected


def test_graduated_rounds_once_per_line_not_per_tier():
    # GIVEN two tiers at 0.25 each WHEN 12 units are billed
    model = tiered("graduated", (10, "0.25", None), (None, "0.25", None))
    # THEN 10 × 0.25 + 2 × 0.25 = 3.0 → 3 (per-tier rounding would give round(2.5) + round(0.5) = 4)
    assert line_amount(model, 12) == 3


# --- volume ---------------------------------------------------------------------------------

VOLUME = tiered("volume", (5, "100", "1000"), (10, "80", "500"), (None, "50", None))


@pytest.mark.parametrize(
    ("model", "quantity", "expected"),
    [
        (VOLUME, 0, 1000),  # lands in tier 1: 0 × 100 + flat 1000 (documented decision)
        (VOLUME, 1, 1100),  # 1 × 100 + 1000
        (VOLUME, 5, 1500),  # 5 × 100 + 1000
        (VOLUME, 6, 980),  # 6 × 80 + 500
        (VOLUME, 10, 1300),  # 10 × 80 + 500
        (VOLUME, 11, 550),  # 11 × 50 + 0
        (tiered("volume", (100, "0.015", None), (None, "0.0125", None)), 100, 2),  # 1.5 → 2
        (tiered("volume", (100, "0.015", None), (None, "0.0125", None)), 120, 2),  # 120 × 0.0125 = 1.5 → 2
        (tiered("volume", (100, "0.015", None), (None, "0.0125", None)), 200, 3),  # 2.5 → 3
    ],
)
def test_volume_prices_all_units_at_the_landing_tier(model, quantity, expected):
    # GIVEN volume tiers WHEN a quantity is billed THEN all units use the tier the total lands in
    assert line_amount(model, quantity) == expected


# --- zero-decimal currency ------------------------------------------------------------------


def test_jpy_amounts_are_yen_with_no_scaling():
    # GIVEN a JPY price of 15 yen per unit (a zero-decimal currency)
    assert "jpy" in ZERO_DECIMAL_CURRENCIES
    assert "kwd" in THREE_DECIMAL_CURRENCIES
    model = PriceModel.from_price(
        {"currency": "jpy", "billing_scheme": "per_unit", "unit_amount": 15, "unit_amount_decimal": "15"}
    )
    # WHEN 3 units are billed THEN the line is 45 yen (no × 100 anywhere)
    assert line_amount(model, 3) == 45


def test_jpy_volume_tiers_are_yen():
    # GIVEN JPY volume tiers 1–10 at 1000 yen, 11+ at 800 yen WHEN 12 units THEN 12 × 800 = 9600
    model = PriceModel.from_price(
        {
            "currency": "jpy",
            "billing_scheme": "tiered",
            "tiers_mode": "volume",
            "tiers": [
                {"up_to": 10, "unit_amount": 1000, "unit_amount_decimal": "1000", "flat_amount": None},
                {"up_to": None, "unit_amount": 800, "unit_amount_decimal": "800", "flat_amount": None},
            ],
        }
    )
    assert line_amount(model, 12) == 9600


# --- parsing and validation -----------------------------------------------------------------


def test_tier_decimal_strings_win_and_inf_is_accepted():
    # GIVEN a tier with both forms of each amount and up_to "inf" WHEN parsed
    tier = Tier.from_dict(
        {
            "up_to": "inf",
            "unit_amount": 1,
            "unit_amount_decimal": "1.25",
            "flat_amount": 2,
            "flat_amount_decimal": "2",
        }
    )
    # THEN the decimal strings are the amounts and inf is None
    assert tier == Tier(up_to=None, unit_amount=Decimal("1.25"), flat_amount=Decimal("2"))


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ({"billing_scheme": "per_unit", "unit_amount_decimal": "0.0000000000001"}, "12 decimal places"),
        ({"billing_scheme": "per_unit", "unit_amount_decimal": "abc"}, "Invalid decimal"),
        ({"billing_scheme": "per_unit", "unit_amount_decimal": "NaN"}, "Invalid decimal"),
        ({"billing_scheme": "per_unit", "unit_amount": 0.5}, "Invalid amount"),
        ({"billing_scheme": "per_unit"}, "needs unit_amount"),
        ({"billing_scheme": "package", "unit_amount": 1}, "billing_scheme"),
        ({"unit_amount": 1, "transform_quantity": {"divide_by": 0, "round": "up"}}, "divide_by"),
        ({"unit_amount": 1, "transform_quantity": {"divide_by": 10, "round": "nearest"}}, "round"),
        (
            {
                "billing_scheme": "tiered",
                "tiers_mode": "stairs",
                "tiers": [{"up_to": None, "unit_amount": 1}],
            },
            "tiers_mode",
        ),
        (
            {
                "billing_scheme": "tiered",
                "tiers_mode": "volume",
                "tiers": [{"up_to": None, "unit_amount": 1}],
                "transform_quantity": {"divide_by": 10, "round": "up"},
            },
            "cannot be combined",
        ),
    ],
)
def test_from_price_rejects_malformed_prices(price, message):
    # GIVEN a malformed price WHEN parsed THEN ValueError names the problem
    with pytest.raises(ValueError, match=message):
        PriceModel.from_price(price)


def t(up_to: int | None, unit: int | None = 1, flat: int | None = None) -> Tier:
    return Tier(
        up_to=up_to,
        unit_amount=None if unit is None else Decimal(unit),
        flat_amount=None if flat is None else Decimal(flat),
    )


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ((), "at least one tier"),
        ((t(5), t(5), t(None)), "strictly increasing"),  # 5 then 5
        ((t(10), t(5), t(None)), "strictly increasing"),  # 10 then 5
        ((t(5), t(10)), "last tier must have up_to=inf"),
        ((t(None), t(None)), "Only the last tier"),
        ((t(5), t(None, unit=None, flat=None)), "needs unit_amount or flat_amount"),
        ((t(0), t(None)), "positive"),
    ],
)
def test_validate_tiers_rejects(tiers, message):
    # GIVEN tiers breaking one rule WHEN validated THEN ValueError says which
    with pytest.raises(ValueError, match=message):
        validate_tiers(tiers)


def test_validate_tiers_accepts_flat_only_and_single_inf_tier():
    # GIVEN valid tiers WHEN validated THEN nothing is raised
    validate_tiers((t(None),))
    validate_tiers((t(5, unit=None, flat=500), t(None, unit=0)))


def test_negative_quantity_is_rejected():
    # GIVEN any model WHEN a negative quantity reaches line_amount THEN it is a caller bug
    with pytest.raises(ValueError, match="non-negative"):
        line_amount(per_unit("1"), -1)


# --- invariant ------------------------------------------------------------------------------

amounts = st.none() | st.decimals(
    min_value=0, max_value=10_000, places=12, allow_nan=False, allow_infinity=False
)


@st.composite
def graduated_models(draw: st.DrawFn) -> PriceModel:
    steps = draw(st.lists(st.integers(min_value=1, max_value=50), max_size=4))
    bounds: list[int | None] = []
    total = 0
    for step in steps:
        total += step
        bounds.append(total)
    bounds.append(None)
    tiers = []
    for up_to in bounds:
        unit, flat = draw(amounts), draw(amounts)
        if unit is None and flat is None:
            unit = Decimal(0)
        tiers.append(Tier(up_to=up_to, unit_amount=unit, flat_amount=flat))
    return PriceModel("tiered", None, "graduated", tuple(tiers), None, None)


@given(model=graduated_models(), quantity=st.integers(min_value=0, max_value=500), more=st.integers(0, 500))
def test_graduated_amount_never_decreases_with_quantity(model, quantity, more):
    # GIVEN graduated tiers with non-negative amounts WHEN the quantity grows
    # THEN the line amount does not shrink
    assert line_amount(model, quantity) <= line_amount(model, quantity + more)
