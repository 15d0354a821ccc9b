"""The running per-period usage figure of a (meter, customer): what usage alerts read, and what
credit burndown and credit-balance alerts are to read (issue 15, point 3).

`usage_in(account, meter, watch, customer, start, end, clock, request_now)` answers the usage of
events stamped in [start, end) (`end` None: no end). On a meter whose usage writes keep running
figures (`Watch.figures`: from its first alert on, for every customer) it reads ONE item once the
bounds are registered (`store.usage.figures`); otherwise, or within `SETTLE` seconds of the
figures being switched on (a usage write that read the watch before the switch may still land),
it aggregates the hour buckets as before. Both answers are exact.

`read_through(account, clock)` makes every `store.usage.aggregate` of the code it wraps (credit
burndown pricing the invoices to come with the close's own code) read the customer's figure of
each meter whose figure is registered: one item per (meter, customer) once the period's bounds
are cuts — the same figure alerts read, kept once.

A caller that needs the figure on a meter without alerts (credit burndown, credit-balance alerts)
switches figures on once with `keep(account, meter, clock)` (sticky), then reads `usage_in` with
the meter's watch list (`store.meter_names.watched` or `store.alerts.meter_watch`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tally.clock import Clock
from tally.domain.alerts import Watch
from tally.domain.records import Meter
from tally.store import alerts as watches
from tally.store import usage
from tally.store.usage import figures
from tally.store.usage import read as usage_read

SETTLE = 120  # seconds: longer than any ingest request (the Lambda's timeout, template.yaml)


def keep(account: str, meter: Meter, clock: Clock) -> int:
    """Have every later usage write of `meter` keep its customers' running figures (no-op when
    they are kept already); returns since when (request time). They are read from `SETTLE`
    seconds after that; until then `usage_in` reads the buckets."""
    return watches.keep_figures(account, meter, clock.now)


def kept(watch: Watch, request_now: int) -> bool:
    """Whether the meter's running figures hold every usage write (switched on long enough ago)."""
    return watch.figures and request_now >= watch.figures_since + SETTLE


def usage_in(
    account: str,
    meter: Meter,
    watch: Watch,
    customer: str,
    start: int,
    end: int | None,
    clock: Clock,
    request_now: int,
) -> int:
    """Usage of `customer` on `meter` for events stamped in [start, end) (None: no end), exact;
    from the running figure when it is kept (`kept`), else from the buckets. `clock` is the
    customer's (a test clock's time places the figure's hot interval); `request_now` the real
    time of the request (the settle rule)."""
    return usages_in(account, meter, watch, customer, [(start, end)], clock, request_now)[(start, end)]


def usages_in(
    account: str,
    meter: Meter,
    watch: Watch,
    customer: str,
    spans: list[tuple[int, int | None]],
    clock: Clock,
    request_now: int,
    known: figures.Figure | None = None,
) -> dict[tuple[int, int | None], int]:
    """`usage_in` of several spans (the windows of a customer's alerts): one figure read for all
    of them (registering every missing bound at once) — none when the caller passes the item it
    just read (`known`) and the bounds are registered —, else one bucket read per distinct span."""
    if kept(watch, request_now):
        found = figures.totals(account, meter, customer, list(dict.fromkeys(spans)), clock.now, known)
        if found is not None:
            return found
    return {
        (start, end): usage.aggregate(account, meter, customer, start, figures.INF if end is None else end)
        for start, end in dict.fromkeys(spans)
    }


@contextmanager
def read_through(account: str, clock: Clock, request_now: int | None) -> Iterator[None]:
    """Within the block, `store.usage.aggregate` of an additive meter answers from the customer's
    running figure when it can — exactly as the buckets would — registering the span's bounds if
    they are not cuts yet:
    - a registered figure answers at once: a figure is only ever registered by a reader that found
      its meter's figures kept (`kept`), and figures stay kept;
    - a figure that exists unregistered (usage writes keep it: the meter's figures are on) answers
      if the meter's watch list (one GetItem) says they are kept at `request_now` (the request's
      real time; the settle rule);
    - an absent one (a meter without figures) is read once per block, then the buckets answer.
    `clock` is the customer's (it places the hot interval). `request_now` None: off (buckets)."""
    if request_now is None:
        yield
        return
    now = request_now
    skipped: set[tuple[str, str]] = set()  # (meter, customer) the figure cannot answer for

    def reader(account_: str, meter: Meter, customer: str, start: int, end: int) -> int | None:
        if account_ != account or not meter.formula.additive or (meter.id, customer) in skipped:
            return None
        f = figures.read(account, meter.id, customer)
        if not f.registered and not (f.exists and kept(watches.meter_watch(account, meter)[1], now)):
            skipped.add((meter.id, customer))
            return None
        span = (start, None if end >= figures.INF else end)
        found = figures.totals(account, meter, customer, [span], clock.now, f)
        return None if found is None else found[span]

    token = usage_read.READER.set(reader)
    try:
        yield
    finally:
        usage_read.READER.reset(token)
