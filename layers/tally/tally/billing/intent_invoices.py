"""The invoice an intent's commit writes for what it collects (`collect_at: on_effective_at`)."""

from __future__ import annotations

from tally.clock import Clock
from tally.domain import limits
from tally.domain.intents import Intent
from tally.domain.records import Customer, Invoice, InvoiceLine
from tally.ids import new_id
from tally.store import objects


def collected(account: str, intent: Intent, lines: list[InvoiceLine], clock: Clock) -> Invoice:
    """The invoice of what a commit collects (`collect_at: on_effective_at`): the first service
    interval of each subscribed license fee, the prorations of modifies and deactivates effective
    by now, on the cadence, finalized by the next close (due at once). Its total is the reserve's
    subtotal (same versions, quantities and pricing)."""
    customer = objects.get(account, intent.customer, Customer, clock)
    total = limits.check_amount("The invoice total", sum(ln.amount for ln in lines))
    return Invoice(
        id=new_id("in"),
        customer=customer.id,
        subscription=None,
        created=clock.now,
        livemode=intent.livemode,
        currency=intent.currency,
        period_start=clock.now,
        period_end=clock.now,
        lines=tuple(lines),
        subtotal=total,
        total=total,
        amount_due=total,
        amount_remaining=total,
        billing_reason="subscription_create"
        if any(a.type == "subscribe" for a in intent.actions)
        else "subscription_update",
        customer_email=customer.email,
        customer_name=customer.name,
        customer_phone=customer.phone,
        test_clock=customer.test_clock,
        automatically_finalizes_at=clock.now,
        billing_cadence=intent.cadence,
    )
