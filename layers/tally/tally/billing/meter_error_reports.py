"""Recording the events a v2 stream request rejected as meter error reports in the event log.

One report per (meter — or, with no active meter, event name — , minute), counts exact under
concurrency and retries (`store.error_reports`); see docs/API.md "Meter error reports".
"""

from __future__ import annotations

from tally.clock import Clock
from tally.domain import meter_error_reports as rules
from tally.presenters import meter_error_reports as present
from tally.settings import settings
from tally.store import error_reports


def report(account: str, rejections: list[rules.Rejection], seed: str, clock: Clock) -> None:
    """Count each rejection into its report (once per request `seed`) and publish the reports."""
    window = rules.window_of(clock.now)
    for group in rules.group(rejections).values():
        standing = error_reports.record(account, seed, window, group, clock)
        error_reports.publish(account, standing, present.event(standing, settings().livemode))
