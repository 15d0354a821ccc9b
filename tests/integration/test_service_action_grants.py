"""Service action grants through the schedule → queue → worker path (issue 14 point 5, branch
`actions`), exactly once: the plan subscription is in the due index at its next service interval
start, the close sends `{kind: plan_subscription_due}`, the worker creates the interval's grant
(derived id) then moves the subscription on — whatever is injected (a crash at either write,
after both, duplicate deliveries). And the grant's expiry waits for the invoice of its interval.

The flow: a daily cadence, a plan with a daily rate card (1.00 per call) and a daily service
action (5.00 of credit), subscribed from the start `S` of the current billing interval; the first
tick is `T` = S + 1 day."""

from __future__ import annotations

import json
from typing import Any

import pytest
import support
from test_cadence_ticks import bill, close, queued

from tally.clock import Clock
from tally.domain.credits import CreditGrant
from tally.domain.intents import PlanSubscription
from tally.store import objects

PLANS = "/v2/billing/pricing_plans"
HOUR, DAY = 3600, 86_400


def ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


class Flow:
    def __init__(self, api: support.Api) -> None:
        self.api = api
        self.account = api.account.id
        self.customer = ok(api.post("/v1/customers", {"name": "Ada"}))["id"]
        profile = ok(api.post("/v2/billing/profiles", json={"customer": self.customer}))["id"]
        self.cadence = ok(
            api.post(
                "/v2/billing/cadences",
                json={"billing_cycle": {"type": "day"}, "payer": {"billing_profile": profile}},
            )
        )["id"]
        meter = ok(
            api.post(
                "/v1/billing/meters",
                {
                    "display_name": "Calls",
                    "event_name": "grant_calls",
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
        action = ok(
            api.post(
                "/v2/billing/service_actions",
                json={
                    "service_interval": "day",
                    "service_interval_count": 1,
                    "type": "credit_grant",
                    "credit_grant": {
                        "name": "Daily credit",
                        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 500}},
                        "applicability_config": {"scope": {"price_type": "metered"}},
                        "expiry_config": {"type": "end_of_service_period"},
                    },
                },
            )
        )["id"]
        plan = ok(
            api.post(PLANS, json={"currency": "usd", "display_name": "P", "tax_behavior": "exclusive"})
        )["id"]
        ok(api.post(f"{PLANS}/{plan}/components", json={"type": "rate_card", "rate_card": {"id": card}}))
        ok(
            api.post(
                f"{PLANS}/{plan}/components",
                json={"type": "service_action", "service_action": {"id": action}},
            )
        )
        ok(api.post(f"{PLANS}/{plan}", json={"live_version": "latest"}))
        subscribe = {
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
                "/v2/billing/intents",
                json={"currency": "usd", "cadence": self.cadence, "actions": [subscribe]},
            )
        )
        ok(api.post(f"/v2/billing/intents/{intent['id']}/reserve", json={}))
        ok(api.post(f"/v2/billing/intents/{intent['id']}/commit", json={}))
        actions = ok(api.get(f"/v2/billing/intents/{intent['id']}/actions"))["data"]
        self.sub = actions[0]["subscribe"]["pricing_plan_subscription_details"]["pricing_plan_subscription"]
        self.start = self.record().activated_at
        self.tick = self.start + DAY
        ok(
            api.post(
                "/v1/billing/meter_events",
                {"event_name": "grant_calls", "payload": {"stripe_customer_id": self.customer, "value": "3"}},
            )
        )

    def record(self) -> PlanSubscription:
        return objects.get(self.account, self.sub, PlanSubscription, Clock.at(0))

    def grants(self) -> list[dict]:
        return ok(self.api.get("/v1/billing/credit_grants", {"customer": self.customer, "limit": 100}))[
            "data"
        ][::-1]

    def grant_record(self, grant_id: str) -> CreditGrant:
        return objects.get(self.account, grant_id, CreditGrant, Clock.at(0))

    def run(self, functions: support.Functions, instant: int) -> list[str]:
        """A close at `instant` and its messages billed; the kinds sent."""
        close(functions, instant)
        records = queued(self.account)
        assert bill(functions, records) == []
        return [json.loads(r["body"]).get("kind", "period") for r in records]


@pytest.fixture
def flow(api: support.Api) -> Flow:
    queued(api.account.id)  # nothing left over from another test
    return Flow(api)


