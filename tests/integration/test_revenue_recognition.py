"""Revenue recognition (issue 16, point 5): seed 003's Jan–May example, cell by cell, driven by a
test clock through the months, and the rating rules behind it.

The example: 40 / 35 / 25 USD of usage delivered in Jan, Feb and Mar 2025, invoiced 100 in April,
paid in May. Tally's billing reproduces that timing with a subscription billed every 3 months
(`interval=month`, `interval_count=3`) from 1 Jan 2025 00:00 UTC on a test clock: its period
[1 Jan, 1 Apr) is invoiced when the clock passes 1 Apr (the draft finalizes after the 1 h grace
period, 1 Apr 01:00: April) and the invoice is paid out of band on 10 May. The price is 1 cent per
unit, so 4,000 / 3,500 / 2,500 units are 40 / 35 / 25 USD.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
import stripe_shapes
import support

from tally.billing import reporting
from tally.clock import Clock
from tally.domain.reporting import ReportParameters

pytestmark = pytest.mark.usefixtures("moto_tables")

CLOCKS = "/v1/test_helpers/test_clocks"
RUNS = "/v1/reporting/report_runs"
REPORT = "/v1/tally/revenue_recognition"
SUMMARY = "revenue_recognition.debit_credit_summary.1"
BY_ACCOUNT = "tally.revenue_recognition.debit_credit_by_account.1"
ACCOUNTS = ("Revenue", "UnbilledReceivables", "AccountsReceivable", "Cash", "CustomerBalance")


def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


JAN, FEB, MAR, APR, MAY, JUN = (_at(2025, m, 1) for m in range(1, 7))


def ok(response: support.Response, status: int = 200) -> Any:
    assert response.status == status, response.text
    return response.json


def _plan(
    api: support.Api,
    event: str,
    price: dict[str, Any],
    interval_count: int = 3,
    formula: str = "sum",
    fee: int | None = None,
) -> dict[str, str]:
    """A clock at 1 Jan 2025, a customer on it, a meter (`formula`) and a metered price billed
    every `interval_count` months (with a licensed `fee` in advance, if given), and the
    subscription (its first period starts 1 Jan 2025)."""
    clock = ok(api.post(CLOCKS, {"frozen_time": JAN, "name": "revrec"}))
    customer = ok(api.post("/v1/customers", {"name": "Seed 003", "test_clock": clock["id"]}))
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "API calls", "event_name": event, "default_aggregation": {"formula": formula}},
        )
    )
    product = ok(api.post("/v1/products", {"name": "API calls"}))
    recurring = {"interval": "month", "interval_count": interval_count, "usage_type": "metered"}
    created = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "product": product["id"],
                **price,
                "recurring": {**recurring, "meter": meter["id"]},
            },
        )
    )
    items = [{"price": created["id"]}]
    if fee is not None:
        licensed = {"interval": "month", "interval_count": interval_count}
        body = {"currency": "usd", "product": product["id"], "unit_amount": fee, "recurring": licensed}
        items.append({"price": ok(api.post("/v1/prices", body))["id"]})
    sub = ok(api.post("/v1/subscriptions", {"customer": customer["id"], "items": items}))
    return {"clock": clock["id"], "customer": customer["id"], "subscription": sub["id"]}


def _use(api: support.Api, event: str, customer: str, value: int, at: int) -> None:
    body = {
        "event_name": event,
        "payload": {"stripe_customer_id": customer, "value": str(value)},
        "timestamp": at,
    }
    ok(api.post("/v1/billing/meter_events", body))


def _report(api: support.Api, start: int = JAN, end: int = JUN) -> dict[str, Any]:
    return ok(api.get(REPORT, {"interval_start": start, "interval_end": end}))


def _nets(report: dict[str, Any], currency: str = "usd") -> dict[str, list[int]]:
    """{account: [net per period..., total]} of one currency, as the seed's table reads."""
    (data,) = [d for d in report["data"] if d["currency"] == currency]
    return {a["account"]: [p["net"] for p in a["periods"]] + [a["net"]] for a in data["accounts"]}


