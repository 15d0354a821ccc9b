"""A v2 cadence's tick through the schedule → queue → worker path, exactly once: the close sends
the cadence an hour after its tick, the worker writes its invoice, the claim `<cadence>@<tick>` and
the cadence advanced in ONE transaction — whatever is injected (a crash in or after it, duplicate
deliveries, overlapping closes, two workers at once). The flow: a daily cadence, a plan with a
daily rate card (1.00 per call) and a daily license fee (5.00) subscribed from the start of the
current billing interval, 7 calls reported now: the first tick bills 5.00 + 7 × 1.00 = 12.00."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import support

from tally.billing import cadence_invoices
from tally.clock import Clock
from tally.domain.cadences import Cadence
from tally.domain.records import Invoice
from tally.store import objects
from tally.store.aws import sqs
from tally_local.gateway import LambdaContext

PLANS = "/v2/billing/pricing_plans"
HOUR = 3600


def ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


def _queue_url() -> str:
    from tally.settings import settings

    url = settings().billing_queue_url
    assert url
    return url


def queued(account: str) -> list[dict[str, Any]]:
    """The billing queue's records for `account` (received and deleted), as the worker gets them."""
    template = support.load_event("sqs_bill_period.json")["Records"][0]
    out = []
    while True:
        got = sqs().receive_message(QueueUrl=_queue_url(), MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        sqs().delete_message_batch(
            QueueUrl=_queue_url(),
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)],
        )
        out += [
            {**template, "messageId": m["MessageId"], "body": m["Body"]}
            for m in got
            if json.loads(m["Body"])["account"] == account
        ]


