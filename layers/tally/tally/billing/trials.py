"""Changing a trial on update (`POST /v1/subscriptions/{id}` with `trial_end`).

Tally changes a trial while the subscription is `trialing` (its trial is its first period,
`[start_date, trial_end)`, `tally.billing.subscriptions`):

- `trial_end=<timestamp>` (in the future, at most 730 days after the start) moves the trial's end
  and the billing cycle anchor with it: the first period becomes `[start_date, trial_end)`.
  Nothing is billed (a trial is free); `trial_will_end` is written again before the new end.
- `trial_end=now` ends the trial now, as Stripe does: the billing cycle anchor resets to now, the
  status becomes `active`, and an invoice (`billing_reason: subscription_update`, draft with the
  account's grace period) bills the new period's licensed items in advance, `[now, now + 1
  interval)`; the trial's metered usage is not billed (its line shows 0). That invoice closes the
  trial's period: it claims `invoice_period` `<subscription>@<start>` as the close would, so the
  period is invoiced exactly once, and the subscription (`billed_through` = now) is written in the
  same transaction (`subscription_changes.update`).

A subscription that is not trialing takes no `trial_end` (400 naming it): Tally does not start a
trial on an active subscription.
"""

from __future__ import annotations

from dataclasses import replace

from tally.billing import account_settings, cycles
from tally.billing import invoices as invoice_builder
from tally.billing.subscriptions import DAY, MAX_TRIAL_DAYS
from tally.clock import Clock
from tally.domain.records import Invoice, Price, Subscription
from tally.errors import Conflict, invalid
from tally.ids import new_id
from tally.store.changes import Unique

NOW = -1  # `trial_end=now`


def check(s: Subscription, trial_end: int | None, cancel_at: int | None, clock: Clock) -> None:
    """400 naming `trial_end` unless the change is one Tally makes (module doc)."""
    if trial_end is None:
        return
    if s.status != "trialing":
        raise invalid(
            "trial_end",
            f"The subscription {s.id} is not trialing: Tally changes trial_end only during a trial.",
        )
    if s.start_date >= clock.now:
        raise invalid("trial_end", "The trial began this second; change trial_end from the next second on.")
    if cancel_at is not None:
        raise invalid("trial_end", 'Clear cancel_at before changing the trial (cancel_at="").')
    if trial_end == NOW:
        return
    if trial_end <= clock.now:
        raise invalid("trial_end", "trial_end must be in the future, or `now` to end the trial.")
    if trial_end > s.start_date + MAX_TRIAL_DAYS * DAY:
        raise invalid("trial_end", f"trial_end can be at most {MAX_TRIAL_DAYS} days after the start.")


def changed(
    account: str, s: Subscription, trial_end: int, prices: dict[str, Price], clock: Clock
) -> tuple[Subscription, Invoice | None]:
    """The subscription with its trial moved or ended, and the invoice ending it now (or None)."""
    if trial_end != NOW:
        moved = trial_end != s.trial_end
        return replace(
            s,
            trial_end=trial_end,
            billing_cycle_anchor=trial_end,
            trial_will_end_sent=s.trial_will_end_sent and not moved,
        ), None
    now = clock.now
    ended = replace(s, trial_end=now, billing_cycle_anchor=now, status="active")
    view = invoice_builder.build(
        account, ended, Clock.at(s.start_date), invoice_id=new_id("in"), line_prefix="il"
    )
    invoice = replace(
        replace(view, billing_reason="subscription_update", created=now).as_record(),
        automatically_finalizes_at=now + account_settings.invoice_grace(account, clock),
    )
    return replace(ended, billed_through=now, pending_items=(), usage_segments=()), invoice


def claims(invoice: Invoice, before: Subscription) -> list[Unique]:
    """The trial-ending invoice closes the trial's period: claim it as the close would."""
    if before.status != "trialing" or invoice.period_start != before.start_date:
        return []
    taken = Conflict(f"The period starting {invoice.period_start} of {before.id} is already invoiced.")
    return [Unique(cycles.INVOICE_PERIOD, f"{before.id}@{invoice.period_start}", taken)]
