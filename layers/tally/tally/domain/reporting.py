"""Stripe Reporting's records (`reporting.report_run` and its result `file`) and the report types
Tally runs (pure, no I/O). docs/API.md, "Revenue recognition"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

# Stripe's own name for the journal (its debits-and-credits summary), and Tally's per-account view
SUMMARY = "revenue_recognition.debit_credit_summary.1"
BY_ACCOUNT = "tally.revenue_recognition.debit_credit_by_account.1"
REPORT_TYPES = (SUMMARY, BY_ACCOUNT)
FILE_PURPOSE = "finance_report_run"
MAX_FILE_BYTES = 256 * 1024  # the file is stored in one item (≤ 400 KB), beside its run


NAMES = {
    SUMMARY: "Revenue recognition: debits and credits",
    BY_ACCOUNT: "Revenue recognition: debits and credits by account (Tally)",
}
COLUMNS = {
    SUMMARY: ("accounting_period", "currency", "debit", "credit", "amount"),
    BY_ACCOUNT: ("accounting_period", "currency", "account", "debit", "credit", "net"),
}
TYPES_UPDATED = 1_765_000_000  # when Tally's report types last changed (2025-12-06)


@dataclass(frozen=True)
class ReportParameters:
    interval_start: int
    interval_end: int
    currency: str | None = None
    timezone: str = "Etc/UTC"


@dataclass(frozen=True)
class ReportRun:
    """A report run: computed when created (Tally's runs are synchronous), so it is stored
    `succeeded` with its file, or `failed` with `error`."""

    OBJECT: ClassVar[str] = "reporting.report_run"

    id: str
    created: int
    livemode: bool
    report_type: str
    parameters: ReportParameters
    status: str  # succeeded | failed (never pending: see the docstring)
    error: str | None = None
    result: str | None = None  # the file's id
    succeeded_at: int | None = None


@dataclass(frozen=True)
class ReportFile:
    """A report run's result (Stripe's `file`, purpose `finance_report_run`); `contents` is the CSV,
    served at `GET /v1/files/{id}/contents`."""

    OBJECT: ClassVar[str] = "file"

    id: str
    created: int
    livemode: bool
    filename: str
    title: str
    contents: str
    purpose: str = FILE_PURPOSE
    type: str = "csv"

    @property
    def size(self) -> int:
        return len(self.contents.encode("utf-8"))
