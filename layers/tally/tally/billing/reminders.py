"""Reminders Stripe sends before a subscription's period ends, written to the event log once each.

- `invoice.upcoming`, `UPCOMING_SECONDS` (1 day) before a renewal: `data.object` is the upcoming
  invoice as `POST /v1/invoices/create_preview` would show it then, without an `id` (Stripe's
  upcoming invoice has none). Not written before a period that ends the subscription
  (`cancel_at_period_end`, `cancel_at`), nor when the period began less than a day before its end.
- `customer.subscription.trial_will_end`, `TRIAL_WILL_END_SECONDS` (3 days) before a trial ends
  (Stripe's timing): `data.object` is the subscription.

How they are found without a scan: a subscription's due-index entry (`tally.store.due`) is at its
earliest reminder still to write, else at its period end (`Subscription.wakes_at`). The scheduled
close sends it like any due period; the worker (`billing.cycles.bill_period`) hands it here while
the period has not ended. Each reminder is ONE transaction: the subscription Put, conditional on
the version read, recording that it was written (`upcoming_sent_for` = the period end,
`trial_will_end_sent`), which moves the due entry on, and the event. A duplicate message finds
nothing left to write; two workers at once: the version check refuses the second. A reminder
whose period has already ended when its message is handled is not written (the period is billed
instead, and the next period has its own).

Subscriptions on a test clock have no due entry; their clock's advance does not write reminders.
"""

from __future__ import annotations

from dataclasses import replace

from tally.billing import invoices as invoice_builder
from tally.billing.subscriptions import prices_of
from tally.clock import Clock
from tally.domain.records import TRIAL_WILL_END_SECONDS, UPCOMING_SECONDS, Subscription
from tally.presenters.invoices import invoice as present_invoice
from tally.presenters.subscriptions import SubscriptionView
from tally.presenters.subscriptions import subscription as present_subscription
from tally.store import objects
from tally.store.changes import Change, Stored

UPCOMING = "invoice.upcoming"
TRIAL_WILL_END = "customer.subscription.trial_will_end"


def due(s: Subscription, now: int) -> list[str]:
    """The reminders of `s` due at `now` for its unbilled period (which has not ended)."""
    end = s.unbilled_period[1]
    if not s.running or now >= end:
        return []
    out = []
    at = set(s.reminders_at(end))
    if s.upcoming_sent_for != end and end - UPCOMING_SECONDS in at and end - UPCOMING_SECONDS <= now:
        out.append(UPCOMING)
    trial = s.trial_end
    if trial is not None and trial - TRIAL_WILL_END_SECONDS in at and trial - TRIAL_WILL_END_SECONDS <= now:
        out.append(TRIAL_WILL_END)
    return out


def _change(account: str, s: Subscription, kind: str, clock: Clock) -> Change:
    end = s.unbilled_period[1]
    if kind == UPCOMING:
        preview = invoice_builder.build(account, s, clock, invoice_id="upcoming")
        shown = present_invoice(preview)
        del shown["id"]  # Stripe's upcoming invoice has no id
        return Change(replace(s, upcoming_sent_for=end), UPCOMING, shown)
    after = replace(s, trial_will_end_sent=True)
    view = SubscriptionView(after, prices_of(account, s, clock), s.unbilled_period)
    return Change(after, TRIAL_WILL_END, present_subscription(view))


def send(account: str, stored: Stored[Subscription], clock: Clock) -> list[str]:
    """Write every reminder of the subscription due at the clock's instant, one transaction each
    (see the module doc); returns their event types. Raises Conflict when the subscription changed
    since `stored` was read (the caller reads again)."""
    sent = []
    while kinds := due(stored.record, clock.now):
        change = _change(account, stored.record, kinds[0], clock)
        objects.update(account, stored, change, clock)
        stored = Stored(change.record, stored.version + 1, stored.created_ms)
        sent.append(kinds[0])
    return sent
