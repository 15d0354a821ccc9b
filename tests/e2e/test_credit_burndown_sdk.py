"""Billing credits with the official `stripe` SDK (`StripeClient`, as Stripe's guides write it):
grant 10.00 USD of promotional credits, use Alpaca AI tokens (0.04 USD per 100, rounded up), watch
the available balance fall as usage arrives (Tally's real-time burndown), and see the finalized
invoice take exactly that: `total_pretax_credit_amounts`, a `credits_applied` ledger entry, and a
balance summary that agrees. On a test clock, so the month passes in a second."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import stripe

pytestmark = pytest.mark.e2e

T0 = int(dt.datetime(2031, 3, 1, tzinfo=dt.UTC).timestamp())
APR_1 = int(dt.datetime(2031, 4, 1, tzinfo=dt.UTC).timestamp())
METERED = {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}}


def _balance(client: stripe.StripeClient, customer: str) -> tuple[int, int]:
    """(available, ledger) in cents."""
    summary = client.v1.billing.credit_balance_summary.retrieve({"customer": customer, "filter": METERED})
    (b,) = summary.balances
    return b.available_balance.monetary.value, b.ledger_balance.monetary.value


def _ready(client: stripe.StripeClient, clock_id: str) -> None:
    deadline = time.monotonic() + 30
    while client.v1.test_helpers.test_clocks.retrieve(clock_id).status == "advancing":
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_promotional_credits_burn_down_and_the_invoice_agrees(client: stripe.StripeClient) -> None:
    # GIVEN a customer on a test clock subscribed to Alpaca AI tokens
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    customer = client.v1.customers.create({"name": "John Doe", "test_clock": clock.id})
    meter = client.v1.billing.meters.create(
        {
            "display_name": "Alpaca AI tokens",
            "event_name": "alpaca_ai_tokens",
            "default_aggregation": {"formula": "sum"},
        }
    )
    price = client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": 4,
            "transform_quantity": {"divide_by": 100, "round": "up"},
            "recurring": {"usage_type": "metered", "interval": "month", "meter": meter.id},
            "product_data": {"name": "Alpaca AI tokens"},
        }
    )
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    # AND 10.00 USD of promotional credits for metered prices
    grant = client.v1.billing.credit_grants.create(
        {
            "customer": customer.id,
            "name": "Welcome credits",
            "category": "promotional",
            "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 1000}},
            "applicability_config": {"scope": {"price_type": "metered"}},
        }
    )
    assert (grant.category, grant.test_clock) == ("promotional", clock.id)
    assert _balance(client, customer.id) == (1000, 1000)

    def use(tokens: int) -> None:
        payload = {"stripe_customer_id": customer.id, "value": str(tokens)}
        client.v1.billing.meter_events.create({"event_name": "alpaca_ai_tokens", "payload": payload})

    # WHEN 1,500 tokens are used THEN 15 × 0.04 = 0.60 is burned at once: 9.40 available
    use(1_500)
    assert _balance(client, customer.id) == (940, 1000)
    # WHEN 13,500 more (15,000 in all: 6.00) THEN 4.00 available; the ledger moves only at invoicing
    use(13_500)
    assert _balance(client, customer.id) == (400, 1000)
    # WHEN the month ends and the invoice finalizes after its grace period
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": APR_1 + 2 * 3600})
    _ready(client, clock.id)
    invoice = next(
        i
        for i in client.v1.invoices.list({"subscription": sub.id}).data
        if i.billing_reason == "subscription_cycle"
    )
    # THEN it bills 6.00 of tokens and shows 6.00 of credits applied before tax: nothing due, paid
    assert (invoice.status, invoice.subtotal, invoice.total, invoice.amount_due) == ("paid", 600, 0, 0)
    (credit,) = invoice.total_pretax_credit_amounts
    assert (credit.type, credit.amount) == ("credit_balance_transaction", 600)
    (line,) = invoice.lines.data
    assert [(c.type, c.amount) for c in line.pretax_credit_amounts] == [("credit_balance_transaction", 600)]
    # AND the ledger has its credits_applied entry, and the summary agrees with what it showed: 4.00
    txn = client.v1.billing.credit_balance_transactions.retrieve(credit.credit_balance_transaction)
    assert (txn.type, txn.debit.type, txn.debit.amount.monetary.value) == ("debit", "credits_applied", 600)
    assert (txn.debit.credits_applied.invoice, txn.credit_grant) == (invoice.id, grant.id)
    assert _balance(client, customer.id) == (400, 400)
