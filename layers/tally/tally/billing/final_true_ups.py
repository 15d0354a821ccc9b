"""Late usage after a subscription's final invoice: billed by one last true-up invoice.

A running subscription's late usage (events stamped in a finalized period, or cancelled from it)
rides on its next invoice (`tally.billing.true_ups`). An ended subscription has no next invoice, so
its finalized periods are re-checked once more when they can no longer change: at its end +
`FINAL_TRUE_UP_AFTER` (35 days of back-stamping + 24 h of cancel window,
`Subscription.final_true_up_at`), when the subscription's due-index entry sends it to the billing
worker (`billing.cycles.bill_period`). Then, in ONE transaction:

- with a true-up to bill: a draft invoice (`billing_reason: subscription_update`, its lines the
  true-ups, period = the span they cover) that finalizes on its own after the account's grace
  period like any draft (`auto_advance`), plus the subscription (version-checked) marked done, so
  its due entry goes. Its finalization recomputes the true-ups and forgets the periods (settled),
  and a negative total becomes customer credit (`tally.billing.balances`): late usage never lost;
- with nothing to bill: the subscription marked done, and its billed-usage items forgotten.

Exactly once: the subscription Put is conditional on the version read, so a duplicate message
finds it done, and two workers cannot both draft the invoice. Crash points: before or inside the
transaction nothing is written (SQS redelivers); after it, the redelivery finds it done.
"""

from __future__ import annotations

from dataclasses import replace

from tally.billing import account_settings, changes, pending, subscriptions, true_ups
from tally.clock import Clock
from tally.domain.invoices import Period
from tally.domain.records import Invoice, Price, Subscription
from tally.errors import NotFound
from tally.presenters.invoices import invoice as present_invoice
from tally.presenters.subscriptions import subscription as present
from tally.store import billed, transactions
from tally.store.billed import StoredPeriod
from tally.store.changes import Change, Stored, Write


def bill(
    account: str, stored: Stored[Subscription], periods: list[StoredPeriod], clock: Clock
) -> tuple[str, Invoice | None]:
    """The last true-up of the ended subscription `stored` (read with its open billed `periods`).
    Returns ("not_due" | "ended" | "billed", the invoice drafted)."""
    s = stored.record
    due = s.final_true_up_at
    if due is None:
        return "ended", None
    if due > clock.now:
        return "not_due", None
    prices: dict[str, Price] = {}
    lines = true_ups.lines(account, s.id, s.customer, prices, {}, clock, periods=periods)
    after = replace(s, final_true_up_done=True)
    invoice = None
    if lines:
        try:
            span = Period(min(ln.period.start for ln in lines), max(ln.period.end for ln in lines))
            grace = account_settings.invoice_grace(account, clock)
            invoice = pending.invoice_now(account, s, tuple(lines), span, prices, clock, grace=grace)
        except NotFound:  # the customer was deleted: there is no one left to bill
            invoice = None
    if invoice is not None:
        after = replace(after, latest_invoice=invoice.id)
    change = changes.updated(
        after,
        "customer.subscription.updated",
        present(subscriptions.view(account, s, clock)),
        present(subscriptions.view(account, after, clock)),
    )
    writes = [Write(change or Change(after, None, {}), stored)]
    aux = []
    if invoice is not None:
        writes.append(Write(Change(invoice, "invoice.created", present_invoice(invoice))))
    else:  # nothing to bill: its periods are settled, forget them now
        aux = [billed.settled(account, p) for p in periods]
    transactions.commit(account, writes, clock, aux=aux)
    return "billed", invoice
