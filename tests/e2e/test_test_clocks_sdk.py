"""A month on a test clock through the official `stripe` SDK (module-level API, as Stripe's guide
writes it): only the base URL and the key change. The walkthrough price: 4 cents per 100 tokens,
rounded up."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import stripe

pytestmark = pytest.mark.e2e

T0 = int(dt.datetime(2031, 1, 15, tzinfo=dt.UTC).timestamp())
FEB_15 = int(dt.datetime(2031, 2, 15, tzinfo=dt.UTC).timestamp())


def wait_until_ready(clock_id: str, timeout: float = 30.0) -> stripe.test_helpers.TestClock:
    """Poll the clock as Stripe's guide says (an advance finishes in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        clock = stripe.test_helpers.TestClock.retrieve(clock_id)
        if clock.status != "advancing":
            return clock
        if time.monotonic() > deadline:
            raise AssertionError(f"test clock {clock_id} still advancing after {timeout:.0f} s: {clock}")
        time.sleep(0.2)


def test_a_month_on_a_test_clock_bills_the_usage(local_server, e2e_key, monkeypatch):
    monkeypatch.setattr(stripe, "api_key", e2e_key)
    monkeypatch.setattr(stripe, "api_base", local_server.url)
    # GIVEN a clock at 15 Jan 2031, a customer on it, the walkthrough meter, price and subscription
    clock = stripe.test_helpers.TestClock.create(frozen_time=T0, name="walkthrough")
    assert (clock.status, clock.frozen_time) == ("ready", T0)
    customer = stripe.Customer.create(name="John Doe", test_clock=clock.id)
    assert customer.test_clock == clock.id and customer.created == T0
    meter = stripe.billing.Meter.create(
        display_name="Alpaca AI tokens",
        event_name="alpaca_ai_tokens",
        default_aggregation={"formula": "sum"},
    )
    price = stripe.Price.create(
        currency="usd",
        unit_amount=4,
        transform_quantity={"divide_by": 100, "round": "up"},
        recurring={"usage_type": "metered", "interval": "month", "meter": meter.id},
        product_data={"name": "Alpaca AI tokens"},
    )
    subscription = stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}])
    assert subscription.start_date == T0
    # AND 1,201 tokens reported at the clock's time (the events default to it)
    for value in (150, 1_000, 51):
        event = stripe.billing.MeterEvent.create(
            event_name="alpaca_ai_tokens", payload={"stripe_customer_id": customer.id, "value": str(value)}
        )
        assert event.timestamp == T0
    # WHEN the clock advances past the period's end
    started = time.monotonic()
    advancing = stripe.test_helpers.TestClock.advance(clock.id, frozen_time=FEB_15 + 3600)
    # THEN it answers at once, advancing (as Stripe), and becomes ready in the background (the
    # local runtime polls the queue: within a couple of seconds)
    assert advancing.status == "advancing"
    assert advancing.status_details.advancing.target_frozen_time == FEB_15 + 3600
    advanced = wait_until_ready(clock.id)
    assert (advanced.status, advanced.frozen_time) == ("ready", FEB_15 + 3600)
    # (well before the schedule's next minute: the queue's poller is woken, not waited for; 30 s, not
    # 5, because a loaded shared machine took 10 s — speed is the bench's business, not this test's)
    assert time.monotonic() - started < 30, time.monotonic() - started
    # (after the creation invoice: 0 for a metered price, paid at T0, the clock's time)
    invoice, first = stripe.Invoice.list(subscription=subscription.id).data
    assert (first.billing_reason, first.status, first.total, first.created) == (
        "subscription_create",
        "paid",
        0,
        T0,
    )
    # AND the period's invoice bills ceil(1,201 / 100) = 13 × 4 = 52 cents for Jan 15 → Feb 15,
    # finalized at the end of its 1-hour grace period as the schedule would (numbered, open), on the clock
    assert invoice.test_clock == clock.id and first.test_clock == clock.id
    assert [s.id for s in stripe.Subscription.list(test_clock=clock.id).data] == [subscription.id]
    assert (invoice.status, invoice.period_start, invoice.period_end) == ("open", T0, FEB_15)
    assert invoice.total == 52 and invoice.number.endswith("-0002")
    # AND it is paid out of band through the SDK
    assert stripe.Invoice.pay(invoice.id, paid_out_of_band=True).status == "paid"
    # AND deleting the clock deletes its customer
    assert stripe.test_helpers.TestClock.delete(clock.id).deleted is True
    assert stripe.Customer.retrieve(customer.id).deleted is True  # Stripe's deleted stub
