"""Revenue recognition beyond seed 003 (issue 16, point 5): last-value meters, licensed fees,
the customer balance, late usage after finalization, and what a report reads (usage buckets,
never events). Helpers and the plan are `test_revenue_recognition`'s."""

from __future__ import annotations

import pytest
import support
from test_revenue_recognition import APR, FEB, JAN, MAY, _at, _cycle_invoice, _nets, _plan, _report, _use, ok

pytestmark = pytest.mark.usefixtures("moto_tables")


def test_a_last_value_meter_is_recognized_in_the_month_its_period_ends(api):
    # GIVEN a `last` meter reading 100, 300, then 200 units (1 cent each) in Jan, Feb, Mar
    plan = _plan(api, "last_seats", {"unit_amount": 1}, formula="last")
    for month, value in ((1, 100), (2, 300), (3, 200)):
        support.advance_clock(api, api.functions, plan["clock"], _at(2025, month, 10))
        _use(api, "last_seats", plan["customer"], value, _at(2025, month, 10))
        if month == 2:  # while the period runs, its last value is not known: nothing accrues
            assert _report(api, JAN, MAY)["data"] == []
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 4, 2))
    assert _cycle_invoice(api, plan["subscription"])["subtotal"] == 200
    # THEN nothing accrues before March, which recognizes the period's last value, 200
    nets = _nets(_report(api, JAN, MAY))
    assert nets["Revenue"] == [0, 0, 200, 0, 200]
    assert nets["UnbilledReceivables"] == [0, 0, 200, -200, 0]


def test_a_licensed_fee_is_revenue_when_its_invoice_is_finalized(api):
    # GIVEN seed 003's usage plus a 5.00 USD quarterly fee billed in advance (1 Jan, then 1 Apr)
    plan = _plan(api, "fee_calls", {"unit_amount": 1}, fee=500)
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 1, 15))
    _use(api, "fee_calls", plan["customer"], 4000, _at(2025, 1, 15))
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 4, 2))
    assert _cycle_invoice(api, plan["subscription"])["total"] == 4500
    # THEN the fee is revenue in the month each invoice is finalized (January's creation
    # invoice, April's renewal), the usage as delivered; AR holds both invoices until paid
    nets = _nets(_report(api, JAN, MAY))
    assert nets["Revenue"] == [4500, 0, 0, 500, 5000]
    assert nets["UnbilledReceivables"] == [4000, 0, 0, -4000, 0]
    assert nets["AccountsReceivable"] == [500, 0, 0, 4500, 5000]


def test_a_customer_balance_used_by_the_invoice_moves_out_of_receivables(api):
    # GIVEN seed 003 where the customer holds a 7.00 USD credit when the invoice is finalized
    plan = _plan(api, "credit_calls", {"unit_amount": 1})
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 1, 15))
    _use(api, "credit_calls", plan["customer"], 10000, _at(2025, 1, 15))
    balance = {"amount": -700, "currency": "usd"}
    ok(api.post(f"/v1/customers/{plan['customer']}/balance_transactions", balance))
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 4, 2))
    inv = _cycle_invoice(api, plan["subscription"])
    assert (inv["total"], inv["amount_due"]) == (10000, 9300)
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 5, 10))
    ok(api.post(f"/v1/invoices/{inv['id']}/pay", {"paid_out_of_band": "true"}))
    # THEN April: AR +100.00 − 7.00 (the credit used, debited to CustomerBalance); May: cash 93.00
    nets = _nets(_report(api))
    assert nets["AccountsReceivable"] == [0, 0, 0, 9300, -9300, 0]
    assert nets["CustomerBalance"] == [0, 0, 0, -700, 0, -700]
    assert nets["Cash"] == [0, 0, 0, 0, 9300, 9300]
    assert nets["Revenue"] == [10000, 0, 0, 0, 0, 10000]