def test_the_close_sends_each_interval_start_and_the_worker_grants_it_once(functions, flow):
    # GIVEN the subscription is due at its first interval's start WHEN the close runs
    close(functions, flow.start + 60)
    records = queued(flow.account)
    assert [json.loads(r["body"])["kind"] for r in records] == ["plan_subscription_due"]
    assert bill(functions, records) == []
    # THEN one 5.00 grant effective at S, expiring at T, with its event; the subscription waits for T
    (g,) = flow.grants()
    assert (g["effective_at"], g["expires_at"], g["amount"]["monetary"]["value"]) == (
        flow.start,
        flow.tick,
        500,
    )
    assert g["name"] == "Daily credit" and g["applicability_config"] == {"scope": {"price_type": "metered"}}
    created = ok(flow.api.get("/v1/events", {"type": "billing.credit_grant.created"}))["data"]
    assert [e["data"]["object"]["id"] for e in created] == [g["id"]]
    assert flow.record().due_at == flow.tick
    # AND nothing more until T; then the next interval's grant, whether or not a tick bills then
    assert flow.run(functions, flow.start + 120) == []
    assert "plan_subscription_due" in flow.run(functions, flow.tick + 60)
    assert [(x["effective_at"], x["expires_at"]) for x in flow.grants()] == [
        (flow.start, flow.tick),
        (flow.tick, flow.tick + DAY),
    ]


def test_a_duplicate_delivery_and_overlapping_closes_grant_once(functions, flow):
    close(functions, flow.start + 60)
    close(functions, flow.start + 61)
    records = queued(flow.account)
    assert bill(functions, [records[0], {**records[0], "messageId": "again"}, *records[1:]]) == []
    assert len(flow.grants()) == 1


@pytest.mark.parametrize("at", [1, 2])
def test_a_crash_at_either_write_then_the_retry_grants_once(functions, flow, at):
    # the worker's writes: (1) the grant's transaction (grant, entry, events, list), (2) the
    # subscription moved on
    close(functions, flow.start + 60)
    records = queued(flow.account)
    with support.TransactionCrash(at=at) as crash:
        assert bill(functions, records) == [records[0]["messageId"]]
    assert crash.calls == at
    assert len(flow.grants()) == at - 1  # nothing, or the grant alone
    assert flow.record().due_at == flow.start  # still due
    # WHEN SQS delivers it again THEN one grant, and the subscription moves on
    assert bill(functions, records) == []
    assert len(flow.grants()) == 1 and flow.record().due_at == flow.tick


def test_a_crash_after_both_writes_before_the_ack_grants_once(functions, flow):
    close(functions, flow.start + 60)
    records = queued(flow.account)
    assert bill(functions, records) == []
    close(functions, flow.start + 120)  # another close, and the redelivery
    assert bill(functions, records + queued(flow.account)) == []
    assert len(flow.grants()) == 1


def test_the_grants_expiry_waits_for_the_invoice_of_its_interval(functions, flow):
    # GIVEN S's 5.00 grant and 3 calls (3.00) in [S, T)
    flow.run(functions, flow.start + 60)
    (g,) = flow.grants()
    # WHEN the grant's expiry is due at T but the tick has not billed [S, T) yet
    assert "expire_credit_grant" in flow.run(functions, flow.tick + 60)
    # THEN its expiry waits (nothing expired) and the close looks again when the cadence bills
    held = flow.grant_record(g["id"])
    assert not held.expiry_recorded and held.due_at == flow.tick + HOUR
    # WHEN the tick bills (T + 1 h), the draft finalizes (next run), and the closes go on
    for instant in (flow.tick + HOUR + 60, flow.tick + HOUR + 120, flow.tick + HOUR + 240):
        flow.run(functions, instant)
    # THEN the invoice took 3.00 from the grant, and the 2.00 left expired (effective at T)
    invoices = ok(flow.api.get("/v1/invoices", {"customer": flow.customer}))["data"]
    (inv,) = invoices
    assert inv["status"] != "draft" and (inv["subtotal"], inv["total"]) == (300, 0)
    entries = ok(
        flow.api.get(
            "/v1/billing/credit_balance_transactions", {"customer": flow.customer, "credit_grant": g["id"]}
        )
    )["data"][::-1]
    assert [
        ((e["credit"] or e["debit"])["type"], (e["credit"] or e["debit"])["amount"]["monetary"]["value"])
        for e in entries
    ] == [
        ("credits_granted", 500),
        ("credits_applied", 300),
        ("credits_expired", 200),
    ]
    assert entries[2]["effective_at"] == flow.tick
    assert flow.grant_record(g["id"]).expiry_recorded
