"""Usage reads behind the watermark (issue 15): every event whose write was acknowledged before
the read is counted, because the read first catches the usage stream up (`catchup.settle`).

What `tally.store.usage` exports as `hourly` and `aggregate`: every billing read — previews,
summaries, the period close, true-ups, cancellations, alerts — goes through them. Inside the
store, `read` is the buckets as they stand (a running figure's registration reads them so: it is
kept consistent by its own transactions, not by the catch-up).
"""

from __future__ import annotations

from tally.domain.records import Meter
from tally.store.usage import read


def _settle() -> None:
    from tally.store.usage import catchup  # lazy: the ingest path never reads usage

    catchup.settle()


def hourly(
    account: str, meter: Meter, customer: str, start: int, end: int, segment: str | None = None
) -> dict[int, read.HourValue]:
    """`read.hourly` once the stream is caught up."""
    _settle()
    return read.hourly(account, meter, customer, start, end, segment)


def aggregate(account: str, meter: Meter, customer: str, start: int, end: int) -> int:
    """`read.aggregate` once the stream is caught up."""
    _settle()
    return read.aggregate(account, meter, customer, start, end)
