"""A meter error report as Stripe's thin event (`v2.core.event`), as the event log keeps it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tally.domain.meter_error_reports import WINDOW, ErrorReport


def _rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def event(report: ErrorReport, livemode: bool) -> dict[str, Any]:
    """Stripe's `v1.billing.meter.error_report_triggered` (or `…no_meter_found`) event."""
    types = []
    for code, count in sorted(report.counts.items()):
        samples = [
            {"error_message": message, "request": {"identifier": identifier}}
            for c, message, identifier in report.samples
            if c == code
        ]
        types.append({"code": code, "error_count": count, "sample_errors": samples})
    total = report.total
    related = (
        {"id": report.meter_id, "type": "billing.meter", "url": f"/v1/billing/meters/{report.meter_id}"}
        if report.meter_id
        else None
    )
    return {
        "id": report.id,
        "object": "v2.core.event",
        "context": None,
        "created": _rfc3339(report.created),
        "data": {
            "developer_message_summary": f"There {'is' if total == 1 else 'are'} {total} invalid "
            f"event{'' if total == 1 else 's'}",
            "reason": {"error_count": total, "error_types": types},
            "validation_start": _rfc3339(report.window_start),
            "validation_end": _rfc3339(report.window_start + WINDOW),
            "event_name": report.event_name,  # Tally extension: which name matched no meter
        },
        "livemode": livemode,
        "reason": None,
        "related_object": related,
        "type": report.type,
    }