def close(functions: support.Functions, instant: int) -> dict[str, Any]:
    event = support.load_event("schedule_close_periods.json")
    event["time"] = dt.datetime.fromtimestamp(instant, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return functions.handler("ClosePeriodsFunction")(event, LambdaContext("ClosePeriodsFunction"))


def bill(functions: support.Functions, records: list[dict[str, Any]]) -> list[str]:
    answer = functions.handler("BillPeriodFunction")(
        {"Records": records}, LambdaContext("BillPeriodFunction")
    )
    return [f["itemIdentifier"] for f in answer["batchItemFailures"]]


class Flow:
    def __init__(self, api: support.Api) -> None:
        self.api = api
        self.tick = 0
        self.account = api.account.id
        customer = ok(api.post("/v1/customers", {"name": "Ada"}))["id"]
        self.customer = customer
        profile = ok(api.post("/v2/billing/profiles", json={"customer": customer}))["id"]
        cadence = ok(
            api.post(
                "/v2/billing/cadences",
                json={"billing_cycle": {"type": "day"}, "payer": {"billing_profile": profile}},
            )
        )
        self.cadence = cadence["id"]
        meter = ok(
            api.post(
                "/v1/billing/meters",
                {
                    "display_name": "Calls",
                    "event_name": "tick_calls",
                    "default_aggregation": {"formula": "sum"},
                },
            )
        )["id"]
        item = ok(api.post("/v2/billing/metered_items", json={"display_name": "Calls", "meter": meter}))["id"]
        card = ok(
            api.post(
                "/v2/billing/rate_cards",
                json={
                    "currency": "usd",
                    "display_name": "Calls",
                    "service_interval": "day",
                    "service_interval_count": 1,
                    "tax_behavior": "exclusive",
                },
            )
        )["id"]
        ok(
            api.post(
                f"/v2/billing/rate_cards/{card}/rates", json={"metered_item": item, "unit_amount": "100"}
            )
        )
        licensed = ok(api.post("/v2/billing/licensed_items", json={"display_name": "Seat"}))["id"]
        fee = ok(
            api.post(
                "/v2/billing/license_fees",
                json={
                    "currency": "usd",
                    "display_name": "Seat",
                    "licensed_item": licensed,
                    "service_interval": "day",
                    "service_interval_count": 1,
                    "tax_behavior": "exclusive",
                    "unit_amount": "500",
                },
            )
        )["id"]
        plan = ok(
            api.post(PLANS, json={"currency": "usd", "display_name": "P", "tax_behavior": "exclusive"})
        )["id"]
        ok(api.post(f"{PLANS}/{plan}/components", json={"type": "rate_card", "rate_card": {"id": card}}))
        ok(api.post(f"{PLANS}/{plan}/components", json={"type": "license_fee", "license_fee": {"id": fee}}))
        ok(api.post(f"{PLANS}/{plan}", json={"live_version": "latest"}))
        action = {
            "type": "subscribe",
            "subscribe": {
                "type": "pricing_plan_subscription_details",
                "pricing_plan_subscription_details": {"pricing_plan": plan},
                "effective_at": {"type": "current_billing_period_start"},
                "collect_at": "next_billing_date",
            },
        }
        intent = ok(
            api.post(
                "/v2/billing/intents", json={"currency": "usd", "cadence": self.cadence, "actions": [action]}
            )
        )
        ok(api.post(f"/v2/billing/intents/{intent['id']}/reserve", json={}))
        ok(api.post(f"/v2/billing/intents/{intent['id']}/commit", json={}))
        ok(
            api.post(
                "/v1/billing/meter_events",
                {"event_name": "tick_calls", "payload": {"stripe_customer_id": customer, "value": "7"}},
            )
        )
        self.start, self.tick = self.record().unbilled

    def record(self) -> Cadence:
        return objects.get(
            self.account, self.cadence, Cadence, Clock.at(self.tick if hasattr(self, "tick") else 0)
        )

    def invoices(self) -> list[Invoice]:
        page = ok(self.api.get("/v1/invoices", {"customer": self.customer, "limit": 100}))["data"]
        return [objects.get(self.account, inv["id"], Invoice, Clock.at(self.tick)) for inv in page]


@pytest.fixture
def flow(api: support.Api) -> Flow:
    queued(api.account.id)  # nothing left over from another test
    return Flow(api)


def test_the_close_sends_the_tick_an_hour_after_it_and_the_worker_bills_it(functions, flow):
    # GIVEN the tick has passed but not its hour: nothing is sent
    close(functions, flow.tick + 60)
    assert queued(flow.account) == []
    # WHEN the hour has passed THEN one message, one invoice: the fee in advance + the day's calls
    close(functions, flow.tick + HOUR + 60)
    records = queued(flow.account)
    assert len(records) == 1 and json.loads(records[0]["body"])["kind"] == "cadence_tick"
    assert bill(functions, records) == []
    (inv,) = flow.invoices()
    assert inv.billing_cadence == flow.cadence and inv.subscription is None
    assert inv.total == 500 + 700 and inv.status == "draft"
    assert inv.automatically_finalizes_at == flow.tick + HOUR
    assert (inv.period_start, inv.period_end) == (flow.start, flow.tick)
    assert flow.record().billed_through == flow.tick
    # AND the next close finalizes it (the draft is due at once), and sends no second tick
    close(functions, flow.tick + HOUR + 120)
    assert bill(functions, queued(flow.account)) == []
    (inv,) = flow.invoices()
    assert inv.status != "draft" and inv.number is not None


def test_a_duplicate_delivery_and_overlapping_closes_bill_once(functions, flow):
    close(functions, flow.tick + HOUR + 60)
    close(functions, flow.tick + HOUR + 61)  # an overlapping run sends it again
    records = queued(flow.account)
    assert len(records) == 2
    assert bill(functions, [records[0], {**records[0], "messageId": "again"}, records[1]]) == []
    assert len(flow.invoices()) == 1


def test_a_crash_in_the_tick_transaction_writes_nothing_and_the_retry_bills_once(functions, flow):
    # the tick's one write: invoice + claim + cadence advance + event, one transaction
    close(functions, flow.tick + HOUR + 60)
    records = queued(flow.account)
    with support.TransactionCrash(at=1) as crash:
        assert bill(functions, records) == [records[0]["messageId"]]
    assert crash.calls == 1
    assert flow.invoices() == [] and flow.record().billed_through is None
    assert bill(functions, records) == []
    assert len(flow.invoices()) == 1


def test_a_crash_after_the_transaction_before_the_ack_bills_once(functions, flow):
    close(functions, flow.tick + HOUR + 60)
    records = queued(flow.account)
    assert bill(functions, records) == []
    # SQS delivers it again (the worker died before the delete), and another close runs
    close(functions, flow.tick + HOUR + 120)
    assert bill(functions, records + queued(flow.account)) == []
    assert len(flow.invoices()) == 1


def test_two_workers_at_once_bill_once(functions, flow, monkeypatch):
    # GIVEN the message delivered to two workers WHEN the second runs entirely while the first is
    # between its read and its write
    close(functions, flow.tick + HOUR + 60)
    records = queued(flow.account)
    real = cadence_invoices.build
    done: list[bool] = []

    def build(*args: Any, **kwargs: Any) -> Any:
        made = real(*args, **kwargs)
        if not done:
            done.append(True)
            assert bill(functions, [{**records[0], "messageId": "other"}]) == []
        return made

    monkeypatch.setattr(cadence_invoices, "build", build)
    # THEN the first's transaction is refused (version check, claim); it re-reads and finds it billed
    assert bill(functions, records) == []
    assert len(flow.invoices()) == 1 and flow.record().billed_through == flow.tick


def test_the_preview_shows_the_next_tick(functions, flow):
    preview = ok(flow.api.post("/v1/invoices/create_preview", {"billing_cadence": flow.cadence}))
    assert preview["total"] == 1200 and preview["parent"]["type"] == "billing_cadence_details"
    assert preview["period_end"] == flow.tick
    # a cadence of another customer, or none: 400s naming the parameter
    bad = flow.api.post("/v1/invoices/create_preview", {"billing_cadence": "bc_nope"})
    support.assert_stripe_error(bad.status, bad.json, 400, param="billing_cadence")
