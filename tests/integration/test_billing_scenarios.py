"""A full month on a test clock, as a user drives it through the API, with hand-computed invoices.

Each scenario creates its catalog, a customer on a clock and a subscription; reports usage at
several instants of the month (advancing the clock between reports, so each event is stamped
with the clock's time); advances one minute past the period end (the invoice is drafted) and then
past the 1-hour grace period (it is finalized); and checks every line and total of the invoice by
hand. Every amount is computed in a comment next to its assertion. Each subscription's first
invoice is the one its creation issues (Stripe's `subscription_create`): the licensed items for
the first period in advance, a 0 line per metered item, finalized at once (paid when it is 0), so
it takes the customer's number 0001 and the month's invoice is 0002.

The month is 1 Mar 2031 00:00 UTC → 1 Apr 2031 00:00 UTC (then → 1 May 2031), years away from
the wall clock, so anything reading the wall clock would show.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

CLOCKS = "/v1/test_helpers/test_clocks"
MINUTE, HOUR, DAY = 60, 3600, 86_400
GRACE = HOUR  # the deployment's default finalization grace period


def at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


MAR_1, APR_1, MAY_1 = at(2031, 3, 1), at(2031, 4, 1), at(2031, 5, 1)


# -- the user's moves, through the API ------------------------------------------------------------
def ok(response: support.Response, status: int = 200) -> Any:
    assert response.status == status, response.text
    return response.json


def advance(api: support.Api, functions: support.Functions, clock_id: str, to: int) -> dict[str, Any]:
    """The only way these tests move a clock: POST advance, let the workers finish it (when the
    advance is asynchronous, `functions.drain()` runs them), then the clock must be ready at `to`."""
    ok(api.post(f"{CLOCKS}/{clock_id}/advance", {"frozen_time": to}))
    if hasattr(functions, "drain"):
        functions.drain()
    clock = ok(api.get(f"{CLOCKS}/{clock_id}"))
    assert (clock["status"], clock["frozen_time"]) == ("ready", to), clock
    return clock


def meter(api: support.Api, event_name: str) -> dict[str, Any]:
    body = {"display_name": event_name, "event_name": event_name, "default_aggregation": {"formula": "sum"}}
    return ok(api.post("/v1/billing/meters", body))


def price(api: support.Api, product: str, **fields: Any) -> dict[str, Any]:
    return ok(api.post("/v1/prices", {"product_data": {"name": product}, **fields}))


def metered(meter_id: str, interval: str = "month") -> dict[str, Any]:
    return {"interval": interval, "usage_type": "metered", "meter": meter_id}


def customer_on(api: support.Api, clock_id: str, name: str) -> dict[str, Any]:
    return ok(api.post("/v1/customers", {"name": name, "test_clock": clock_id}))


def subscribe(api: support.Api, customer: dict[str, Any], *prices: dict[str, Any]) -> dict[str, Any]:
    items = [{"price": p["id"]} for p in prices]
    return ok(api.post("/v1/subscriptions", {"customer": customer["id"], "items": items}))


def report(api: support.Api, event_name: str, customer: dict[str, Any], value: int) -> None:
    """A meter event stamped with the clock's time (the default timestamp of a clock's customer)."""
    body = {"event_name": event_name, "payload": {"stripe_customer_id": customer["id"], "value": str(value)}}
    ok(api.post("/v1/billing/meter_events", body))


def invoices(api: support.Api, subscription: dict[str, Any]) -> list[dict[str, Any]]:
    """The subscription's invoices, oldest first."""
    page = ok(api.get("/v1/invoices", {"subscription": subscription["id"], "limit": 100}))
    return page["data"][::-1]


def lines_of(invoice: dict[str, Any]) -> list[tuple[int, int, tuple[int, int], str]]:
    """Each line as (amount, quantity, (period start, period end), description)."""
    return [
        (ln["amount"], ln["quantity"], (ln["period"]["start"], ln["period"]["end"]), ln["description"])
        for ln in invoice["lines"]["data"]
    ]


