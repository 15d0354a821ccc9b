"""Meter error reports: the events rejected from the v2 stream, counted per meter per minute.

Stripe validates stream events asynchronously and reports rejections as thin events:
`v1.billing.meter.error_report_triggered` about a meter, and `v1.billing.meter.no_meter_found`
when the event name matches no active meter. Tally rejects synchronously but also records the
same reports, so a user of the SDK (which returns nothing for the stream) sees them in the event
log. Pure rules here: which report a rejection belongs to, its Stripe error code, the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tally.errors import StripeError

ERROR_REPORT = "v1.billing.meter.error_report_triggered"
NO_METER_FOUND = "v1.billing.meter.no_meter_found"
WINDOW = 60  # one report per (meter or event name, minute)
MAX_SAMPLES = 10  # samples kept per report (the counts are always complete)


@dataclass(frozen=True)
class Rejection:
    """One rejected event: the report it belongs to (`meter_id`, else its `event_name`), Stripe's
    error code for it, the message, and the event's identifier (sent or derived)."""

    meter_id: str | None
    event_name: str | None
    code: str
    message: str
    identifier: str | None

    @property
    def target(self) -> str:
        """What a report is about: the meter, or (no meter) the event name."""
        return self.meter_id if self.meter_id else f"name:{self.event_name or ''}"


@dataclass(frozen=True)
class ErrorReport:
    """The accumulated report of one (meter or event name, minute)."""

    id: str
    meter_id: str | None
    event_name: str | None
    window_start: int
    created: int
    counts: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[str, str, str | None]] = field(default_factory=list)  # (code, message, identifier)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def type(self) -> str:
        return ERROR_REPORT if self.meter_id else NO_METER_FOUND


def window_of(now: int) -> int:
    return now - now % WINDOW


def report_code(exc: StripeError, meter_found: bool, customer_key: str | None) -> str:
    """Stripe's error-report code for a rejection (the codes Stripe's reports use)."""
    param = exc.param or ""
    if not meter_found and exc.code == "resource_missing" and param.endswith("[event_name]"):
        return "no_meter"
    if customer_key and param.endswith(f"[payload][{customer_key}]"):
        if exc.code == "resource_missing":
            return "meter_event_customer_not_found"
        if exc.code == "parameter_missing":
            return "meter_event_no_customer_defined"
    return exc.code or "invalid_request"


def group(rejections: list[Rejection]) -> dict[str, list[Rejection]]:
    """Rejections by report target, in order of first appearance."""
    out: dict[str, list[Rejection]] = {}
    for r in rejections:
        out.setdefault(r.target, []).append(r)
    return out
