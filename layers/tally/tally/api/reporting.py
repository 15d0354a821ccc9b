"""Revenue recognition over HTTP: Stripe Reporting's report runs (`/v1/reporting/report_runs`),
their result files (`/v1/files/{id}`, `/v1/files/{id}/contents`: the CSV), and Tally's JSON report
(`GET /v1/tally/revenue_recognition`, a Tally extension). docs/API.md, "Revenue recognition"."""

from __future__ import annotations

from typing import Any

from tally.api.http import RawBody, Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import reporting, revenue_recognition
from tally.domain import revenue
from tally.domain.currencies import SUPPORTED_CURRENCIES
from tally.domain.reporting import REPORT_TYPES, ReportParameters
from tally.errors import NotFound, invalid
from tally.presenters.reporting import file as present_file
from tally.presenters.reporting import report_run as present_run
from tally.presenters.reporting import report_type as present_type
from tally.presenters.reporting import revenue_report
from tally.settings import settings

routes = Routes()
RUNS = "/v1/reporting/report_runs"
TIMEZONES = ("Etc/UTC", "UTC")
UNSUPPORTED = ("columns", "connected_account", "payout", "reporting_category")


def base_url(request: Request) -> str | None:
    """Where this request came to (`https://host`), for the file's download `url`."""
    host = request.headers.get("host")
    if not host:
        return None
    local = host.split(":")[0] in ("127.0.0.1", "localhost")
    scheme = request.headers.get("x-forwarded-proto") or ("http" if local else "https")
    return f"{scheme}://{host}"


def _interval(p: Params) -> ReportParameters:
    """`interval_start` / `interval_end` (UTC month starts, at most MAX_MONTHS apart), `currency`,
    `timezone` (UTC only). Anything else Stripe's runs take is refused by name."""
    start = p.int("interval_start", required=True, min=0, max=revenue.LAST_INSTANT)
    end = p.int("interval_end", required=True, min=0, max=revenue.LAST_INSTANT)
    currency = p.str("currency", max_length=3)
    timezone = p.str("timezone", max_length=64)
    for name in UNSUPPORTED:
        if p.has(name):
            raise invalid(
                p.path(name), f"{p.path(name)} is not supported by Tally's revenue recognition reports."
            )
    p.done()
    assert start is not None and end is not None
    for name, value in (("interval_start", start), ("interval_end", end)):
        if not revenue.is_month_start(value):
            raise invalid(
                p.path(name),
                f"{p.path(name)} must be the first second of a month in UTC (accounting periods).",
            )
    if end <= start:
        raise invalid(p.path("interval_end"), f"{p.path('interval_end')} must be after interval_start.")
    if revenue.month_count(start, end) > revenue.MAX_MONTHS:
        raise invalid(p.path("interval_end"), f"A report spans at most {revenue.MAX_MONTHS} months.")
    if currency is not None:
        currency = currency.lower()
        if currency not in SUPPORTED_CURRENCIES:
            raise invalid(p.path("currency"), f"Invalid currency: {currency}.")
    if timezone is not None and timezone not in TIMEZONES:
        raise invalid(
            p.path("timezone"), "Tally's accounting periods are UTC months: timezone must be Etc/UTC."
        )
    return ReportParameters(start, end, currency)


@routes.route(f"POST {RUNS}")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    report_type = params.str("report_type", required=True, max_length=100) or ""
    sub = params.sub("parameters", required=True)  # `parameters=` (empty): None, its fields missing
    parameters = _interval(sub or Params({}, "parameters"))
    params.done()
    if report_type not in REPORT_TYPES:
        raise invalid("report_type", f"Invalid report_type: Tally runs {', '.join(REPORT_TYPES)}.")
    run, result = reporting.create(request.account, report_type, parameters, request.clock)
    return present_run(run, result, base_url(request))


@routes.route(f"GET {RUNS}/{{id}}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    run, result = reporting.retrieve(request.account, request.path_params["id"], request.clock)
    return present_run(run, result, base_url(request))


@routes.route(f"GET {RUNS}")
def list_runs(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params, created=True)
    params.done()
    page = reporting.list_(request.account, window, request.clock)
    base = base_url(request)
    return envelope(RUNS, page, lambda pair: present_run(pair[0], pair[1], base))


@routes.route("GET /v1/files/{id}")
def retrieve_file(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    f = reporting.retrieve_file(request.account, request.path_params["id"], request.clock)
    return present_file(f, base_url(request))


@routes.route("GET /v1/files/{id}/contents")
def contents(request: Request) -> RawBody:
    request.params().done()
    f = reporting.retrieve_file(request.account, request.path_params["id"], request.clock)
    return RawBody(f.contents, "text/csv; charset=utf-8")


@routes.route("GET /v1/tally/revenue_recognition")
def report(request: Request) -> dict[str, Any]:
    """The report as JSON, computed on each call (nothing stored): the dashboard's table."""
    parameters = _interval(request.params())
    r = revenue_recognition.report(
        request.account,
        parameters.interval_start,
        parameters.interval_end,
        request.clock,
        parameters.currency,
    )
    return revenue_report(r, settings().livemode, parameters.currency)


TYPES = "/v1/reporting/report_types"


def _type(type_id: str, request: Request) -> dict[str, Any]:
    return present_type(type_id, revenue.next_month(request.clock.now), settings().livemode)


@routes.route(f"GET {TYPES}")
def list_types(request: Request) -> dict[str, Any]:
    """Every report type Tally runs (Stripe's list is not paginated either)."""
    request.params().done()
    return {
        "object": "list",
        "data": [_type(t, request) for t in REPORT_TYPES],
        "has_more": False,
        "url": TYPES,
    }


@routes.route(f"GET {TYPES}/{{id}}")
def retrieve_type(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    type_id = request.path_params["id"]
    if type_id not in REPORT_TYPES:
        raise NotFound("report type", type_id)
    return _type(type_id, request)
