"""Credit watches on the ingest path (issue 13 points 6 and 7): usage burns credits down
(`tally.billing.burndown`), and the meter-event request that takes the available balance to a
threshold or below records the crossing itself — `billing.alert.triggered`, and a top-up's
`tally.credit_top_up.started` (its invoice is then created by the reaction to that event, off the
hot path). A customer without a credit watch pays nothing for it: the same requests as before.

Calendar and prices as tests/integration/test_credit_burndown.py: 0.04 USD per 100 tokens, rounded
up; the wall clock frozen at 2025-03-10, usage on MAR_20.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import support
import time_machine
from test_credit_alerts import alert_events, credit_alert, settle
from test_credit_application import MAR_20, Plan
from test_credit_grants import grant
from test_least_privilege import needed
from test_subscriptions_preview import Catalog, Clock, ok

from tally.domain import credit_watch as rules

pytestmark = pytest.mark.usefixtures("moto_tables")
__all__ = ["needed"]  # the fixture (test_least_privilege.py), used below

TRIGGERED, RECOVERED = "billing.alert.triggered", "billing.alert.recovered"


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


def test_the_event_that_burns_the_balance_down_triggers_the_alert_itself(catalog, clock, functions, outbox):
    # GIVEN 10.00 of credits, an alert at 5.00 (1000 > 500: quiet)
    plan = Plan(catalog)
    plan.grant(1000)
    ok(credit_alert(catalog.api, plan.cid, 500))
    account = catalog.api.account.id
    assert alert_events(account) == []
    # WHEN 10,000 tokens arrive (400: 600 left) THEN nothing
    clock.at(MAR_20)
    plan.use(10_000)
    assert alert_events(account) == []
    # WHEN 2,600 more arrive (12,600 tokens: 504; 496 left ≤ 500) THEN the request itself recorded
    # the trigger, with the balance as its value — before any event is delivered
    plan.use(2_600)
    assert alert_events(account) == [(TRIGGERED, 496)]
    # AND more usage and the reactions to everything since record nothing more
    plan.use(100)
    settle(outbox, functions)
    assert alert_events(account) == [(TRIGGERED, 496)]
    # WHEN 5.00 more credits are granted (992 − … : 1496 − 4 = 1492 > 500) THEN recovered, once
    plan.grant(1000)
    settle(outbox, functions)
    assert alert_events(account) == [(TRIGGERED, 496), (RECOVERED, 1492)]


def test_the_event_that_crosses_a_rule_starts_one_top_up_and_its_reaction_invoices_it(
    catalog, clock, functions, outbox
):
    # GIVEN 10.00 of credits and a rule "at or below 5.00, top up 20.00"
    plan = Plan(catalog)
    plan.grant(1000)
    rule = ok(
        catalog.api.post(
            "/v1/tally/credit_top_up_rules",
            {
                "customer": plan.cid,
                "currency": "usd",
                "threshold": 500,
                "amount": 2000,
            },
        )
    )
    account = catalog.api.account.id
    # WHEN usage takes the balance to 496
    clock.at(MAR_20)
    plan.use(12_600)
    # THEN the request recorded the top-up's start (its invoice named, not yet created)
    started = [e for e in support.stored_events(account) if e["type"] == "tally.credit_top_up.started"]
    assert [e["data"]["object"]["invoice"] for e in started] == [rules.invoice_id(rule["id"], 1)]
    assert [e["data"]["object"]["amount"] for e in started] == [2000]
    # WHEN the event is delivered THEN the reaction creates and finalizes that invoice, once
    settle(outbox, functions)
    settle(outbox, functions)
    topups = ok(catalog.api.get("/v1/invoices", {"customer": plan.cid, "limit": 100}))["data"]
    topups = [i for i in topups if i["subscription"] is None]
    assert [(i["id"], i["status"], i["total"]) for i in topups] == [
        (rules.invoice_id(rule["id"], 1), "open", 2000)
    ]


class Calls:
    """AWS requests made while counting, by operation."""

    def __init__(self) -> None:
        self.ops: list[str] = []


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    from botocore.client import BaseClient

    counted = Calls()
    original = BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        counted.ops.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    return counted


class Member:
    """Another customer on `plan`'s price (one account has one meter per event name)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.customer = plan.catalog.customer()
        plan.catalog.subscribe(self.customer, {"price": plan.prices[0]["id"]})
        self.cid = str(self.customer["id"])

    def use(self, tokens: int) -> None:
        self.plan.catalog.usage(self.plan.meters[0], self.customer, tokens)