def _cycle_invoice(api: support.Api, subscription: str) -> dict[str, Any]:
    found = ok(api.get("/v1/invoices", {"subscription": subscription, "limit": 100}))["data"]
    (inv,) = [i for i in found if i["billing_reason"] == "subscription_cycle"]
    return inv


def _seed_003(api: support.Api) -> dict[str, str]:
    """Seed 003's months on a test clock, up to the payment in May (see the module docstring)."""
    plan = _plan(api, "seed_calls", {"unit_amount": 1})
    clock, customer = plan["clock"], plan["customer"]
    for day, units in ((_at(2025, 1, 15), 4000), (_at(2025, 2, 15), 3500), (_at(2025, 3, 15), 2500)):
        support.advance_clock(api, api.functions, clock, day)
        _use(api, "seed_calls", customer, units, day)
    support.advance_clock(api, api.functions, clock, _at(2025, 4, 2))
    inv = _cycle_invoice(api, plan["subscription"])
    assert (inv["status"], inv["total"]) == ("open", 10000)
    support.advance_clock(api, api.functions, clock, _at(2025, 5, 10))
    paid = ok(api.post(f"/v1/invoices/{inv['id']}/pay", {"paid_out_of_band": "true"}))
    assert paid["status"] == "paid"
    return {**plan, "invoice": inv["id"]}


# The seed's table in cents: Jan, Feb, Mar, Apr, May, Total (a blank cell is 0)
SEED_003 = {
    "Revenue": [4000, 3500, 2500, 0, 0, 10000],
    "UnbilledReceivables": [4000, 3500, 2500, -10000, 0, 0],
    "AccountsReceivable": [0, 0, 0, 10000, -10000, 0],
    "Cash": [0, 0, 0, 0, 10000, 10000],
    "CustomerBalance": [0, 0, 0, 0, 0, 0],
}


def test_seed_003_jan_to_may_cell_by_cell(api):
    # GIVEN seed 003's usage, invoice and payment on a test clock
    _seed_003(api)
    # WHEN the report over Jan–May 2025 is read
    report = _report(api)
    # THEN every cell is the seed's, net in each account's direction, with the total
    assert report["accounting_periods"] == ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05"]
    assert _nets(report) == SEED_003
    # AND the journal behind it: accrual, reversal and rebooking in April, cash in May
    (usd,) = report["data"]
    lines = [(j["accounting_period"], j["debit"], j["credit"], j["amount"]) for j in usd["journal_lines"]]
    assert lines == [
        ("2025-01", "UnbilledReceivables", "Revenue", 4000),
        ("2025-02", "UnbilledReceivables", "Revenue", 3500),
        ("2025-03", "UnbilledReceivables", "Revenue", 2500),
        ("2025-04", "AccountsReceivable", "Revenue", 10000),
        ("2025-04", "Revenue", "UnbilledReceivables", 10000),
        ("2025-05", "Cash", "AccountsReceivable", 10000),
    ]
    revenue = usd["accounts"][0]
    assert revenue["periods"][3] == {
        "accounting_period": "2025-04",
        "debit": 10000,
        "credit": 10000,
        "net": 0,
    }


