"""A meter error report as an event of the log (`GET /v1/events`).

Stripe delivers these as v2 thin events; Tally keeps one event log, so the report travels in the
v1 event envelope every other entry has (integer `created`, `data.object`) and a typed SDK decodes
every entry of `/v1/events` alike. The report itself (`data.object`) carries Stripe's v2 payload:
`developer_message_summary`, `reason.error_types[]`, `validation_start`/`validation_end`.
"""

from __future__ import annotations

from typing import Any

from tally.domain.api_version import API_VERSION
from tally.domain.meter_error_reports import WINDOW, ErrorReport


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
        "object": "event",
        "api_version": API_VERSION,
        "created": report.created,
        "data": {
            "object": {
                "object": "billing.meter_error_report",
                "developer_message_summary": f"There {'is' if total == 1 else 'are'} {total} invalid "
                f"event{'' if total == 1 else 's'}",
                "event_name": report.event_name,  # which name the events carried (no_meter_found)
                "livemode": livemode,
                "meter": report.meter_id,
                "reason": {"error_count": total, "error_types": types},
                "validation_end": report.window_start + WINDOW,
                "validation_start": report.window_start,
            }
        },
        "livemode": livemode,
        "pending_webhooks": 0,
        "related_object": related,  # as on Stripe's thin event
        "request": {"id": None, "idempotency_key": None},
        "type": report.type,
    }
