"""Meter events and pre-aggregated usage buckets (the usage table), on the low-level client.

Write path (`write`): each accepted event is a conditional Put of its identifier item, in the SAME
TransactWriteItems as the ADD to its bucket — never "claim, then write": if the transaction fails,
nothing happened and a retry starts clean; if the identifier exists, the whole transaction is
cancelled, the duplicate is dropped, and the rest is retried. Events sharing a bucket hour travel
together (`packing`), so a batch pays ~2 WRU per event plus one bucket update per (customer, hour).

Keys (`keys`; every key starts with the account id; see docs/DATA-MODEL.md):
  event   pk = acct#mev#<identifier>                     sk = "e"
  bucket  pk = acct#usage#<meter>#<customer>#<shard>     sk = "h#<hour start>"  (v, n, mMM per minute)
  last    same pk                                        sk = "m#<minute start>" (lt, lv) — `last` only

Modules: `keys` (item keys), `stats` (what was asked of DynamoDB), `actions` (one transaction
action per item, with its write units), `packing` (events into bucket-hour units and ≤100-action
transactions), `write` (record, with retries), `duplicates` (the standing event of a duplicate),
`adjust` (cancel), `read` (hourly, combine, aggregate), `figures` (the running per-(meter, customer)
usage figure: one item answers a registered window; kept in the same transactions when `record`
is called with `figures=True`; read through `tally.billing.usage_figures`).
"""

from __future__ import annotations

from tally.store.usage.adjust import CANCEL_WINDOW, cancel
from tally.store.usage.keys import UsageKeys
from tally.store.usage.read import HourValue, aggregate, combine, hourly
from tally.store.usage.stats import STATS, Stats
from tally.store.usage.write import Outcome, record

__all__ = [
    "CANCEL_WINDOW",
    "STATS",
    "HourValue",
    "Outcome",
    "Stats",
    "UsageKeys",
    "aggregate",
    "cancel",
    "combine",
    "hourly",
    "record",
]
