"""Seed 003's revenue recognition through the official `stripe` SDK against the local server:
Jan–Mar 2025 usage on a test clock, the quarterly invoice in April, paid in May, then
`stripe.reporting.ReportRun.create` / `retrieve` and the CSV downloaded from the run's file `url`
with the secret key — as a Stripe user does with Stripe Reporting."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import urllib.request

import pytest
import stripe

pytestmark = pytest.mark.e2e


def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


JAN, JUN = _at(2025, 1, 1), _at(2025, 6, 1)


def _advance(clock_id: str, to: int) -> None:
    stripe.test_helpers.TestClock.advance(clock_id, frozen_time=to)
    deadline = time.monotonic() + 30
    while stripe.test_helpers.TestClock.retrieve(clock_id).status == "advancing":
        assert time.monotonic() < deadline, f"test clock {clock_id} still advancing"
        time.sleep(0.2)


def _download(url: str, key: str) -> tuple[str, str]:
    auth = base64.b64encode(f"{key}:".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # the local server, 127.0.0.1
        return answer.headers["Content-Type"], answer.read().decode()


def test_seed_003_through_stripe_reporting(local_server, e2e_key, monkeypatch):
    monkeypatch.setattr(stripe, "api_key", e2e_key)
    monkeypatch.setattr(stripe, "api_base", local_server.url)
    # GIVEN a quarterly metered subscription on a clock at 1 Jan 2025, 1 cent per API call
    clock = stripe.test_helpers.TestClock.create(frozen_time=JAN, name="seed 003")
    customer = stripe.Customer.create(name="Seed 003", test_clock=clock.id)
    meter = stripe.billing.Meter.create(
        display_name="API calls", event_name="seed_003_calls", default_aggregation={"formula": "sum"}
    )
    price = stripe.Price.create(
        currency="usd",
        unit_amount=1,
        recurring={"usage_type": "metered", "interval": "month", "interval_count": 3, "meter": meter.id},
        product_data={"name": "API calls"},
    )
    subscription = stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}])
    # AND 40, 35 and 25 USD of calls in January, February and March
    for month, calls in ((1, 4000), (2, 3500), (3, 2500)):
        _advance(clock.id, _at(2025, month, 15))
        stripe.billing.MeterEvent.create(
            event_name="seed_003_calls", payload={"stripe_customer_id": customer.id, "value": str(calls)}
        )
    # AND the 100 USD invoice of April, paid in May
    _advance(clock.id, _at(2025, 4, 2))
    (invoice,) = [
        i
        for i in stripe.Invoice.list(subscription=subscription.id).data
        if i.billing_reason == "subscription_cycle"
    ]
    assert (invoice.status, invoice.total) == ("open", 10000)
    _advance(clock.id, _at(2025, 5, 10))
    assert stripe.Invoice.pay(invoice.id, paid_out_of_band=True).status == "paid"
    # AND the report type Stripe names is one Tally runs, available up to next month
    report_type = stripe.reporting.ReportType.retrieve("revenue_recognition.debit_credit_summary.1")
    assert report_type.data_available_start <= JAN < JUN <= report_type.data_available_end
    # WHEN a debits-and-credits report is run over Jan–May 2025
    run = stripe.reporting.ReportRun.create(
        report_type="revenue_recognition.debit_credit_summary.1",
        parameters={"interval_start": JAN, "interval_end": JUN},
    )
    # THEN it succeeds (at once: Tally's runs are synchronous) and retrieves the same
    assert isinstance(run, stripe.reporting.ReportRun) and run.id.startswith("frr_")
    assert run.status == "succeeded" and run.parameters.interval_start == JAN
    again = stripe.reporting.ReportRun.retrieve(run.id)
    assert again.result is not None and again.result.id == run.result.id and again.result.url
    # AND its file downloads as the seed's journal
    content_type, text = _download(again.result.url, e2e_key)
    assert content_type.startswith("text/csv")
    assert text.splitlines() == [
        "accounting_period,currency,debit,credit,amount",
        "2025-01,usd,UnbilledReceivables,Revenue,40.00",
        "2025-02,usd,UnbilledReceivables,Revenue,35.00",
        "2025-03,usd,UnbilledReceivables,Revenue,25.00",
        "2025-04,usd,AccountsReceivable,Revenue,100.00",
        "2025-04,usd,Revenue,UnbilledReceivables,100.00",
        "2025-05,usd,Cash,AccountsReceivable,100.00",
    ]
    # AND the JSON report (the dashboard's) has the seed's table, net per month and in total
    report = json.loads(
        stripe.StripeClient(e2e_key, base_addresses={"api": local_server.url})
        .raw_request("get", "/v1/tally/revenue_recognition", interval_start=JAN, interval_end=JUN)
        .body
    )
    (usd,) = report["data"]
    table = {a["account"]: [p["net"] for p in a["periods"]] + [a["net"]] for a in usd["accounts"]}
    assert table["Revenue"] == [4000, 3500, 2500, 0, 0, 10000]
    assert table["UnbilledReceivables"] == [4000, 3500, 2500, -10000, 0, 0]
    assert table["AccountsReceivable"] == [0, 0, 0, 10000, -10000, 0]
    assert table["Cash"] == [0, 0, 0, 0, 10000, 10000]