def _ingest(who: Any, calls: Calls, tokens: int) -> list[str]:
    start = len(calls.ops)
    who.use(tokens)
    return calls.ops[start:]


def test_ingest_costs_nothing_more_for_a_customer_without_a_credit_watch(catalog, clock, calls):
    # GIVEN three subscribed customers with credits: one never watched, one watched by an alert
    # that is then archived (its record's flag cleared), one watched
    clock.at(MAR_20)
    plan = Plan(catalog)
    was_watched, watched = Member(plan), Member(plan)
    for cid in (plan.cid, was_watched.cid, watched.cid):
        grant(catalog.api, cid, 1000)
    alert = ok(credit_alert(catalog.api, was_watched.cid, 500))
    ok(catalog.api.post(f"/v1/billing/alerts/{alert['id']}/archive"))
    ok(credit_alert(catalog.api, watched.cid, 500))
    for who in (plan, was_watched, watched):
        who.use(100)  # warm: as on any later request
    # WHEN each sends one meter event
    sys.modules.pop("tally.billing.credit_evaluation", None)
    plain_ops = _ingest(plan, calls, 100)
    loaded = "tally.billing.credit_evaluation" in sys.modules
    was_ops = _ingest(was_watched, calls, 100)
    watched_ops = _ingest(watched, calls, 100)
    # THEN the unwatched customers make the same requests (never loading the evaluation); the
    # watched one reads its watch and its balance on top (measured: printed for docs/API.md)
    assert not loaded
    assert plain_ops == was_ops
    assert len(watched_ops) > len(plain_ops)
    print(
        f"\ningest requests: unwatched {len(plain_ops)} {plain_ops}; watched {len(watched_ops)} {watched_ops}"
    )


def test_the_functions_need_nothing_more_than_their_policies_grant(catalog, clock, functions, outbox, needed):
    # GIVEN (calls recorded per function) a subscribed customer with 5.20 of credits, an alert and
    # a top-up rule at 5.00
    from test_least_privilege import IDEMPOTENCY_FALLBACK

    clock.at(MAR_20)
    plan = Plan(catalog)
    plan.grant(520)
    ok(credit_alert(catalog.api, plan.cid, 500))
    ok(
        catalog.api.post(
            "/v1/tally/credit_top_up_rules",
            {"customer": plan.cid, "currency": "usd", "threshold": 500, "amount": 2000},
        )
    )
    # WHEN usage crosses both on ingest, the reactions invoice the top-up, it is paid and granted
    plan.use(1_000)
    settle(outbox, functions)
    (inv,) = [
        i
        for i in ok(catalog.api.get("/v1/invoices", {"customer": plan.cid}))["data"]
        if i["subscription"] is None
    ]
    ok(catalog.api.post(f"/v1/invoices/{inv['id']}/pay", {"paid_out_of_band": "true"}))
    settle(outbox, functions)
    assert alert_events(catalog.api.account.id) == [(TRIGGERED, 480), (RECOVERED, 2480)]
    # THEN every call each function made is granted by its policy
    for function in ("IngestFunction", "ApiFunction", "BillPeriodFunction", "DispatchFunction"):
        missing = needed[function] - support.template_grants(function) - IDEMPOTENCY_FALLBACK
        assert missing == set(), (function, missing)
