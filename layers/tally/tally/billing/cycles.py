"""Billing cycles: the scheduled close of ended periods, and billing one period exactly once.

`close_periods` (the schedule, every minute) reads the due index (`tally.store.due`: every active
subscription whose unbilled period has ended, across accounts, shard by shard) and sends one
message per (account, subscription, period end) to the billing queue. It writes nothing else, so
two overlapping runs, or a run that dies halfway, only send some messages twice.

`bill_period` (the queue worker) bills one message: the draft invoice of the subscription's
unbilled period `[start, end)` — metered lines from usage over it, licensed lines in advance for
the next period, assembled by `billing.invoices.build`, the code a preview runs — and the
subscription advanced to its next period (`billed_through = end`, which moves its due-index entry
to the next period's end), in ONE transaction (`transactions.commit`) with:

- the invoice Put, conditional on the id being new;
- a claim `invoice_period` = `<subscription>@<start>`, conditional on not existing: at most one
  invoice per (subscription, period), whatever else happens;
- the subscription Put, conditional on the version read (optimistic lock);
- the `invoice.created` and `customer.subscription.updated` events.

The draft also takes the customer's pending invoice items in its currency (Stripe's sweep), in
the same transaction: each item's Put is version-checked, so an item joins exactly one invoice
(`tally.billing.pending_items`, which names the crash points and the per-invoice cap).

The draft also carries the true-ups of the subscription's finalized periods (late usage:
`tally.billing.true_ups`), as a preview shows them; the subscription and what its invoices billed
are read by ONE Query of its partition (`tally.store.billed.with_open_periods`). Nothing about
them is written here: finalization recomputes and records them.

So the invoice exists exactly when the subscription has moved past the period. What happens on:

- a duplicate delivery, or a message sent by two overlapping runs: the subscription has moved on
  (`unbilled_period` ends later than the message's `period_end`): nothing is written;
- a crash before or inside the transaction: nothing was written; SQS delivers again;
- a crash after it (before SQS deletes the message): the redelivery is a duplicate (above);
- two deliveries at once, or a subscription changed (or canceled) between our read and our write:
  the version check (or the claim) cancels the transaction; we read again and re-decide, up to
  `ATTEMPTS` times, then fail the message so SQS retries it later (DLQ after the redrive limit).

The draft is created with `automatically_finalizes_at` = period end + the account's grace period
(`billing.account_settings`; default the deployment's `INVOICE_GRACE_SECONDS`), which puts it in
the same due index; `close_periods` then sends `{"kind": "finalize", …}` for it and the worker
hands it to `tally.billing.lifecycle`.

A subscription that is no longer active is not billed (its final invoice, Stripe's `invoice_now`,
belongs to the cancel flow); its due entry at its end + 36 days hands it to its last true-up
(`tally.billing.final_true_ups`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

from tally.billing import account_settings, cancellations, changes, final_true_ups, pending_items, reminders
from tally.billing import invoices as invoice_builder
from tally.clock import Clock
from tally.domain.records import Customer, Invoice, Subscription
from tally.errors import Conflict
from tally.ids import new_id
from tally.presenters.invoices import invoice as present_invoice
from tally.presenters.subscriptions import SubscriptionView
from tally.presenters.subscriptions import subscription as present_subscription
from tally.store import billed, due, objects, queues, transactions
from tally.store.changes import Change, Unique, Write

PER_SHARD = 2_000  # due subscriptions a run sends per shard; the rest go at the next run
ATTEMPTS = 3
INVOICE_PERIOD = "invoice_period"  # claim: one invoice per (subscription, period start)
FINALIZE = "finalize"  # the `kind` of a message that advances a draft invoice
EXPIRE = "expire_credit_grant"  # the `kind` of a message that records a grant's expiry
TICK = "cadence_tick"  # the `kind` of a message that bills a v2 cadence's tick
PLAN_DUE = "plan_subscription_due"  # … a pricing plan subscription's servicing events and grants


# -- the schedule ---------------------------------------------------------------------------------
def due_messages(clock: Clock, per_shard: int = PER_SHARD) -> Iterator[dict[str, Any]]:
    for shard in range(due.SHARDS):
        for d in due.due(clock.now, shard, per_shard):
            if d.credit_grant:  # a grant whose expiry is due (`tally.billing.credit_ledger`)
                yield {"kind": EXPIRE, "account": d.account, "credit_grant": d.subscription, "at": clock.now}
                continue
            if d.invoice:  # a draft whose grace period ended (`tally.billing.lifecycle`)
                yield {"kind": FINALIZE, "account": d.account, "invoice": d.subscription, "at": clock.now}
                continue
            if d.subscription.startswith("bpps_"):  # servicing events and service action grants
                yield {
                    "kind": PLAN_DUE,
                    "account": d.account,
                    "subscription": d.subscription,
                    "at": clock.now,
                }
                continue
            if d.subscription.startswith("bc_"):  # a cadence's tick (`tally.billing.cadence_invoices`)
                yield {
                    "kind": TICK,
                    "account": d.account,
                    "cadence": d.subscription,
                    "due": d.period_end,
                    "at": clock.now,
                }
                continue
            yield {
                "account": d.account,
                "subscription": d.subscription,
                "period_end": d.period_end,
                "at": clock.now,  # the worker bills as of the close's instant (its Clock)
            }


def one_watermark() -> AbstractContextManager[None]:
    """The billing queue's batch: its usage reads share one catch-up of the usage stream, the
    first (`tally.store.usage.catchup.one_watermark`)."""
    from tally.store.usage import catchup

    return catchup.one_watermark()


def close_periods(
    clock: Clock,
    *,
    per_shard: int = PER_SHARD,
    send: Callable[[Iterable[dict[str, Any]]], int] | None = None,
) -> int:
    """Send every period ended by the clock's instant to the billing queue (`send`, default the
    SQS queue); returns how many."""
    return (send or queues.send)(due_messages(clock, per_shard))


# -- the worker -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Billed:
    """What `bill_period` did: `billed` (with the invoice), `reminded` (a reminder written before
    the period ends, `billing.reminders`), or why nothing was to be done — `already_billed` (a
    duplicate), `not_due` (the period has not ended), `ended` (not active; its last true-up
    done). An ended subscription's last true-up is `billed` too (`billing.final_true_ups`)."""

    outcome: str
    invoice: Invoice | None = None


