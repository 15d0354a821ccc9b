"""The hybrid plan of the seed ("99 USD/month including 10,000 API calls, overage per call") for two
months on a test clock, end to end through the official `stripe` SDK (module-level API, as
Stripe's guides write it) against the real local server: only the base URL and the key change.

As Stripe models it: a licensed 99.00 USD monthly price for the base, and a metered graduated
price whose first tier (up to 10,000 calls) is free, then 0.5 cent per call. As on Stripe, the
customer is billed 99.00 when the subscription is created (`subscription_create`), then 99.00 +
the overage at each period end. Amounts are hand-computed in the comments.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
import stripe

pytestmark = pytest.mark.e2e


def at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


MAR_1, APR_1, MAY_1, JUN_1 = at(2031, 3, 1), at(2031, 4, 1), at(2031, 5, 1), at(2031, 6, 1)
MINUTE, HOUR = 60, 3600


def advance(clock_id: str, to: int, timeout: float = 30.0) -> stripe.test_helpers.TestClock:
    """The only way this test moves the clock: advance, then poll until it is ready (an advance
    may answer `advancing` and finish in the background, as on Stripe)."""
    stripe.test_helpers.TestClock.advance(clock_id, frozen_time=to)
    deadline = time.monotonic() + timeout
    while True:
        clock = stripe.test_helpers.TestClock.retrieve(clock_id)
        if clock.status == "ready":
            assert clock.frozen_time == to
            return clock
        assert time.monotonic() < deadline, f"the clock is still {clock.status} after {timeout}s"
        time.sleep(0.1)


def use(customer: stripe.Customer, calls: int) -> None:
    """Calls reported at the clock's time (the default timestamp of a clock's customer)."""
    stripe.billing.MeterEvent.create(
        event_name="api_calls", payload={"stripe_customer_id": customer.id, "value": str(calls)}
    )


def lines(invoice: stripe.Invoice) -> list[tuple[int, int, int, int, str]]:
    """(amount, quantity, period start, period end, description) of each line."""
    return [
        (ln.amount, ln.quantity, ln.period.start, ln.period.end, ln.description) for ln in invoice.lines.data
    ]


def test_the_hybrid_plan_for_two_months_on_a_test_clock(local_server, e2e_key, monkeypatch):
    monkeypatch.setattr(stripe, "api_key", e2e_key)
    monkeypatch.setattr(stripe, "api_base", local_server.url)
    # GIVEN the hybrid plan
    meter = stripe.billing.Meter.create(
        display_name="API calls", event_name="api_calls", default_aggregation={"formula": "sum"}
    )
    base = stripe.Price.create(
        currency="usd", unit_amount=9900, recurring={"interval": "month"}, product_data={"name": "Pro plan"}
    )
    overage = stripe.Price.create(
        currency="usd",
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[{"up_to": 10000, "unit_amount": 0}, {"up_to": "inf", "unit_amount_decimal": "0.5"}],
        recurring={"interval": "month", "usage_type": "metered", "meter": meter.id},
        product_data={"name": "API calls"},
    )
    # AND two customers on a clock at 1 Mar 2031, each subscribed to both prices
    clock = stripe.test_helpers.TestClock.create(frozen_time=MAR_1, name="hybrid")
    under = stripe.Customer.create(name="Under", test_clock=clock.id)
    over = stripe.Customer.create(name="Over", test_clock=clock.id)
    subs = {
        c.id: stripe.Subscription.create(customer=c.id, items=[{"price": base.id}, {"price": overage.id}])
        for c in (under, over)
    }
    creation = {}
    for customer in (under, over):
        sub = subs[customer.id]
        assert (sub.current_period_start, sub.current_period_end) == (MAR_1, APR_1)
        # THEN each creation issues its `subscription_create` invoice, open at once: 99.00 for the
        # base's first period [Mar 1, Apr 1) in advance, and the calls' 0 line
        (first,) = stripe.Invoice.list(subscription=sub.id).data
        assert lines(first) == [
            (9_900, 1, MAR_1, APR_1, "1 × Pro plan"),
            (0, 0, MAR_1, MAR_1, "0 × API calls"),
        ]
        assert (first.billing_reason, first.status, first.total, first.created) == (
            "subscription_create",
            "open",
            9_900,
            MAR_1,
        )
        assert first.number == f"{customer.invoice_prefix}-0001"
        creation[customer.id] = first.id
    # WHEN March's calls are used: Under 5,000 + 4,000 = 9,000; Over 8,000 + 4,001 = 12,001
    use(under, 5_000)
    use(over, 8_000)
    advance(clock.id, at(2031, 3, 20))
    use(under, 4_000)
    use(over, 4_001)
    # THEN Over's preview on Mar 20 (the clock's time) shows March so far: 9,900 for April in
    # advance, and (12,001 − 10,000) = 2,001 calls × 0.5 = 1,000.5 → 1,001 (half-up) in arrears
    preview = stripe.Invoice.create_preview(subscription=subs[over.id].id)
    assert (preview.period_start, preview.period_end) == (MAR_1, APR_1)
    assert [(ln.amount, ln.quantity) for ln in preview.lines.data] == [(9_900, 1), (1_001, 12_001)]
    assert preview.total == 10_901
    # AND the clock passes Apr 1 (the invoices are drafted), then the 1-hour grace period
    advance(clock.id, APR_1 + MINUTE)
    drafts = {c: stripe.Invoice.list(subscription=s.id).data for c, s in subs.items()}  # newest first
    assert [inv.status for found in drafts.values() for inv in found] == ["draft", "open", "draft", "open"]
    advance(clock.id, APR_1 + HOUR + MINUTE)
    # THEN Under: 9,900 for April in advance + 9,000 calls in the free tier = 0 → 9,900 (99.00)
    march_under, _ = stripe.Invoice.list(subscription=subs[under.id].id).data
    base_april = (9_900, 1, APR_1, MAY_1, "1 × Pro plan")
    assert march_under.id == drafts[under.id][0].id
    assert lines(march_under) == [base_april, (0, 9_000, MAR_1, APR_1, "9000 × API calls")]
    # AND Over: 9,900 + (12,001 − 10,000) = 2,001 × 0.5 = 1,000.5 → 1,001 (half-up) → 10,901
    march_over, _ = stripe.Invoice.list(subscription=subs[over.id].id).data
    assert lines(march_over) == [base_april, (1_001, 12_001, MAR_1, APR_1, "12001 × API calls")]
    for invoice, customer, total in ((march_under, under, 9_900), (march_over, over, 10_901)):
        assert (invoice.status, invoice.billing_reason, invoice.currency) == (
            "open",
            "subscription_cycle",
            "usd",
        )
        assert (invoice.period_start, invoice.period_end, invoice.created) == (MAR_1, APR_1, APR_1)
        assert invoice.subtotal == invoice.total == invoice.amount_due == total
        assert invoice.number == f"{customer.invoice_prefix}-0002"
        assert invoice.status_transitions.finalized_at == APR_1 + HOUR
    # AND March's invoices are paid out of band
    paid = stripe.Invoice.pay(march_over.id, paid_out_of_band=True)
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 10_901, 0)
    assert paid.status_transitions.paid_at == APR_1 + HOUR + MINUTE  # the clock's time
    # WHEN in April Under uses 10,003 calls and Over none, and the clock passes May 1 and its grace
    advance(clock.id, at(2031, 4, 10))
    use(under, 10_003)
    advance(clock.id, MAY_1 + HOUR + MINUTE)
    # THEN Under: 9,900 for May + 3 × 0.5 = 1.5 → 2 → 9,902; Over: 9,900 + 0 → 9,900; numbered -0003
    base_may = (9_900, 1, MAY_1, JUN_1, "1 × Pro plan")
    expected = {
        under.id: ([base_may, (2, 10_003, APR_1, MAY_1, "10003 × API calls")], 9_902),
        over.id: ([base_may, (0, 0, APR_1, MAY_1, "0 × API calls")], 9_900),
    }
    for customer in (under, over):
        april, march, first = stripe.Invoice.list(subscription=subs[customer.id].id).data  # newest first
        assert march.period_start == MAR_1 and first.id == creation[customer.id]
        want_lines, total = expected[customer.id]
        assert lines(april) == want_lines
        assert (april.status, april.period_start, april.period_end) == ("open", APR_1, MAY_1)
        assert april.total == april.amount_due == total
        assert april.number == f"{customer.invoice_prefix}-0003"
    # AND each subscription is in its May period
    for sub in subs.values():
        shown = stripe.Subscription.retrieve(sub.id)
        assert (shown.current_period_start, shown.current_period_end) == (MAY_1, JUN_1)
