"""Account settings (a Tally extension): the invoice finalization grace period of one account.

Stripe lets an account choose how long a subscription's invoice stays a draft before it is
finalized (up to 72 hours); Tally's default is the deployment's (`INVOICE_GRACE_SECONDS`, 1 h),
and an account may set its own (`POST /v1/tally/account_settings invoice_grace_period=…`, or
`tally accounts update --invoice-grace-period 3h`). A draft takes the grace period in force when
it is created (`automatically_finalizes_at` is fixed then): changing the setting moves no draft.

The settings are one record per account (`AccountSettings`, id `account_settings`), written with
a `tally.account_settings.updated` event in one transaction, conditional on the version read.
The period close reads them once per account and process for `CACHE_SECONDS` (one GetItem less
per subscription billed): another process (Lambda instance) sees a change within a minute.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from tally.billing import changes
from tally.clock import Clock
from tally.domain.records import AccountSettings
from tally.errors import NotFound
from tally.presenters.account_settings import account_settings as presented
from tally.settings import MAX_GRACE_SECONDS, settings
from tally.store import objects
from tally.store.changes import Change

CACHE_SECONDS = 60.0
_cache: dict[str, tuple[int, float]] = {}  # account → (grace seconds, monotonic expiry)
CLEAR = -1  # `invoice_grace_period=""`: follow the deployment's setting again


def present(s: AccountSettings) -> dict[str, Any]:
    """The `tally.account_settings` object (an unset setting shows the deployment's)."""
    return presented(s, settings().invoice_grace_seconds)


def retrieve(account: str, clock: Clock) -> AccountSettings:
    """The account's settings (an unset one reads None: the deployment's applies)."""
    try:
        return objects.get(account, AccountSettings.ID, AccountSettings, clock)
    except NotFound:
        return AccountSettings(AccountSettings.ID, clock.now, clock.now, settings().livemode)


def invoice_grace(account: str, clock: Clock) -> int:
    """The grace period, in seconds, of a draft the account creates now."""
    hit = _cache.get(account)
    if hit and hit[1] > time.monotonic():  # a cache age, not billing time
        return hit[0]
    chosen = retrieve(account, clock).invoice_grace_period
    grace = settings().invoice_grace_seconds if chosen is None else chosen
    _cache[account] = (grace, time.monotonic() + CACHE_SECONDS)
    return grace


def update(account: str, clock: Clock, *, invoice_grace_period: int | None = None) -> AccountSettings:
    """Set the grace period (0..72 h in seconds; CLEAR follows the deployment's). Raises
    ValueError beyond 72 h (the API checks its param first)."""
    if invoice_grace_period is not None and not (
        invoice_grace_period == CLEAR or 0 <= invoice_grace_period <= MAX_GRACE_SECONDS
    ):
        raise ValueError(f"The grace period must be 0 to {MAX_GRACE_SECONDS} seconds.")
    try:
        stored = objects.load(account, AccountSettings.ID, AccountSettings, clock)
    except NotFound:
        stored = None
    before = stored.record if stored is not None else retrieve(account, clock)
    grace = before.invoice_grace_period
    if invoice_grace_period is not None:
        grace = None if invoice_grace_period == CLEAR else invoice_grace_period
    after = replace(before, invoice_grace_period=grace, updated=clock.now)
    if stored is not None and after.invoice_grace_period == before.invoice_grace_period:
        return before  # nothing changed: nothing written
    event = "tally.account_settings.updated"
    change = changes.updated(after, event, present(before), present(after)) or Change(
        after, event, present(after)
    )
    if stored is None:
        objects.create(account, change, clock)
    else:
        objects.update(account, stored, change, clock)
    _cache.pop(account, None)
    return after
