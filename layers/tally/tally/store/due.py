"""The due index: which subscriptions' current periods have ended, across every account.

Each active subscription record carries `dpk = due#<shard>` and `dsk = <due time>#<account>#<id>`
(`ObjectItem.due_key/due_sort`), set from `Subscription.due_at` whenever the record is written —
so the create transaction puts it, the transaction that bills a period moves it to the next
period's end, and a cancel removes it. `by_due` is a sparse, keys-only GSI on those attributes.

Why one partition per shard, sorted by due time (rather than one partition per minute): a run
reads, per shard, everything with `dsk < now` in one bounded Query, so a missed or failed run
never leaves a subscription behind (a per-minute partition would need a look-back window and lose
what fell out of it). `SHARDS` partitions spread the writes of subscriptions renewing at the same
instant (month starts) and the reads of one run. The shard is a hash of (account, subscription):
it never changes for a subscription, so no move is ever needed. `SHARDS` must not shrink: items in
a dropped shard would not be read.

A subscription with a reminder to write before its period ends (`invoice.upcoming`,
`customer.subscription.trial_will_end`: `Subscription.wakes_at`) is due at the reminder's time;
its sort key then names the period end after the id (`<time>#<account>#<id>#<period end>`), so
the close's message still carries the period end and the worker decides what is due.

Draft invoices are in the same index (`Invoice.due_at`, `tally.billing.lifecycle`): the end of
their grace period, when the close sends them to be finalized; the entry goes when they are.
`Due.subscription` then holds the invoice's id (`in_…`; `Due.invoice` tells them apart).
Credit grants too (`CreditGrant.due_at`): their `expires_at` until the expiry is in the ledger,
when the close sends them to `billing.credit_ledger.expire_grant` (`Due.credit_grant`).

The index is the only key that does not start with the account id. It cannot leak across tenants:
nothing answers a request from it; the close only enqueues the (account, subscription) pairs it
names, and billing then reads with that account's keys as every use case does.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from pynamodb.exceptions import QueryError

from tally.store.errors import raise_translated
from tally.store.models import ObjectItem, bind

SHARDS = 16


@dataclass(frozen=True)
class Due:
    """One entry: `period_end` is the end of the period it is for; `at`, when it fell due, is
    earlier when a reminder is to be written before that period ends (`tally.billing.reminders`)."""

    account: str
    subscription: str
    period_end: int
    at: int | None = None

    @property
    def invoice(self) -> bool:
        """The entry is a draft invoice to finalize (its id in `subscription`), not a period."""
        return self.subscription.startswith("in_")

    @property
    def credit_grant(self) -> bool:
        """The entry is a credit grant whose expiry is due (`billing.credit_ledger`)."""
        return self.subscription.startswith("credgr_")


def due_shard(account: str, subscription_id: str) -> int:
    return zlib.crc32(f"{account}#{subscription_id}".encode()) % SHARDS


def due(now: int, shard: int, limit: int) -> Iterator[Due]:
    """Up to `limit` subscriptions of one shard whose unbilled period ended at or before `now`,
    oldest due first (one Query page per 1 MB of keys)."""
    bind()
    try:
        for item in ObjectItem.by_due.query(
            ObjectItem.due_key(shard), ObjectItem.dsk < ObjectItem.due_sort(now + 1), limit=limit
        ):
            when, account, subscription_id, *end = str(item.dsk).split("#")
            yield Due(account, subscription_id, int(end[0]) if end else int(when), int(when))
    except QueryError as exc:
        raise_translated(exc)
