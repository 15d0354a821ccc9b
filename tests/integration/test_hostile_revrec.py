"""Hostile input on the revenue recognition routes (issue 16, point 5): every refusal is Stripe's
error envelope with the right status, naming the parameter at fault, and changes nothing (no
report run, no file, no event is written). Cross-account reads are 404s."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

RUNS = "/v1/reporting/report_runs"
REPORT = "/v1/tally/revenue_recognition"
SUMMARY = "revenue_recognition.debit_credit_summary.1"


def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


JAN, FEB = _at(2025, 1, 1), _at(2025, 2, 1)
GOOD = {"interval_start": JAN, "interval_end": FEB}


def _refused(response: support.Response, status: int = 400, **expected: Any) -> dict[str, Any]:
    return support.assert_stripe_error(response.status, response.json, status, **expected)


def _nothing_written(api: support.Api) -> None:
    assert api.get(RUNS).json["data"] == []
    assert api.get("/v1/events", {"type": "reporting.report_run.succeeded"}).json["data"] == []


BAD_PARAMETERS = [
    # (parameters, the param named)
    ({}, "parameters[interval_start]"),
    ({"interval_start": JAN}, "parameters[interval_end]"),
    ({"interval_start": JAN + 1, "interval_end": FEB}, "parameters[interval_start]"),
    ({"interval_start": JAN, "interval_end": FEB - 1}, "parameters[interval_end]"),
    ({"interval_start": _at(2025, 1, 15), "interval_end": FEB}, "parameters[interval_start]"),
    ({"interval_start": FEB, "interval_end": JAN}, "parameters[interval_end]"),
    ({"interval_start": JAN, "interval_end": JAN}, "parameters[interval_end]"),
    ({"interval_start": _at(2000, 1, 1), "interval_end": _at(2011, 1, 1)}, "parameters[interval_end]"),
    ({"interval_start": "soon", "interval_end": FEB}, "parameters[interval_start]"),
    ({"interval_start": -2_592_000, "interval_end": FEB}, "parameters[interval_start]"),
    ({"interval_start": JAN, "interval_end": "9" * 40}, "parameters[interval_end]"),
    ({"interval_start": 1.5, "interval_end": FEB}, "parameters[interval_start]"),
    ({"interval_start": 2**62, "interval_end": 2**63 - 1}, "parameters[interval_start]"),
    ({"interval_start": JAN, "interval_end": 253_402_300_800}, "parameters[interval_end]"),
    ({"interval_start": 0, "interval_end": _at(9999, 12, 1)}, "parameters[interval_end]"),
    ({**GOOD, "currency": "zzz"}, "parameters[currency]"),
    ({**GOOD, "currency": "dollars"}, "parameters[currency]"),
    ({**GOOD, "timezone": "America/New_York"}, "parameters[timezone]"),
    ({**GOOD, "columns": ["amount"]}, "parameters[columns]"),
    ({**GOOD, "connected_account": "acct_1"}, "parameters[connected_account]"),
    ({**GOOD, "payout": "po_1"}, "parameters[payout]"),
    ({**GOOD, "reporting_category": "charge"}, "parameters[reporting_category]"),
    ({**GOOD, "surprise": "1"}, "parameters[surprise]"),
]


@pytest.mark.parametrize(("parameters", "param"), BAD_PARAMETERS)
def test_bad_parameters_are_refused_and_write_nothing(api, parameters, param):
    # GIVEN a report run with one bad parameter WHEN created THEN 400 naming it, nothing written
    _refused(api.post(RUNS, {"report_type": SUMMARY, "parameters": parameters}), param=param)
    _nothing_written(api)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"parameters": GOOD}, "report_type"),
        ({"report_type": "", "parameters": GOOD}, "report_type"),
        ({"report_type": "balance.summary.1", "parameters": GOOD}, "report_type"),
        ({"report_type": "x" * 101, "parameters": GOOD}, "report_type"),
        ({"report_type": SUMMARY}, "parameters"),
        ({"report_type": SUMMARY, "parameters": "all"}, "parameters"),
        ({"report_type": SUMMARY, "parameters": GOOD, "unknown": "1"}, "unknown"),
    ],
)
def test_bad_runs_are_refused_and_write_nothing(api, body, param):
    _refused(api.post(RUNS, body), param=param)
    _nothing_written(api)


def test_a_json_body_with_hostile_types_is_refused(api):
    # GIVEN JSON with nested objects and huge numbers where integers are expected
    body = {"report_type": SUMMARY, "parameters": {"interval_start": {"a": {"b": 1}}, "interval_end": 10**30}}
    response = api.post(RUNS, json=body)
    assert 400 <= response.status < 500
    _refused(response, status=response.status)
    _nothing_written(api)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "interval_start"),
        ({"interval_start": JAN}, "interval_end"),
        ({"interval_start": JAN + 60, "interval_end": FEB}, "interval_start"),
        ({**GOOD, "currency": "xx"}, "currency"),
        ({**GOOD, "timezone": "Europe/Paris"}, "timezone"),
        ({**GOOD, "limit": "3"}, "limit"),
    ],
)
def test_the_json_report_refuses_bad_parameters(api, params, param):
    _refused(api.get(REPORT, params), param=param)


def test_unknown_and_other_accounts_runs_and_files_are_404(api, other_account):
    # GIVEN a run of this account
    run = api.post(RUNS, {"report_type": SUMMARY, "parameters": GOOD}).json
    file_id = run["result"]["id"]
    other = api.as_(other_account)
    # WHEN another account (or anyone with a made-up id) reads it THEN 404, in Stripe's envelope
    for path in (f"{RUNS}/{run['id']}", f"/v1/files/{file_id}", f"/v1/files/{file_id}/contents"):
        _refused(other.get(path), 404, type="invalid_request_error")
    for path in (
        f"{RUNS}/frr_nope",
        "/v1/files/file_nope",
        "/v1/files/file_nope/contents",
        f"{RUNS}/{file_id}",
    ):
        _refused(api.get(path), 404)
    # AND a run's id is not a file's
    _refused(api.get(f"/v1/files/{run['id']}"), 404)
    assert other.get(RUNS).json["data"] == []


def test_file_contents_take_no_parameters(api):
    run = api.post(RUNS, {"report_type": SUMMARY, "parameters": GOOD}).json
    _refused(api.get(f"/v1/files/{run['result']['id']}/contents", {"format": "json"}), param="format")


def test_an_empty_account_gets_an_empty_but_whole_report(api):
    # GIVEN no invoices WHEN a run is created THEN it succeeds with only the CSV header
    run = api.post(RUNS, {"report_type": SUMMARY, "parameters": GOOD}).json
    assert run["status"] == "succeeded"
    text = api.get(f"/v1/files/{run['result']['id']}/contents").text
    assert text == "accounting_period,currency,debit,credit,amount\n"
    report = api.get(REPORT, GOOD).json
    assert (report["accounting_periods"], report["data"]) == (["2025-01"], [])


def test_report_types_are_tallys_two_and_nothing_else(api):
    import stripe_shapes

    listed = api.get("/v1/reporting/report_types").json
    assert [t["id"] for t in listed["data"]] == [
        SUMMARY,
        "tally.revenue_recognition.debit_credit_by_account.1",
    ]
    assert stripe_shapes.problems(listed) == []
    one = api.get(f"/v1/reporting/report_types/{SUMMARY}").json
    assert one == listed["data"][0] and one["default_columns"][-1] == "amount"
    for unknown in ("balance.summary.1", "x" * 300, "%00"):
        _refused(api.get(f"/v1/reporting/report_types/{unknown}"), 404)
    _refused(api.get("/v1/reporting/report_types", {"limit": "3"}), param="limit")


def test_an_idempotency_key_replays_the_run_and_refuses_other_parameters(api):
    # GIVEN a run created with an Idempotency-Key
    body = {"report_type": SUMMARY, "parameters": GOOD}
    first = api.post(RUNS, body, headers={"Idempotency-Key": "revrec-1"})
    assert first.status == 200
    # WHEN sent again THEN the same run is replayed, nothing new is written
    again = api.post(RUNS, body, headers={"Idempotency-Key": "revrec-1"})
    assert again.json == first.json and again.header("Idempotent-Replayed") == "true"
    assert [r["id"] for r in api.get(RUNS).json["data"]] == [first.json["id"]]
    # AND the same key with other parameters is refused, writing nothing
    other = {"report_type": SUMMARY, "parameters": {**GOOD, "currency": "eur"}}
    _refused(api.post(RUNS, other, headers={"Idempotency-Key": "revrec-1"}), type="idempotency_error")
    assert len(api.get(RUNS).json["data"]) == 1