def test_seed_003_as_csv_report_runs(api):
    # GIVEN seed 003 WHEN both report types are run over Jan–May 2025 and their files downloaded
    _seed_003(api)
    params = {"parameters": {"interval_start": JAN, "interval_end": JUN}}
    summary = ok(api.post(RUNS, {"report_type": SUMMARY, **params}))
    by_account = ok(api.post(RUNS, {"report_type": BY_ACCOUNT, **params}))
    assert summary["status"] == by_account["status"] == "succeeded"
    assert summary["result"]["object"] == "file" and summary["result"]["purpose"] == "finance_report_run"
    summary_csv = api.get(f"/v1/files/{summary['result']['id']}/contents")
    assert summary_csv.status == 200 and summary_csv.header("Content-Type").startswith("text/csv")
    # THEN the journal lines are Stripe's debit/credit pairs in major units
    assert summary_csv.text.splitlines() == [
        "accounting_period,currency,debit,credit,amount",
        "2025-01,usd,UnbilledReceivables,Revenue,40.00",
        "2025-02,usd,UnbilledReceivables,Revenue,35.00",
        "2025-03,usd,UnbilledReceivables,Revenue,25.00",
        "2025-04,usd,AccountsReceivable,Revenue,100.00",
        "2025-04,usd,Revenue,UnbilledReceivables,100.00",
        "2025-05,usd,Cash,AccountsReceivable,100.00",
    ]
    # AND the per-account file holds the seed's table, net per month
    text = api.get(f"/v1/files/{by_account['result']['id']}/contents").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5 * len(ACCOUNTS)
    for account, cents in SEED_003.items():
        nets = [r["net"] for r in rows if r["account"] == account]
        assert nets == [
            f"{c // 100}.{c % 100:02d}" if c >= 0 else f"-{-c // 100}.{-c % 100:02d}" for c in cents[:5]
        ]
    # AND the run retrieves as created, its file too
    assert ok(api.get(f"{RUNS}/{summary['id']}")) == summary
    assert ok(api.get(f"/v1/files/{summary['result']['id']}")) == summary["result"]
    listed = ok(api.get(RUNS))["data"]
    assert [r["id"] for r in listed] == [by_account["id"], summary["id"]]


def test_usage_is_recognized_as_delivered_before_any_invoice(api):
    # GIVEN January's and part of February's usage, the period still open on 20 Feb
    plan = _plan(api, "open_calls", {"unit_amount": 1})
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 1, 15))
    _use(api, "open_calls", plan["customer"], 4000, _at(2025, 1, 15))
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 2, 20))
    _use(api, "open_calls", plan["customer"], 1200, _at(2025, 2, 19, 23))
    # WHEN the report is read THEN each month has its revenue, all unbilled, nothing invoiced
    nets = _nets(_report(api, JAN, MAR))
    assert nets["Revenue"] == [4000, 1200, 5200]
    assert nets["UnbilledReceivables"] == [4000, 1200, 5200]
    assert nets["AccountsReceivable"] == [0, 0, 0]


def test_tiers_and_rounding_telescope_to_the_invoice_subtotal(api):
    # GIVEN half a cent per unit: 3 units a month. Rated month by month alone, each month would be
    # round(1.5) = 2 cents (6 in all) while the invoice bills round(4.5) = 5 cents for 9 units.
    plan = _plan(api, "half_calls", {"unit_amount_decimal": "0.5"})
    for month in (1, 2, 3):
        support.advance_clock(api, api.functions, plan["clock"], _at(2025, month, 10))
        _use(api, "half_calls", plan["customer"], 3, _at(2025, month, 10))
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 4, 2))
    inv = _cycle_invoice(api, plan["subscription"])
    assert inv["subtotal"] == 5
    # WHEN the report is read THEN months are cumulative differences, rate(3)=2, rate(6)=3, rate(9)=5:
    # 2, 1, 2 — they sum to the invoice's subtotal, so April's reversal equals its rebooking
    nets = _nets(_report(api, JAN, MAY))
    assert nets["Revenue"] == [2, 1, 2, 0, 5]
    assert nets["UnbilledReceivables"] == [2, 1, 2, -5, 0]
    assert nets["AccountsReceivable"] == [0, 0, 0, 5, 5]


