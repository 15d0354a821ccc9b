"""Stripe Reporting's objects (`reporting.report_run`, its result `file`) and Tally's JSON
revenue recognition report (`tally.revenue_recognition_report`, a Tally extension)."""

from __future__ import annotations

from typing import Any

from tally.domain import revenue
from tally.domain.reporting import COLUMNS, NAMES, TYPES_UPDATED, ReportFile, ReportRun


def file(f: ReportFile, base_url: str | None) -> dict[str, Any]:
    """Stripe's `file`; `url` (where its contents download, with the secret key) needs the
    address the request came to, so the stored event's copy has none."""
    return {
        "id": f.id,
        "object": "file",
        "created": f.created,
        "expires_at": None,
        "filename": f.filename,
        "purpose": f.purpose,
        "size": f.size,
        "title": f.title,
        "type": f.type,
        "url": f"{base_url}/v1/files/{f.id}/contents" if base_url else None,
    }


def report_type(type_id: str, available_end: int, livemode: bool) -> dict[str, Any]:
    """Stripe's `reporting.report_type`: any month from the epoch can be run, up to
    `available_end` (the first second of the month after the current one: reports are live)."""
    return {
        "id": type_id,
        "object": "reporting.report_type",
        "data_available_end": available_end,
        "data_available_start": 0,
        "default_columns": list(COLUMNS[type_id]),
        "livemode": livemode,
        "name": NAMES[type_id],
        "updated": TYPES_UPDATED,
        "version": 1,
    }


def report_run(run: ReportRun, result: ReportFile | None, base_url: str | None = None) -> dict[str, Any]:
    p = run.parameters
    parameters: dict[str, Any] = {"interval_end": p.interval_end, "interval_start": p.interval_start}
    if p.currency is not None:
        parameters["currency"] = p.currency
    parameters["timezone"] = p.timezone
    return {
        "id": run.id,
        "object": "reporting.report_run",
        "created": run.created,
        "error": run.error,
        "livemode": run.livemode,
        "parameters": parameters,
        "report_type": run.report_type,
        "result": file(result, base_url) if result is not None else None,
        "status": run.status,
        "succeeded_at": run.succeeded_at,
    }


def revenue_report(r: revenue.Report, livemode: bool, currency: str | None) -> dict[str, Any]:
    """The JSON report: per currency, each account's debit, credit and net per accounting period
    (a table: one row per account, one column per period) and the journal lines behind it."""
    data = []
    for cur, rows in r.accounts.items():
        data.append(
            {
                "currency": cur,
                "accounts": [
                    {
                        "account": row.account,
                        "normal_balance": "credit" if row.account in revenue.CREDIT_NORMAL else "debit",
                        "periods": [
                            {
                                "accounting_period": c.period,
                                "debit": c.debit,
                                "credit": c.credit,
                                "net": c.net,
                            }
                            for c in row.cells
                        ],
                        "debit": row.debit,
                        "credit": row.credit,
                        "net": row.net,
                    }
                    for row in rows
                ],
                "journal_lines": [
                    {
                        "accounting_period": line.period,
                        "debit": line.debit,
                        "credit": line.credit,
                        "amount": line.amount,
                    }
                    for line in r.journal
                    if line.currency == cur
                ],
            }
        )
    out: dict[str, Any] = {
        "object": "tally.revenue_recognition_report",
        "livemode": livemode,
        "interval_start": r.start,
        "interval_end": r.end,
        "timezone": "Etc/UTC",
        "accounting_periods": list(r.periods),
        "accounts": list(revenue.ACCOUNTS)
        + (
            [revenue.DEFERRED]
            if any(len(rows) > len(revenue.ACCOUNTS) for rows in r.accounts.values())
            else []
        ),
        "data": data,
    }
    if currency is not None:
        out["currency"] = currency
    return out
