"""Property: no presented invoice or usage summary carries an integer outside a signed 64-bit
integer — whatever the price (at Tally's price limits) and however large the usage. Either the
invoice is presented with every amount ≤ MAX_AMOUNT and every quantity ≤ MAX_USAGE, or assembly
refuses with a 400 (`amount_too_large` / `usage_too_large`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tally.domain import limits
from tally.domain.event_summaries import EventSummary
from tally.domain.invoices import Cycle, ItemInput, Period, assemble
from tally.domain.pricing import Tier
from tally.domain.records import Customer, Price, Recurring, Subscription, SubscriptionItem, Transform
from tally.errors import InvalidRequest
from tally.presenters.invoices import InvoiceView, invoice
from tally.presenters.meters import event_summary

INT64 = (-(2**63), 2**63 - 1)
MAX_PRICE = 99_999_999  # the API's largest unit/flat amount
CYCLE = Cycle(Period(1_740_787_200, 1_743_465_600), Period(1_743_465_600, 1_746_057_600))

amounts = st.one_of(
    st.integers(0, MAX_PRICE).map(Decimal),
    st.decimals(0, MAX_PRICE, places=12, allow_nan=False, allow_infinity=False),
)


@st.composite
def prices(draw: Any, index: int, metered: bool) -> Price:
    scheme = draw(st.sampled_from(["per_unit", "graduated", "volume"]))
    tiers: tuple[Tier, ...] = ()
    transform = None
    unit: Decimal | None = None
    if scheme == "per_unit":
        unit = draw(amounts)
        if draw(st.booleans()):
            transform = Transform(draw(st.integers(1, 10**12)), draw(st.sampled_from(["up", "down"])))
    else:
        bounds = sorted(set(draw(st.lists(st.integers(1, 2**62), max_size=5))))
        ups: list[int | None] = [*bounds, None]
        tiers = tuple(Tier(up, draw(amounts), draw(st.one_of(st.none(), amounts))) for up in ups)
    return Price(
        id=f"price_{index}",
        created=0,
        livemode=False,
        currency="usd",
        product="prod_1",
        unit_amount=unit,
        billing_scheme="per_unit" if scheme == "per_unit" else "tiered",
        tiers_mode=None if scheme == "per_unit" else scheme,
        recurring=Recurring("month", 1, "metered" if metered else "licensed", "mtr_1" if metered else None),
        transform=transform,
        tiers=tiers,
    )


@st.composite
def invoices_inputs(draw: Any) -> list[ItemInput]:
    out = []
    for i in range(draw(st.integers(1, 20))):
        metered = draw(st.booleans())
        price = draw(prices(i, metered))
        usage = draw(st.integers(-(10**30), 10**30) | st.integers(-(10**6), 10**6)) if metered else None
        quantity = None if metered else draw(st.integers(0, 10**12) | st.integers(0, 100))
        out.append(ItemInput(f"si_{i}", price, "Product", quantity=quantity, usage=usage))
    return out


def ints(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in ints(v)]
    if isinstance(value, list):
        return [n for v in value for n in ints(v)]
    return []


def _view(items: list[ItemInput]) -> InvoiceView:
    draft = assemble(items, CYCLE)
    sub = Subscription(
        id="sub_1",
        customer="cus_1",
        created=0,
        livemode=False,
        currency="usd",
        interval="month",
        interval_count=1,
        billing_cycle_anchor=0,
        items=tuple(SubscriptionItem(i.subscription_item, i.price.id, 0, i.quantity) for i in items),
    )
    customer = Customer(id="cus_1", created=0, livemode=False, invoice_prefix="ABC")
    prices = {i.price.id: i.price for i in items}
    return InvoiceView(
        "upcoming_in_1", [f"il_{n}" for n in range(len(items))], draft, sub, customer, prices, 0
    )


@given(invoices_inputs())
def test_a_presented_invoice_never_carries_an_integer_outside_int64(items: list[ItemInput]) -> None:
    # GIVEN any items at Tally's price limits with any usage (WHEN assembled and presented)
    try:
        shown = invoice(_view(items))
    except InvalidRequest as exc:
        # THEN either it is refused with a clear code …
        assert exc.code in ("amount_too_large", "usage_too_large") and exc.status == 400
        return
    # … or every integer fits int64, amounts fit MAX_AMOUNT and quantities MAX_USAGE
    assert all(INT64[0] <= n <= INT64[1] for n in ints(shown))
    for key in ("total", "subtotal", "amount_due", "amount_remaining", "starting_balance"):
        assert abs(shown[key]) <= limits.MAX_AMOUNT
    for line in shown["lines"]["data"]:
        assert abs(line["amount"]) <= limits.MAX_AMOUNT
        assert 0 <= line["quantity"] <= limits.MAX_USAGE


@given(st.integers(-(10**30), 10**30))
def test_a_summary_value_is_checked_before_it_is_presented(value: int) -> None:
    # GIVEN any aggregated value; WHEN it passes the check, THEN the summary fits int64
    try:
        limits.check_usage("value", value)
    except InvalidRequest as exc:
        assert exc.code == "usage_too_large" and abs(value) > limits.MAX_USAGE
        return
    shown = event_summary(EventSummary("mtr_1", 0, 60, value, False))
    assert all(INT64[0] <= n <= INT64[1] for n in ints(shown))


def test_hand_computed_limits() -> None:
    # GIVEN a licensed item at 99,999,999 × 10,000,000 (999,999,990,000,000): it fits
    price = Price(
        id="price_1",
        created=0,
        livemode=False,
        currency="usd",
        product="prod_1",
        unit_amount=Decimal(MAX_PRICE),
        recurring=Recurring("month", 1, "licensed", None),
    )
    draft = assemble([ItemInput("si_1", price, "Seat", quantity=10_000_000)], CYCLE)
    assert draft.totals.total == 999_999_990_000_000
    # WHEN one more seat is added THEN the line is refused (1,000,000,089,999,999)
    try:
        assemble([ItemInput("si_1", price, "Seat", quantity=10_000_001)], CYCLE)
    except InvalidRequest as exc:
        assert exc.code == "amount_too_large"
    else:
        raise AssertionError("10,000,001 seats at 99,999,999 must be refused")