def bill_period(account: str, subscription_id: str, period_end: int, clock: Clock) -> Billed:
    """Bill the period of `subscription_id` ending at `period_end`, exactly once (module doc).

    Raises Conflict when the subscription kept changing under us (the message is retried), and
    NotFound when the subscription does not exist.
    """
    for attempt in range(ATTEMPTS):
        try:
            return _bill_once(account, subscription_id, period_end, clock)
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _bill_once(account: str, subscription_id: str, period_end: int, clock: Clock) -> Billed:
    # the subscription and what its finalized invoices billed (late usage re-checked): ONE Query
    stored, billed_periods = billed.with_open_periods(account, subscription_id, Subscription, clock)
    s = stored.record
    if not s.running:  # ended: its last true-up, once its periods settle (`billing.final_true_ups`)
        outcome, invoice = final_true_ups.bill(account, stored, billed_periods, clock)
        return Billed(outcome, invoice)
    start, end = s.unbilled_period
    if end > clock.now and reminders.send(account, stored, clock):
        return Billed("reminded")  # a reminder before the period ends (`billing.reminders`)
    if end > period_end:
        return Billed("already_billed")
    if end < period_end or end > clock.now:
        return Billed("not_due")  # a message from the future (or a clock behind): the index re-sends
    customer = objects.get(account, s.customer, Customer, clock)
    view = invoice_builder.build(
        account,
        s,
        Clock.at(start),
        invoice_id=new_id("in"),
        customer=customer,
        line_prefix="il",
        billed_periods=billed_periods,
    )
    finalizes_at = end + account_settings.invoice_grace(account, clock)
    invoice = replace(
        replace(view, billing_reason="subscription_cycle").as_record(),
        automatically_finalizes_at=finalizes_at,
    )
    after = replace(
        s, billed_through=end, status="active", latest_invoice=invoice.id
    )  # a trial ends with its period
    if s.cancel_at is not None and after.unbilled_period[1] == s.cancel_at:
        # renewed into the period `cancel_at` cuts short: its licensed lines in advance stop there
        # (`billing.invoices._ending_at`), so the time after it counts as credited (a charge-back
        # is due if `cancel_at` moves or is cleared: `cancellations.cancel_at_lines`)
        after = replace(after, cancel_at_credited=True)
    prices = view.prices  # read once, by the builder (a second read was 1 GetItem per price)
    nxt = after.unbilled_period
    if s.cancel_at_period_end or s.cancel_at == end:  # ends: no lines in advance (billing.cancellations)
        invoice, advanced = cancellations.at_period_end(account, s, view, (start, end), clock)
        invoice = replace(invoice, automatically_finalizes_at=finalizes_at)  # it finalizes too
    else:
        renewed = changes.updated(
            after,
            "customer.subscription.updated",
            present_subscription(SubscriptionView(s, prices, (start, end))),
            present_subscription(SubscriptionView(after, prices, nxt)),
        )
        assert renewed is not None  # the period moved, so the presented object changed
        advanced = renewed
    taken = Conflict(f"The period starting {start} of {s.id} is already invoiced.")
    claim = [Unique(INVOICE_PERIOD, f"{s.id}@{start}", taken)]
    # the customer's pending invoice items join the invoice in this same transaction, as many as
    # fit beside it (`billing.pending_items`: exactly once, the rest wait for the next invoice)
    room = transactions.MAX_ACTIONS - sum(
        transactions.actions(w)
        for w in (Write(Change(invoice, "invoice.created", {}, claim=claim)), Write(advanced, stored))
    )
    invoice, items = pending_items.sweep(account, invoice, clock, room=room)
    created = Change(invoice, "invoice.created", present_invoice(invoice), claim=claim)
    transactions.commit(account, [Write(created), Write(advanced, stored), *items], clock)
    return Billed("billed", invoice)
