"""The use-case layer runs a whole flow at any instant, with no HTTP and no patched time.

This is how a scheduled job, a queue worker or a test clock will call it: an account, typed
inputs and a `Clock`. The flow here is seed 002's (Alpaca AI: 0.04 USD per 100 tokens, rounded
up) plus a licensed seat price, run in 2031 — far from the wall clock — and it must price exactly
as hand-computed.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import support

from tally.billing import (
    customers,
    invoices,
    meter_events,
    meters,
    prices,
    products,
    subscription_creation,
)
from tally.billing.meter_events import EventInput
from tally.billing.meters import MeterSpec
from tally.billing.prices import Amount, NewPrice
from tally.billing.subscriptions import ItemSpec
from tally.clock import Clock
from tally.domain.aggregation import Formula
from tally.domain.records import Recurring, Transform

pytestmark = pytest.mark.usefixtures("moto_tables")

START = dt.datetime(2031, 5, 14, 9, 30, tzinfo=dt.UTC).timestamp()


def test_a_month_of_usage_billed_at_an_instant_of_our_choosing():
    account = support.new_account().id
    t0 = Clock.at(START)
    # GIVEN a customer, a token meter, a metered price (4 cents per 100 tokens, rounded up) and a
    # seat price (10 USD), all created on 14 May 2031
    customer = customers.create(account, {"name": "Alpaca AI"}, None, t0)
    meter = meters.create(account, MeterSpec("Tokens", "alpaca_ai_tokens", Formula.SUM), t0)
    tokens = products.create(account, {"name": "Tokens"}, None, t0)
    seats = products.create(account, {"name": "Seats"}, None, t0)
    metered = prices.create(
        account,
        NewPrice(
            currency="usd",
            product=tokens.id,
            unit_amount=Amount(Decimal(4), "unit_amount"),
            transform=Transform(100, "up"),
            recurring=Recurring("month", 1, "metered", meter.id),
        ),
        t0,
    )
    seat = prices.create(
        account,
        NewPrice(
            currency="usd",
            product=seats.id,
            unit_amount=Amount(Decimal(1000), "unit_amount"),
            recurring=Recurring("month"),
        ),
        t0,
    )
    sub = subscription_creation.create(
        account,
        customer.id,
        [ItemSpec(metered.id, "items[0][price]"), ItemSpec(seat.id, "items[1][price]", quantity=3)],
        t0,
    ).subscription
    # WHEN usage arrives over the following days (each event at its own instant)
    for day, value in ((1, 150), (3, 1_000), (20, 51)):
        at = t0.later(day * 86400)
        event = EventInput("alpaca_ai_tokens", {"stripe_customer_id": customer.id, "value": str(value)})
        assert len(meter_events.accept(account, {0: event}, at).stored) == 1
    # AND the invoice is previewed on 10 June 2031
    shown = invoices.preview(account, sub.id, None, t0.later(27 * 86400))
    # THEN 1,201 tokens bill ceil(1201 / 100) = 13 units × 4 = 52 cents, and 3 seats × 1000 = 3000
    lines = {ln.price: (ln.quantity, ln.amount) for ln in shown.draft.lines}
    assert lines == {metered.id: (13, 52), seat.id: (3, 3000)}
    assert shown.draft.totals.total == 3052
    # AND the period is the one containing that instant: 14 May → 14 June 2031
    june = dt.datetime(2031, 6, 14, 9, 30, tzinfo=dt.UTC).timestamp()
    assert (shown.draft.period.start, shown.draft.period.end) == (int(START), int(june))
    # AND a month later the same subscription is in its next period, with no usage yet
    later = invoices.preview(account, sub.id, None, Clock.at(june + 3600))
    assert {ln.price: ln.amount for ln in later.draft.lines} == {metered.id: 0, seat.id: 3000}
