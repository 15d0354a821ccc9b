"""Running usage figures: one small item per (meter, customer) that answers "usage in [start, end)"
in one read, kept exactly once by the usage transactions themselves (issue 15, point 3).

Item `acct#usagefig#<meter>#<customer>` / `f` (additive meters only):
  cuts  the registered instants c1 < … < ck, comma-joined; they split event time into intervals
        [ci, ci+1) and [ck, ∞) (usage before c1 is not kept)
  hlo, hhi, hot   the "hot" interval (the one holding the customer's now) and its usage
  u<ci> the usage of every other interval
  ver   bumped by every write: a registration (which rewrites the item) commits only if no usage
        write committed since it read the item

A usage transaction holding events of a customer on a meter with figures (`record(figures=True)`)
adds ONE action per customer: `ADD hot, ver` if every event falls in the hot interval (no read
needed: the condition checks it), else (after a read) `ADD u<ci>…, ver` on the cuts it read. A
registration (`total`, when a wanted cut is missing) reads the item, computes the new intervals'
usage from the buckets (`read.aggregate`), and replaces the item if `ver` is unchanged.

Exactly once: a figure changes only in the transaction that changes the buckets (same events, same
sign), or by a registration whose snapshot no write interleaved with (the `ver` check).
"""

from __future__ import annotations

from typing import Any

from tally.domain.records import Meter
from tally.settings import settings
from tally.store.aws import dynamodb
from tally.store.usage.figure_items import (
    ATTEMPTS,
    INF,
    SK,
    Action,
    Figure,
    hot_action,
    key,
    parse,
    read,
    read_action,
)
from tally.store.usage.stats import STATS

__all__ = [
    "ATTEMPTS",
    "INF",
    "SK",
    "Action",
    "Figure",
    "hot_action",
    "key",
    "parse",
    "read",
    "read_action",
    "register",
    "total",
    "totals",
]


def _interval_usage(account: str, meter: Meter, customer: str, start: int, end: int) -> int:
    from tally.store.usage.read import aggregate_buckets

    return aggregate_buckets(account, meter, customer, start, end)


def register(
    account: str, meter: Meter, customer: str, wanted: set[int], now: int, known: Figure | None = None
) -> Figure | None:
    """The figure with every instant of `wanted` registered as a cut and the hot interval holding
    `now` — rebuilt if needed (reading the buckets of the intervals it cannot derive). None if
    usage writes kept interleaving (the caller reads the buckets instead). `known`: the item as
    just read (its first attempt reads nothing more)."""
    from botocore.exceptions import ClientError

    for _ in range(ATTEMPTS):
        f = known if known is not None else read(account, meter.id, customer)
        known = None
        if f.registered and wanted <= set(f.cuts) and f.hlo is not None and f.hlo <= now < (f.hhi or 0):
            return f
        low = min(wanted)
        cuts = sorted(wanted | {c for c in f.cuts if c >= low})
        counters: dict[int, int] = {}
        for i, c in enumerate(cuts):
            end = cuts[i + 1] if i + 1 < len(cuts) else INF
            if f.registered and c in f.cuts and (end == INF or end in f.cuts):
                total = f.usage(c, end)
                assert total is not None
                counters[c] = total
            else:
                counters[c] = _interval_usage(account, meter, customer, c, end)
        hlo = max([c for c in cuts if c <= now], default=cuts[0])
        hhi = next((c for c in cuts if c > hlo), INF)
        item: dict[str, Any] = {
            **key(account, meter.id, customer),
            "ver": {"N": str(f.ver)},
            "cuts": {"S": ",".join(str(c) for c in cuts)},
            "hlo": {"N": str(hlo)},
            "hhi": {"N": str(hhi)},
        }
        for c, v in counters.items():
            item["hot" if c == hlo else f"u{c}"] = {"N": str(v)}
        condition = (
            {"ConditionExpression": "ver = :ver", "ExpressionAttributeValues": {":ver": {"N": str(f.ver)}}}
            if f.exists
            else {"ConditionExpression": "attribute_not_exists(pk)"}
        )
        STATS.requests += 1
        try:
            dynamodb().put_item(TableName=settings().usage_table, Item=item, **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                continue  # a usage write interleaved: its event may be missing from our snapshot
            raise
        STATS.write_units += 1
        return Figure(f.ver, True, cuts, hlo, hhi, counters)
    return None


def totals(
    account: str,
    meter: Meter,
    customer: str,
    spans: list[tuple[int, int | None]],
    now: int,
    known: Figure | None = None,
) -> dict[tuple[int, int | None], int] | None:
    """Usage of events stamped in each [start, end) of `spans` (`end` None: no end) from the
    running figure — one GetItem once every bound is a registered cut, one registration of all
    missing bounds at once otherwise (so windows of many alerts never evict each other's cuts).
    None when the figure cannot answer (non-additive meter, contention): the caller aggregates the
    buckets.

    Only exact for a meter whose usage writes maintain figures (`record(figures=True)` since
    before any usage this figure counts: see `billing.usage_figures`). `known`: the item as just
    read (`store.alerts.evaluation_state` reads it with what else an evaluation needs, right after
    the aggregator's catch-up), so the common case reads nothing here — and catches nothing up:
    without it, the stream is caught up before the figure is read."""
    if not meter.formula.additive or not spans:
        return None
    wanted = {start for start, _ in spans} | {end for _, end in spans if end is not None}
    if known is None:
        from tally.store.usage import catchup  # lazy: the figure holds what is aggregated, so first this

        catchup.settle()
        f = read(account, meter.id, customer)
    else:  # read by a caller that caught the stream up before (the aggregator's evaluation)
        f = known
    if not (f.registered and wanted <= set(f.cuts)):
        registered = register(account, meter, customer, wanted, now, f)
        if registered is None:
            return None
        f = registered
    out: dict[tuple[int, int | None], int] = {}
    for start, end in spans:
        found = f.usage(start, INF if end is None else end)
        assert found is not None  # both bounds are cuts now
        out[(start, end)] = found
    return out


def total(account: str, meter: Meter, customer: str, start: int, end: int | None, now: int) -> int | None:
    """`totals` of one span."""
    found = totals(account, meter, customer, [(start, end)], now)
    return None if found is None else found[(start, end)]