def check_invoice(
    invoice: dict[str, Any],
    *,
    status: str,
    number: str | None,
    period: tuple[int, int],
    lines: list[tuple[int, int, tuple[int, int], str]],
    total: int,
    currency: str = "usd",
) -> None:
    """Everything a reader of the invoice sees: lines, totals, number, status, period."""
    assert lines_of(invoice) == lines
    assert sum(line[0] for line in lines) == total  # the hand-computed total adds up its lines
    assert (invoice["subtotal"], invoice["total"], invoice["amount_due"]) == (total, total, total)
    assert (invoice["status"], invoice["number"]) == (status, number)
    assert (invoice["period_start"], invoice["period_end"]) == period
    assert (invoice["currency"], invoice["billing_reason"]) == (currency, "subscription_cycle")
    assert invoice["created"] == period[1]
    paid = status == "paid"
    assert invoice["amount_paid"] == (total if paid else 0)
    assert invoice["amount_remaining"] == (0 if paid else total)
    if status == "draft":
        assert invoice["automatically_finalizes_at"] == period[1] + GRACE
        assert invoice["status_transitions"]["finalized_at"] is None
    else:
        assert invoice["automatically_finalizes_at"] is None
        assert invoice["status_transitions"]["finalized_at"] == period[1] + GRACE


def check_first(
    invoice: dict[str, Any],
    *,
    status: str,
    number: str,
    lines: list[tuple[int, int, tuple[int, int], str]],
    total: int,
    created: int = MAR_1,
    currency: str = "usd",
) -> None:
    """A subscription's creation invoice: its period is the creation instant, finalized then, and
    paid then when nothing is due."""
    assert lines_of(invoice) == lines
    assert sum(line[0] for line in lines) == total
    assert (invoice["subtotal"], invoice["total"], invoice["amount_due"]) == (total, total, total)
    assert (invoice["status"], invoice["number"]) == (status, number)
    assert (invoice["period_start"], invoice["period_end"], invoice["created"]) == (created, created, created)
    assert (invoice["currency"], invoice["billing_reason"]) == (currency, "subscription_create")
    assert invoice["automatically_finalizes_at"] is None
    assert invoice["status_transitions"]["finalized_at"] == created
    paid = status == "paid"
    assert invoice["amount_paid"] == (total if paid else 0)
    assert invoice["amount_remaining"] == (0 if paid else total)
    assert invoice["status_transitions"]["paid_at"] == (created if paid else None)


