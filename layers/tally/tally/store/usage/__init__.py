"""Meter events and pre-aggregated usage buckets (the usage table), on the low-level client.

Write path (`write`, issue 15): each accepted event is ONE conditional Put of its identifier item
(1 WRU); a duplicate's Put fails and the standing event answers it. The usage table's stream
carries each new event to the aggregator (`aggregator`, run by `catchup`: the aggregator function,
and every reader before it reads — `settled`), which adds it to its buckets exactly once, one
write per item touched per batch, whatever the number of events.

Keys (`keys`; every key starts with the account id; see docs/DATA-MODEL.md):
  event   pk = acct#mev#<identifier>                     sk = "e"
  bucket  pk = acct#usage#<meter>#<customer>#<shard>     sk = "h#<hour start>"  (v, n, mMM per minute)
  last    same pk                                        sk = "m#<minute start>" (lt, lv) — `last` only

Modules: `keys` (item keys), `stats` (what was asked of DynamoDB), `actions` (one action per
item, with its write units), `write` (record, with retries; `run`, every write), `duplicates`
(the standing event of a duplicate), `aggregator` (stream records into bucket updates, exactly
once per item), `catchup` (the stream read from its checkpoints), `adjust` (cancel), `read`
(hourly, combine, aggregate of the buckets as they stand), `settled` (the same behind the
watermark: what the package exports), `figures` (the running per-(meter, customer) usage figure:
one item answers a registered window; kept by the aggregator in the buckets' transaction for
events stored with `figures=True`; read through `tally.billing.usage_figures`).
"""

from __future__ import annotations

from tally.store.usage.adjust import CANCEL_WINDOW, cancel
from tally.store.usage.keys import UsageKeys
from tally.store.usage.read import HourValue, combine
from tally.store.usage.settled import aggregate, hourly
from tally.store.usage.stats import STATS, Stats
from tally.store.usage.write import Group, Outcome, record, record_groups

__all__ = [
    "CANCEL_WINDOW",
    "STATS",
    "Group",
    "HourValue",
    "Outcome",
    "Stats",
    "UsageKeys",
    "aggregate",
    "cancel",
    "combine",
    "hourly",
    "record",
    "record_groups",
]