def test_graduated_tiers_are_rated_as_the_invoice_rates_them(api):
    # GIVEN graduated tiers: the first 1,000 units 2 cents each, the rest 1 cent
    tiers = {
        "billing_scheme": "tiered",
        "tiers_mode": "graduated",
        "tiers": [{"up_to": 1000, "unit_amount": 2}, {"up_to": "inf", "unit_amount": 1}],
    }
    plan = _plan(api, "tier_calls", tiers)
    for month, units in ((1, 600), (2, 600), (3, 300)):
        support.advance_clock(api, api.functions, plan["clock"], _at(2025, month, 10))
        _use(api, "tier_calls", plan["customer"], units, _at(2025, month, 10))
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 4, 2))
    assert _cycle_invoice(api, plan["subscription"])["subtotal"] == 2500  # 1000 × 2 + 500 × 1
    # THEN Jan 600 × 2 = 1200; Feb: 400 × 2 + 200 × 1 = 1000; Mar: 300 × 1 = 300
    nets = _nets(_report(api, JAN, MAY))
    assert nets["Revenue"] == [1200, 1000, 300, 0, 2500]


def test_void_reverses_the_rebooking(api):
    # GIVEN seed 003's invoice, voided on 10 May instead of paid
    plan = _plan(api, "void_calls", {"unit_amount": 1})
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 1, 15))
    _use(api, "void_calls", plan["customer"], 4000, _at(2025, 1, 15))
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 4, 2))
    inv = _cycle_invoice(api, plan["subscription"])
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 5, 10))
    assert ok(api.post(f"/v1/invoices/{inv['id']}/void"))["status"] == "void"
    # THEN May takes the revenue back out of receivables: nothing is left anywhere
    nets = _nets(_report(api))
    assert nets["Revenue"] == [4000, 0, 0, 0, -4000, 0]
    assert nets["UnbilledReceivables"] == [4000, 0, 0, -4000, 0, 0]
    assert nets["AccountsReceivable"] == [0, 0, 0, 4000, -4000, 0]
    assert nets["Cash"] == [0, 0, 0, 0, 0, 0]


def test_a_currency_parameter_keeps_that_currency_only(api):
    # GIVEN seed 003 in usd WHEN read for eur, then for usd THEN nothing, then the seed
    _seed_003(api)
    eur = ok(api.get(REPORT, {"interval_start": JAN, "interval_end": JUN, "currency": "eur"}))
    assert (eur["data"], eur["currency"]) == ([], "eur")
    usd = ok(api.get(REPORT, {"interval_start": JAN, "interval_end": JUN, "currency": "USD"}))
    assert _nets(usd) == SEED_003


def test_reports_are_per_account(api, other_account):
    # GIVEN seed 003 in one account WHEN another account reads its report THEN it has no entries
    _seed_003(api)
    assert _report(api.as_(other_account))["data"] == []


def test_report_runs_and_files_have_stripes_shapes(api):
    _seed_003(api)
    run = ok(
        api.post(RUNS, {"report_type": SUMMARY, "parameters": {"interval_start": JAN, "interval_end": JUN}})
    )
    assert stripe_shapes.problems(run) == []
    assert stripe_shapes.problems(ok(api.get(f"/v1/files/{run['result']['id']}"))) == []
    assert stripe_shapes.problems(ok(api.get(RUNS))) == []
    # the file's url is where its contents download, on the address the request came to
    assert run["result"]["url"].endswith(f"/v1/files/{run['result']['id']}/contents")
    assert run["result"]["size"] == len(api.get(f"/v1/files/{run['result']['id']}/contents").text.encode())


def test_a_crash_in_the_report_runs_one_transaction_writes_nothing(api):
    # GIVEN seed 003 WHEN creating a run dies in its one transaction (run + file + event)
    _seed_003(api)
    account, params = api.account.id, ReportParameters(JAN, JUN)
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        reporting.create(account, SUMMARY, params, Clock.system())
    # THEN no run, no file, no event
    assert ok(api.get(RUNS))["data"] == []
    assert ok(api.get("/v1/events", {"type": "reporting.report_run.succeeded"}))["data"] == []
    # WHEN retried THEN one run whose file holds the whole journal
    run, f = reporting.create(account, SUMMARY, params, Clock.system())
    assert [r["id"] for r in ok(api.get(RUNS))["data"]] == [run.id]
    assert f is not None and len(f.contents.splitlines()) == 7
    assert len(ok(api.get("/v1/events", {"type": "reporting.report_run.succeeded"}))["data"]) == 1