def close_month(
    api: support.Api, functions: support.Functions, clock_id: str, subscription: dict[str, Any], end: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Advance one minute past `end` (the period's invoice is drafted), then past the grace period
    (it is finalized); returns the newest invoice as (draft, finalized)."""
    advance(api, functions, clock_id, end + MINUTE)
    draft = invoices(api, subscription)[-1]
    advance(api, functions, clock_id, end + GRACE + MINUTE)
    final = ok(api.get(f"/v1/invoices/{draft['id']}"))
    return draft, final


# -- the seed walkthrough: 0.04 USD per 100 tokens, rounded up -----------------------------------
def test_walkthrough_price_bills_the_month_rounded_up_per_hundred_tokens(api, functions):
    # GIVEN Alpaca AI's price (4 cents per 100 tokens, transform_quantity divide_by 100, round up)
    tokens = meter(api, "alpaca_ai_tokens")
    alpaca = price(
        api,
        "Alpaca AI tokens",
        currency="usd",
        unit_amount=4,
        billing_scheme="per_unit",
        transform_quantity={"divide_by": 100, "round": "up"},
        recurring=metered(tokens["id"]),
    )
    # AND John Doe on a clock at 1 Mar 2031, subscribed
    clock = ok(api.post(CLOCKS, {"frozen_time": MAR_1, "name": "walkthrough"}))
    john = customer_on(api, clock["id"], "John Doe")
    sub = subscribe(api, john, alpaca)
    assert (sub["current_period_start"], sub["current_period_end"]) == (MAR_1, APR_1)
    # WHEN tokens are used on Mar 1, Mar 10, Mar 20 and in the last hour of the month
    report(api, "alpaca_ai_tokens", john, 250)
    advance(api, functions, clock["id"], at(2031, 3, 10, 9, 30))
    report(api, "alpaca_ai_tokens", john, 1_000)
    report(api, "alpaca_ai_tokens", john, 25)
    advance(api, functions, clock["id"], at(2031, 3, 20))
    report(api, "alpaca_ai_tokens", john, 26)
    advance(api, functions, clock["id"], APR_1 - HOUR)
    report(api, "alpaca_ai_tokens", john, 0)
    # AND nothing but the creation invoice exists before the period ends: a metered item's first
    #     line is 0 (Stripe's classic billing mode), so it was paid when it was created
    (first,) = invoices(api, sub)
    zero = (0, 0, (MAR_1, MAR_1), "0 × Alpaca AI tokens")
    check_first(first, status="paid", number=f"{john['invoice_prefix']}-0001", lines=[zero], total=0)
    # AND the walkthrough's "retrieve usage for a custom time period" sums the month so far
    window = {"customer": john["id"], "start_time": MAR_1, "end_time": APR_1}
    (summary,) = ok(api.get(f"/v1/billing/meters/{tokens['id']}/event_summaries", window))["data"]
    assert (summary["aggregated_value"], summary["start_time"], summary["end_time"]) == (1_301, MAR_1, APR_1)
    # AND the clock passes the period end, then the grace period
    draft, final = close_month(api, functions, clock["id"], sub, APR_1)
    # THEN 250 + 1,000 + 25 + 26 + 0 = 1,301 tokens → ceil(1,301 / 100) = 14 units (not 13.01,
    # not 13) × 4 cents = 56 cents, drafted at the period end, unnumbered
    line = (56, 14, (MAR_1, APR_1), "14 × Alpaca AI tokens (usage 1301)")
    check_invoice(draft, status="draft", number=None, period=(MAR_1, APR_1), lines=[line], total=56)
    # AND finalized at the end of the grace period with the customer's next number
    number = f"{john['invoice_prefix']}-0002"
    check_invoice(final, status="open", number=number, period=(MAR_1, APR_1), lines=[line], total=56)
    assert [i["id"] for i in invoices(api, sub)] == [first["id"], draft["id"]]


# -- graduated tiers: each unit at its own tier, flat amounts of the tiers it reaches ------------
def test_graduated_tiers_bill_each_unit_in_its_tier_plus_flat_amounts(api, functions):
    # GIVEN API calls in 3 graduated tiers: 1–1,000 at 0 with a 5.00 flat fee; 1,001–5,000 at 2
    # cents; beyond at 1 cent with a 1.00 flat fee
    calls = meter(api, "graduated_calls")
    graduated = price(
        api,
        "API calls",
        currency="usd",
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[
            {"up_to": 1000, "unit_amount": 0, "flat_amount": 500},
            {"up_to": 5000, "unit_amount": 2},
            {"up_to": "inf", "unit_amount": 1, "flat_amount": 100},
        ],
        recurring=metered(calls["id"]),
    )
    clock = ok(api.post(CLOCKS, {"frozen_time": MAR_1}))
    acme = customer_on(api, clock["id"], "Acme")
    sub = subscribe(api, acme, graduated)
    # WHEN 7,500 calls are used over the month
    report(api, "graduated_calls", acme, 900)
    advance(api, functions, clock["id"], at(2031, 3, 8))
    report(api, "graduated_calls", acme, 3_100)
    advance(api, functions, clock["id"], at(2031, 3, 31, 23, 58))
    report(api, "graduated_calls", acme, 3_500)
    draft, final = close_month(api, functions, clock["id"], sub, APR_1)
    # THEN tier 1: 1,000 × 0 + 500 flat = 500; tier 2: 4,000 × 2 = 8,000; tier 3: 2,500 × 1 + 100
    # flat = 2,600; the line is 500 + 8,000 + 2,600 = 11,100 cents (111.00 USD)
    line = (11_100, 7_500, (MAR_1, APR_1), "7500 × API calls")
    check_invoice(draft, status="draft", number=None, period=(MAR_1, APR_1), lines=[line], total=11_100)
    number = f"{acme['invoice_prefix']}-0002"  # after the 0 creation invoice
    check_invoice(final, status="open", number=number, period=(MAR_1, APR_1), lines=[line], total=11_100)


# -- volume tiers: the whole quantity at the rate of the tier it lands in ------------------------
def test_volume_tiers_bill_the_whole_quantity_at_the_tier_it_lands_in(api, functions):
    # GIVEN storage in volume tiers: ≤ 1,000 at 5 cents; ≤ 10,000 at 3 cents plus 2.00 flat;
    # beyond at 1 cent
    gb = meter(api, "volume_gb")
    volume = price(
        api,
        "Storage",
        currency="usd",
        billing_scheme="tiered",
        tiers_mode="volume",
        tiers=[
            {"up_to": 1000, "unit_amount": 5},
            {"up_to": 10000, "unit_amount": 3, "flat_amount": 200},
            {"up_to": "inf", "unit_amount": 1},
        ],
        recurring=metered(gb["id"]),
    )
    clock = ok(api.post(CLOCKS, {"frozen_time": MAR_1}))
    globex = customer_on(api, clock["id"], "Globex")
    sub = subscribe(api, globex, volume)
    # WHEN 4,321 units are used (each report alone would sit in tier 1 or 2)
    report(api, "volume_gb", globex, 999)
    advance(api, functions, clock["id"], at(2031, 3, 15, 12))
    report(api, "volume_gb", globex, 2)
    advance(api, functions, clock["id"], at(2031, 3, 29))
    report(api, "volume_gb", globex, 3_320)
    draft, final = close_month(api, functions, clock["id"], sub, APR_1)
    # THEN 999 + 2 + 3,320 = 4,321 lands in tier 2: all 4,321 × 3 = 12,963 + 200 flat = 13,163
    # cents (not 1,000 × 5 + 3,321 × 3 + 200 = 15,163 as graduated would be)
    line = (13_163, 4_321, (MAR_1, APR_1), "4321 × Storage")
    check_invoice(draft, status="draft", number=None, period=(MAR_1, APR_1), lines=[line], total=13_163)
    number = f"{globex['invoice_prefix']}-0002"  # after the 0 creation invoice
    check_invoice(final, status="open", number=number, period=(MAR_1, APR_1), lines=[line], total=13_163)


# -- the hybrid plan of the seed: 99 USD/month including 10,000 calls, overage per call ----------
def test_hybrid_plan_bills_the_base_in_advance_and_overage_in_arrears_over_two_months(api, functions):
    # GIVEN the seed's hybrid plan as Stripe models it: a licensed 99.00 USD monthly base price,
    # and a metered graduated price whose first tier (up to 10,000 calls, the allowance) is free,
    # then 0.5 cent per call of overage
    calls = meter(api, "hybrid_api_calls")
    base = price(api, "Pro plan", currency="usd", unit_amount=9900, recurring={"interval": "month"})
    overage = price(
        api,
        "API calls",
        currency="usd",
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[{"up_to": 10000, "unit_amount": 0}, {"up_to": "inf", "unit_amount_decimal": "0.5"}],
        recurring=metered(calls["id"]),
    )
    # AND two customers on one clock at 1 Mar 2031: Under stays in the allowance in March, Over
    # exceeds it
    clock = ok(api.post(CLOCKS, {"frozen_time": MAR_1, "name": "hybrid"}))
    under, over = customer_on(api, clock["id"], "Under"), customer_on(api, clock["id"], "Over")
    sub_under, sub_over = subscribe(api, under, base, overage), subscribe(api, over, base, overage)
    # THEN each creation issues its `subscription_create` invoice, open at once: the base for the
    # first period [Mar 1, Apr 1) in advance, 9,900 (99.00), and the calls' 0 line
    base_march = (9_900, 1, (MAR_1, APR_1), "1 × Pro plan")
    no_calls = (0, 0, (MAR_1, MAR_1), "0 × API calls")
    for customer, sub in ((under, sub_under), (over, sub_over)):
        (first,) = invoices(api, sub)
        number = f"{customer['invoice_prefix']}-0001"
        check_first(first, status="open", number=number, lines=[base_march, no_calls], total=9_900)
    # WHEN March's calls are used: Under 4,000 + 3,999 + 1 = 8,000; Over 6,000 + 6,000 + 345 = 12,345
    report(api, "hybrid_api_calls", under, 4_000)
    report(api, "hybrid_api_calls", over, 6_000)
    advance(api, functions, clock["id"], at(2031, 3, 12))
    report(api, "hybrid_api_calls", under, 3_999)
    report(api, "hybrid_api_calls", over, 6_000)
    advance(api, functions, clock["id"], at(2031, 3, 31, 23))
    report(api, "hybrid_api_calls", under, 1)
    report(api, "hybrid_api_calls", over, 345)
    advance(api, functions, clock["id"], APR_1 + MINUTE)
    # THEN each draft bills the base for April in advance and March's calls in arrears
    # Under: 9,900 for [Apr 1, May 1) + 8,000 calls all in the free tier = 0 → 9,900 (99.00 only)
    _, draft_under = invoices(api, sub_under)
    base_april = (9_900, 1, (APR_1, MAY_1), "1 × Pro plan")
    march_under = (0, 8_000, (MAR_1, APR_1), "8000 × API calls")
    check_invoice(
        draft_under,
        status="draft",
        number=None,
        period=(MAR_1, APR_1),
        lines=[base_april, march_under],
        total=9_900,
    )
    # Over: 9,900 + (12,345 − 10,000) = 2,345 calls × 0.5 = 1,172.5 → 1,173 (half-up, once per
    # line) → 11,073 (110.73 USD)
    _, draft_over = invoices(api, sub_over)
    march_over = (1_173, 12_345, (MAR_1, APR_1), "12345 × API calls")
    check_invoice(
        draft_over,
        status="draft",
        number=None,
        period=(MAR_1, APR_1),
        lines=[base_april, march_over],
        total=11_073,
    )
    # WHEN the grace period passes THEN both are finalized with their customer's second number
    advance(api, functions, clock["id"], APR_1 + GRACE + MINUTE)
    (_, final_under), (_, final_over) = invoices(api, sub_under), invoices(api, sub_over)
    check_invoice(
        final_under,
        status="open",
        number=f"{under['invoice_prefix']}-0002",
        period=(MAR_1, APR_1),
        lines=[base_april, march_under],
        total=9_900,
    )
    check_invoice(
        final_over,
        status="open",
        number=f"{over['invoice_prefix']}-0002",
        period=(MAR_1, APR_1),
        lines=[base_april, march_over],
        total=11_073,
    )
    # WHEN in April Under goes 1 call over (10,001) and Over uses nothing
    advance(api, functions, clock["id"], at(2031, 4, 16))
    report(api, "hybrid_api_calls", under, 10_001)
    advance(api, functions, clock["id"], MAY_1 + GRACE + MINUTE)
    # THEN Under: 9,900 for [May 1, Jun 1) + 1 call × 0.5 = 0.5 → 1 (half-up) → 9,901;
    # Over: 9,900 + 0 calls = 0 → 9,900; both numbered -0003, each a third invoice: Stripe's
    # 99.00 at creation, then 99.00 + the overage at each period end
    jun_1 = at(2031, 6, 1)
    base_may = (9_900, 1, (MAY_1, jun_1), "1 × Pro plan")
    _, first_under, april_under = invoices(api, sub_under)
    _, first_over, april_over = invoices(api, sub_over)
    assert (first_under["id"], first_over["id"]) == (final_under["id"], final_over["id"])
    check_invoice(
        april_under,
        status="open",
        number=f"{under['invoice_prefix']}-0003",
        period=(APR_1, MAY_1),
        lines=[base_may, (1, 10_001, (APR_1, MAY_1), "10001 × API calls")],
        total=9_901,
    )
    check_invoice(
        april_over,
        status="open",
        number=f"{over['invoice_prefix']}-0003",
        period=(APR_1, MAY_1),
        lines=[base_may, (0, 0, (APR_1, MAY_1), "0 × API calls")],
        total=9_900,
    )


# -- a decimal price: a sub-cent rate, rounded once per line --------------------------------------
def test_a_sub_cent_decimal_price_is_rounded_once_per_line(api, functions):
    # GIVEN 0.0125 cent per token (unit_amount_decimal, 4 decimal places of a cent)
    tokens = meter(api, "decimal_tokens")
    decimal = price(
        api, "Tokens", currency="usd", unit_amount_decimal="0.0125", recurring=metered(tokens["id"])
    )
    assert (decimal["unit_amount"], decimal["unit_amount_decimal"]) == (None, "0.0125")
    clock = ok(api.post(CLOCKS, {"frozen_time": MAR_1}))
    initech = customer_on(api, clock["id"], "Initech")
    sub = subscribe(api, initech, decimal)
    # WHEN 40,000 + 40,000 + 20,040 = 100,040 tokens are used over the month
    report(api, "decimal_tokens", initech, 40_000)
    advance(api, functions, clock["id"], at(2031, 3, 11))
    report(api, "decimal_tokens", initech, 40_000)
    advance(api, functions, clock["id"], at(2031, 3, 21))
    report(api, "decimal_tokens", initech, 20_040)
    draft, final = close_month(api, functions, clock["id"], sub, APR_1)
    # THEN 100,040 × 0.0125 = 1,250.5 cents → 1,251 (half-up, once for the line; rounding each
    # report first would give 500 + 500 + 251 = 1,251 too, but 1,250.5 is never shown)
    line = (1_251, 100_040, (MAR_1, APR_1), "100040 × Tokens")
    check_invoice(draft, status="draft", number=None, period=(MAR_1, APR_1), lines=[line], total=1_251)
    number = f"{initech['invoice_prefix']}-0002"  # after the 0 creation invoice
    check_invoice(final, status="open", number=number, period=(MAR_1, APR_1), lines=[line], total=1_251)
    assert final["lines"]["data"][0]["pricing"]["unit_amount_decimal"] == "0.0125"


# -- a zero-decimal currency: amounts are whole yen ------------------------------------------------
def test_a_jpy_plan_bills_whole_yen(api, functions):
    # GIVEN a JPY plan: 5,000 yen a month in advance, and 0.5 yen per call in arrears
    calls = meter(api, "jpy_calls")
    base = price(api, "Basic", currency="jpy", unit_amount=5000, recurring={"interval": "month"})
    per_call = price(api, "Calls", currency="jpy", unit_amount_decimal="0.5", recurring=metered(calls["id"]))
    clock = ok(api.post(CLOCKS, {"frozen_time": MAR_1}))
    tanaka = customer_on(api, clock["id"], "Tanaka KK")
    sub = subscribe(api, tanaka, base, per_call)
    # WHEN 1,000 + 235 = 1,235 calls are used
    report(api, "jpy_calls", tanaka, 1_000)
    advance(api, functions, clock["id"], at(2031, 3, 30))
    report(api, "jpy_calls", tanaka, 235)
    draft, final = close_month(api, functions, clock["id"], sub, APR_1)
    # THEN 5,000 yen for April in advance, and 1,235 × 0.5 = 617.5 → 618 yen (no × 100 anywhere):
    # 5,618 yen
    lines = [(5_000, 1, (APR_1, MAY_1), "1 × Basic"), (618, 1_235, (MAR_1, APR_1), "1235 × Calls")]
    check_invoice(
        draft, status="draft", number=None, period=(MAR_1, APR_1), lines=lines, total=5_618, currency="jpy"
    )
    # AND the creation invoice billed March's 5,000 yen in advance (and 0 calls)
    first = invoices(api, sub)[0]
    march = [(5_000, 1, (MAR_1, APR_1), "1 × Basic"), (0, 0, (MAR_1, MAR_1), "0 × Calls")]
    number = f"{tanaka['invoice_prefix']}-0001"
    check_first(first, status="open", number=number, lines=march, total=5_000, currency="jpy")
    number = f"{tanaka['invoice_prefix']}-0002"
    check_invoice(
        final, status="open", number=number, period=(MAR_1, APR_1), lines=lines, total=5_618, currency="jpy"
    )


def test_hybrid_usage_at_the_period_edges_and_in_the_grace_period(api, functions):
    # GIVEN the seed's hybrid plan (99.00 a month including 10,000 calls, then 0.5 cent a call)
    calls = meter(api, "edge_calls")
    base = price(api, "Pro plan", currency="usd", unit_amount=9900, recurring={"interval": "month"})
    overage = price(
        api,
        "API calls",
        currency="usd",
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[{"up_to": 10000, "unit_amount": 0}, {"up_to": "inf", "unit_amount_decimal": "0.5"}],
        recurring=metered(calls["id"]),
    )
    clock = ok(api.post(CLOCKS, {"frozen_time": MAR_1}))
    edge = customer_on(api, clock["id"], "Edge")
    sub = subscribe(api, edge, base, overage)
    # WHEN 9,990 calls are used on Mar 1, and 5 in the period's last second (Mar 31 23:59:59)
    report(api, "edge_calls", edge, 9_990)
    advance(api, functions, clock["id"], APR_1 - 1)
    report(api, "edge_calls", edge, 5)
    # AND 1,000 in April's first second, once the clock is there
    advance(api, functions, clock["id"], APR_1)
    report(api, "edge_calls", edge, 1_000)
    advance(api, functions, clock["id"], APR_1 + 10 * MINUTE)
    # THEN the draft has 9,990 + 5 = 9,995 March calls, all in the allowance: 0; the base for
    # April in advance: 9,900 (the creation invoice billed March's base, 9,900)
    first, draft = invoices(api, sub)
    march = [(9_900, 1, (MAR_1, APR_1), "1 × Pro plan"), (0, 0, (MAR_1, MAR_1), "0 × API calls")]
    check_first(first, status="open", number=f"{edge['invoice_prefix']}-0001", lines=march, total=9_900)
    base_april = (9_900, 1, (APR_1, MAY_1), "1 × Pro plan")
    check_invoice(
        draft,
        status="draft",
        number=None,
        period=(MAR_1, APR_1),
        lines=[base_april, (0, 9_995, (MAR_1, APR_1), "9995 × API calls")],
        total=9_900,
    )
    # WHEN, still in the grace period, 20 late calls for Mar 31 12:00 arrive (and 7 for April)
    late = {"event_name": "edge_calls", "payload": {"stripe_customer_id": edge["id"], "value": "20"}}
    ok(api.post("/v1/billing/meter_events", {**late, "timestamp": at(2031, 3, 31, 12)}))
    report(api, "edge_calls", edge, 7)
    advance(api, functions, clock["id"], APR_1 + GRACE + MINUTE)
    # THEN the finalized invoice re-rates March with them: 10,015 calls → 15 over × 0.5 = 7.5 → 8
    # (half-up); the base line is kept: 9,908; April's calls are not in it
    _, final = invoices(api, sub)
    check_invoice(
        final,
        status="open",
        number=f"{edge['invoice_prefix']}-0002",
        period=(MAR_1, APR_1),
        lines=[base_april, (8, 10_015, (MAR_1, APR_1), "10015 × API calls")],
        total=9_908,
    )
    # AND April's invoice counts April's 1,000 + 7 = 1,007 calls (free) with May's base: 9,900
    advance(api, functions, clock["id"], MAY_1 + GRACE + MINUTE)
    _, _, april = invoices(api, sub)
    check_invoice(
        april,
        status="open",
        number=f"{edge['invoice_prefix']}-0003",
        period=(APR_1, MAY_1),
        lines=[
            (9_900, 1, (MAY_1, at(2031, 6, 1)), "1 × Pro plan"),
            (0, 1_007, (APR_1, MAY_1), "1007 × API calls"),
        ],
        total=9_900,
    )


# -- acting on a clock customer's invoices happens at the clock's time ----------------------------
def test_a_preview_mid_month_shows_the_clock_period_and_its_usage_so_far(api, functions):
    # GIVEN the walkthrough price and John Doe on a clock at 1 Mar 2031, 1,301 tokens used by Mar 20
    tokens = meter(api, "preview_tokens")
    alpaca = price(
        api,
        "Alpaca AI tokens",
        currency="usd",
        unit_amount=4,
        transform_quantity={"divide_by": 100, "round": "up"},
        recurring=metered(tokens["id"]),
    )
    clock = ok(api.post(CLOCKS, {"frozen_time": MAR_1}))
    john = customer_on(api, clock["id"], "John Doe")
    sub = subscribe(api, john, alpaca)
    report(api, "preview_tokens", john, 1_300)
    advance(api, functions, clock["id"], at(2031, 3, 20))
    report(api, "preview_tokens", john, 1)
    # WHEN the next invoice is previewed (by subscription, and by customer)
    for by in ({"subscription": sub["id"]}, {"customer": john["id"]}):
        preview = ok(api.post("/v1/invoices/create_preview", by))
        # THEN it is March's, at the clock's time: ceil(1,301 / 100) = 14 × 4 = 56 cents so far
        assert (preview["period_start"], preview["period_end"], preview["created"]) == (MAR_1, APR_1, APR_1)
        assert lines_of(preview) == [(56, 14, (MAR_1, APR_1), "14 × Alpaca AI tokens (usage 1301)")]
        assert preview["total"] == 56


def test_finalizing_and_paying_by_hand_happen_at_the_clock_time(api, functions):
    # GIVEN a 10.00 monthly plan on a clock at 1 Mar 2031, advanced past Apr 1 (a draft)
    plan = price(api, "Plan", currency="usd", unit_amount=1000, recurring={"interval": "month"})
    clock = ok(api.post(CLOCKS, {"frozen_time": MAR_1}))
    customer = customer_on(api, clock["id"], "By hand")
    sub = subscribe(api, customer, plan)
    advance(api, functions, clock["id"], APR_1 + MINUTE)
    first, draft = invoices(api, sub)  # the creation invoice (March's 10.00), then April's draft
    assert (first["billing_reason"], first["status"], first["total"]) == ("subscription_create", "open", 1000)
    assert draft["status"] == "draft"
    # WHEN it is finalized by hand at Apr 1 00:01 on the clock, and paid out of band at 00:30
    final = ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    advance(api, functions, clock["id"], APR_1 + 30 * MINUTE)
    paid = ok(api.post(f"/v1/invoices/{draft['id']}/pay", {"paid_out_of_band": "true"}))
    # THEN both are stamped with the clock's time, not the wall clock's
    assert final["status_transitions"]["finalized_at"] == final["effective_at"] == APR_1 + MINUTE
    assert final["number"] == f"{customer['invoice_prefix']}-0002"
    assert paid["status_transitions"]["paid_at"] == APR_1 + 30 * MINUTE
    assert (paid["status"], paid["amount_paid"], paid["amount_remaining"]) == ("paid", 1000, 0)
    # AND the grace period's end leaves it as it is
    advance(api, functions, clock["id"], APR_1 + GRACE + MINUTE)
    assert ok(api.get(f"/v1/invoices/{draft['id']}")) == paid