def test_late_usage_after_finalization_is_taken_back_then_rebooked_by_its_true_up(api):
    # GIVEN a monthly plan: 40.00 USD in January, its invoice finalized 1 Feb 01:00
    plan = _plan(api, "late_calls", {"unit_amount": 1}, interval_count=1)
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 1, 15))
    _use(api, "late_calls", plan["customer"], 4000, _at(2025, 1, 15))
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 2, 2))
    # WHEN 5.00 USD of January's usage arrives after that (stamped 31 Jan), billed as a true-up
    _use(api, "late_calls", plan["customer"], 500, _at(2025, 1, 31, 12))
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 3, 2))
    found = ok(api.get("/v1/invoices", {"subscription": plan["subscription"], "limit": 100}))["data"]
    totals = sorted(
        (i["period_start"], i["total"]) for i in found if i["billing_reason"] == "subscription_cycle"
    )
    assert [t for _, t in totals] == [4000, 500]  # January's, then February's with the true-up
    # THEN January recognizes all it delivered (45.00); February's finalization of January's
    # invoice reverses 45.00 but rebooks 40.00 (−5.00); March's rebooks the true-up (+5.00)
    nets = _nets(_report(api, JAN, APR))
    assert nets["Revenue"] == [4500, -500, 500, 4500]
    assert nets["UnbilledReceivables"] == [4500, -4500, 0, 0]
    assert nets["AccountsReceivable"] == [0, 4000, 500, 4500]


def test_the_report_reads_usage_buckets_never_events(api):
    # GIVEN 2 events in an hour of January, the report read once
    from tally.store import usage

    plan = _plan(api, "bucket_calls", {"unit_amount": 1})
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 1, 15, 1))
    event = {"event_name": "bucket_calls", "payload": {"stripe_customer_id": plan["customer"], "value": "1"}}
    token = ok(api.post("/v2/billing/meter_event_session", json={}))["authentication_token"]

    def send(n: int) -> None:
        for i in range(0, n, 100):
            batch = [
                {**event, "identifier": f"bucket-{n}-{i + j}", "timestamp": "2025-01-15T00:30:00.000Z"}
                for j in range(min(100, n - i))
            ]
            sent = api.post("/v2/billing/meter_event_stream", json={"events": batch}, key=token)
            assert ok(sent)["accepted"] == len(batch), sent.text

    def usage_items_read() -> int:
        usage.STATS.reset()
        _report(api, JAN, FEB)
        return usage.STATS.items_read

    send(2)
    few = usage_items_read()
    # WHEN 298 more events land in the same hour
    send(298)
    # THEN the report reads exactly as many usage items, and counts all 300 units
    assert usage_items_read() == few
    assert _nets(_report(api, JAN, FEB))["Revenue"] == [300, 300]


def test_a_report_too_large_for_one_file_is_a_failed_run(api, monkeypatch):
    # GIVEN usage in January, and (for the test) files limited to 64 bytes
    import stripe_shapes

    from tally.billing import reporting

    plan = _plan(api, "big_calls", {"unit_amount": 1})
    support.advance_clock(api, api.functions, plan["clock"], _at(2025, 1, 15))
    _use(api, "big_calls", plan["customer"], 4000, _at(2025, 1, 15))
    monkeypatch.setattr(reporting, "MAX_FILE_BYTES", 64)
    # WHEN a run's CSV would exceed it THEN the run is stored `failed` with its error, no file
    params = {"interval_start": JAN, "interval_end": FEB}
    run = ok(
        api.post(
            "/v1/reporting/report_runs",
            {"report_type": "revenue_recognition.debit_credit_summary.1", "parameters": params},
        )
    )
    assert (run["status"], run["result"], run["succeeded_at"]) == ("failed", None, None)
    assert "too large" in run["error"] and stripe_shapes.problems(run) == []
    assert ok(api.get(f"/v1/reporting/report_runs/{run['id']}")) == run
    assert len(ok(api.get("/v1/events", {"type": "reporting.report_run.failed"}))["data"]) == 1
