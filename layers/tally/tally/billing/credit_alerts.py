"""Creating a credit-balance alert (Stripe's preview `alert_type=credit_balance_threshold`): the
alert and the customer's watch in one transaction (`tally.billing.alerts.create_credit`), then
one evaluation at the customer's clock, so an alert created while the balance is already at or
below its threshold triggers at once (its `billing.alert.triggered` is written before the answer).
"""

from __future__ import annotations

from tally.billing import alerts, clocks, credit_evaluation
from tally.clock import Clock
from tally.domain.records import Alert


def create(account: str, title: str, customer: str, currency: str, lte: int, clock: Clock) -> Alert:
    """A new active credit-balance alert on `customer`, evaluated once (see the module doc)."""
    alert = alerts.create_credit(account, title, customer, currency, lte, clock)
    credit_evaluation.evaluate(account, customer, clocks.clock_for(account, customer, clock))
    return alert
