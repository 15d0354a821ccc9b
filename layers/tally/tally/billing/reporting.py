"""Stripe Reporting's report runs, for the revenue recognition reports (`revenue_recognition`).

A run is computed when it is created: the report is read (`revenue_recognition.report`), written
as CSV, and the run (`succeeded`, naming its file) and the file are stored in ONE transaction with
`reporting.report_run.succeeded`. Crash points: before or inside that transaction nothing is
written (a retry computes the run again, with a new id unless the client sent an Idempotency-Key,
whose first answer is replayed); after it, the run exists whole. A report too large for one item
is stored `failed` with its `error` (Stripe's failed runs carry one), with
`reporting.report_run.failed`.
"""

from __future__ import annotations

from tally.billing import revenue_recognition
from tally.clock import Clock
from tally.domain import revenue
from tally.domain.listing import Page, Window
from tally.domain.reporting import (
    BY_ACCOUNT,
    MAX_FILE_BYTES,
    SUMMARY,
    ReportFile,
    ReportParameters,
    ReportRun,
)
from tally.ids import new_id
from tally.presenters.reporting import file as present_file
from tally.presenters.reporting import report_run as present_run
from tally.settings import settings
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Write

TOO_LARGE = "The report is too large for one file: run it over fewer months or one currency."


def _contents(report_type: str, r: revenue.Report) -> str:
    return revenue.summary_csv(r) if report_type == SUMMARY else revenue.by_account_csv(r)


def create(
    account: str, report_type: str, parameters: ReportParameters, clock: Clock
) -> tuple[ReportRun, ReportFile | None]:
    """Run a report now (the caller checked the type and parameters) and store it."""
    assert report_type in (SUMMARY, BY_ACCOUNT)
    r = revenue_recognition.report(
        account, parameters.interval_start, parameters.interval_end, clock, parameters.currency
    )
    text = _contents(report_type, r)
    run_id, livemode = new_id("frr"), settings().livemode
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        run = ReportRun(run_id, clock.now, livemode, report_type, parameters, "failed", error=TOO_LARGE)
        objects.create(account, Change(run, "reporting.report_run.failed", present_run(run, None)), clock)
        return run, None
    f = ReportFile(
        new_id("file"),
        clock.now,
        livemode,
        filename=f"{run_id}.csv",
        title=f"{report_type} {revenue.period_name(parameters.interval_start)}"
        f"–{revenue.period_name(parameters.interval_end - 1)}",
        contents=text,
    )
    run = ReportRun(
        run_id, clock.now, livemode, report_type, parameters, "succeeded", result=f.id, succeeded_at=clock.now
    )
    transactions.commit(
        account,
        [
            Write(Change(f, None, present_file(f, None))),
            Write(Change(run, "reporting.report_run.succeeded", present_run(run, f))),
        ],
        clock,
    )
    return run, f


def retrieve(account: str, run_id: str, clock: Clock) -> tuple[ReportRun, ReportFile | None]:
    run = objects.get(account, run_id, ReportRun, clock, label="reporting.report_run")
    return run, (retrieve_file(account, run.result, clock) if run.result else None)


def list_(account: str, window: Window, clock: Clock) -> Page[tuple[ReportRun, ReportFile | None]]:
    page = lists.list_records(account, ReportRun, window, clock)
    return Page(
        [(run, retrieve_file(account, run.result, clock) if run.result else None) for run in page.data],
        page.has_more,
    )


def retrieve_file(account: str, file_id: str, clock: Clock) -> ReportFile:
    return objects.get(account, file_id, ReportFile, clock, label="file")
