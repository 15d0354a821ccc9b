"""Credit-balance alerts (issue 13 point 6): Stripe's preview `alert_type=credit_balance_threshold`
on `/v1/billing/alerts`, `billing.alert.triggered` when the customer's available credit balance
falls to `lte` or below, `billing.alert.recovered` when it rises above again — exactly once per
crossing, wherever the balance moves (grants created, voided, expired; invoices; usage), under
concurrent evaluations (threads) and with a crash injected at each write.

Balances are hand-computed: a customer without grants has 0; each grant adds its amount; a void
takes what is left of the grant.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import support
from test_credit_grants import grant

from tally.billing import credit_evaluation
from tally.clock import Clock
from tally.store import credit_watch

pytestmark = pytest.mark.usefixtures("moto_tables")

ALERTS = "/v1/billing/alerts"
TRIGGERED, RECOVERED = "billing.alert.triggered", "billing.alert.recovered"
PREVIEW_ALERT = {
    "id": str,
    "object": str,
    "alert_type": str,
    "livemode": bool,
    "status": str,
    "title": str,
    "usage_threshold": type(None),
    "credit_balance_threshold": dict,
}


def ok(response: support.Response) -> Any:
    assert response.status == 200, response.text
    return response.json


def customer(api: support.Api) -> str:
    return ok(api.post("/v1/customers", {"name": "Credit Co"}))["id"]


def credit_alert(api: support.Api, cus: str, lte: int, currency: str = "usd", **kw: Any) -> support.Response:
    return api.post(
        ALERTS,
        {
            "alert_type": "credit_balance_threshold",
            "title": "Credits low",
            "credit_balance_threshold": {
                "filters": [{"type": "customer", "customer": cus}],
                "lte": {"balance_type": "monetary", "monetary": {"currency": currency, "value": lte}},
            },
        },
        **kw,
    )


def alert_events(account: str) -> list[tuple[str, int]]:
    """(type, value) of the account's alert events, oldest first."""
    return [
        (e["type"], e["data"]["object"]["value"])
        for e in reversed(support.stored_events(account))
        if e["type"] in (TRIGGERED, RECOVERED)
    ]


@pytest.fixture
def serialized_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto is not thread-safe (MOTO-NOTES.md): every AWS call goes through one lock, so the
    threads interleave between calls — the application's races — while moto stays exact."""
    from botocore.client import BaseClient

    lock = threading.RLock()
    original = BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        with lock:
            return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    yield


def settle(outbox: support.Outbox, functions: support.Functions) -> None:
    """Deliver the outbox and run the billing queue until both are quiet (the reactions)."""
    for _ in range(5):
        outbox.drain()
        if not functions.drain():
            return


def test_create_answers_stripes_preview_shape_and_lists_it(api):
    # GIVEN a customer
    cus = customer(api)
    # WHEN a credit-balance alert is created at 5.00 USD
    alert = ok(credit_alert(api, cus, 500))
    # THEN it is Stripe's preview billing.alert: credit_balance_threshold with a customer filter
    # and a monetary lte, usage_threshold null, types as Stripe's
    assert {k: type(v) for k, v in alert.items()} == PREVIEW_ALERT
    assert alert["alert_type"] == "credit_balance_threshold" and alert["status"] == "active"
    assert alert["credit_balance_threshold"] == {
        "filters": [{"customer": cus, "type": "customer"}],
        "lte": {
            "balance_type": "monetary",
            "custom_pricing_unit": None,
            "monetary": {"currency": "usd", "value": 500},
        },
    }
    assert ok(api.get(f"{ALERTS}/{alert['id']}")) == alert
    listed = ok(api.get(ALERTS, {"alert_type": "credit_balance_threshold"}))["data"]
    assert [a["id"] for a in listed] == [alert["id"]]


def test_fires_once_per_crossing_as_grants_move_the_balance(api, functions, outbox):
    # GIVEN a customer without credits (balance 0) and an alert at 5.00
    cus = customer(api)
    alert = ok(credit_alert(api, cus, 500))
    # THEN its creation's evaluation triggers at once: 0 ≤ 500
    assert alert_events(api.account.id) == [(TRIGGERED, 0)]
    # WHEN 10.00 is granted → 1000 > 500: recovered, once however often it is evaluated
    g = grant(api, cus, 1000)
    settle(outbox, functions)
    credit_evaluation.evaluate(api.account.id, cus, Clock.system())
    assert alert_events(api.account.id) == [(TRIGGERED, 0), (RECOVERED, 1000)]
    # AND 3.00 more → 1300: no crossing, no event
    grant(api, cus, 300)
    settle(outbox, functions)
    assert len(alert_events(api.account.id)) == 2
    # WHEN the 10.00 grant is voided → 300 ≤ 500: triggered, with the balance as its value
    ok(api.post(f"/v1/billing/credit_grants/{g['id']}/void"))
    settle(outbox, functions)
    settle(outbox, functions)
    assert alert_events(api.account.id) == [(TRIGGERED, 0), (RECOVERED, 1000), (TRIGGERED, 300)]
    # AND the event's object is billing.alert_triggered with the alert in it
    last = next(e for e in support.stored_events(api.account.id) if e["type"] == TRIGGERED)
    assert last["data"]["object"]["alert"]["id"] == alert["id"]
    assert last["data"]["object"]["customer"] == cus


def test_an_expiry_at_its_instant_triggers_through_the_schedule(api, functions, outbox):
    # GIVEN (wall clock frozen at 2025-03-10) a customer with 10.00 expiring in a day, and an
    # alert at 5.00 (1000 > 500: nothing fires)
    import datetime as dt

    import time_machine
    from test_billing_cycles import close
    from test_credit_grants import DAY, MAR_10

    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        cus = customer(api)
        grant(api, cus, 1000, expires_at=MAR_10 + DAY)
        ok(credit_alert(api, cus, 500))
        settle(outbox, functions)
        assert alert_events(api.account.id) == []
        # WHEN the schedule runs a minute after the expiry instant (the expiry is recorded, its
        # ledger entry's event reaches the billing queue through the outbox)
        traveller.move_to(dt.datetime.fromtimestamp(MAR_10 + DAY + 60, dt.UTC))
        close(functions, MAR_10 + DAY + 60)
        functions.drain()
        settle(outbox, functions)
        # THEN the alert triggers once, at 0
        assert alert_events(api.account.id) == [(TRIGGERED, 0)]


def test_at_most_25_active_per_customer_and_a_reactivated_alert_starts_above(api):
    # GIVEN a customer without credits with 25 active credit alerts (each triggered at creation)
    cus = customer(api)
    alerts = [ok(credit_alert(api, cus, 100 + i))["id"] for i in range(25)]
    assert len(alert_events(api.account.id)) == 25
    # WHEN a 26th is created THEN 400 naming the customer filter, and nothing is written
    refused = credit_alert(api, cus, 500)
    support.assert_stripe_error(
        refused.status,
        refused.json,
        400,
        code="alert_limit_exceeded",
        param="credit_balance_threshold[filters][0][customer]",
    )
    assert len(ok(api.get(ALERTS, {"limit": 100}))["data"]) == 25
    # WHEN one is deactivated THEN a new one fits; and reactivating the first one into a full
    # scope is refused as well
    ok(api.post(f"{ALERTS}/{alerts[0]}/deactivate"))
    ok(credit_alert(api, cus, 500))
    full = api.post(f"{ALERTS}/{alerts[0]}/activate")
    support.assert_stripe_error(full.status, full.json, 400, code="alert_limit_exceeded")
    # WHEN another is archived and the first reactivated THEN it starts "above" again: the next
    # evaluation triggers it once more (the balance is still 0)
    ok(api.post(f"{ALERTS}/{alerts[1]}/archive"))
    ok(api.post(f"{ALERTS}/{alerts[0]}/activate"))
    credit_evaluation.evaluate(api.account.id, cus, Clock.system())
    credit_evaluation.evaluate(api.account.id, cus, Clock.system())
    fired = [e for e in support.stored_events(api.account.id) if e["type"] == TRIGGERED]
    assert [e["data"]["object"]["alert"]["id"] for e in fired].count(alerts[0]) == 2
    assert len(fired) == 27


def test_a_crash_in_the_crossing_s_transaction_then_a_retry_records_it_once(api):
    # GIVEN a customer whose alert is listed but whose creation's evaluation is held back
    cus = customer(api)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(credit_evaluation, "evaluate", lambda *a, **k: credit_evaluation.Outcome())
        from tally.billing import credit_alerts

        mp.setattr(credit_alerts.credit_evaluation, "evaluate", lambda *a, **k: credit_evaluation.Outcome())
        ok(credit_alert(api, cus, 500))
    assert alert_events(api.account.id) == []
    # WHEN the evaluation's one write (the watch + the event) crashes THEN nothing is recorded
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        credit_evaluation.evaluate(api.account.id, cus, Clock.system())
    assert alert_events(api.account.id) == []
    # AND the retry records it once; further evaluations record nothing more
    for _ in range(3):
        credit_evaluation.evaluate(api.account.id, cus, Clock.system())
    assert alert_events(api.account.id) == [(TRIGGERED, 0)]


def test_eight_concurrent_evaluations_record_one_trigger(api, serialized_moto):
    # GIVEN a customer without credits whose alert's creation evaluation is held back
    cus = customer(api)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(credit_evaluation, "evaluate", lambda *a, **k: credit_evaluation.Outcome())
        ok(credit_alert(api, cus, 500))
    # WHEN 8 threads evaluate at once, each having read the watch before any of them writes
    barrier = threading.Barrier(8, timeout=30)
    real_read = credit_watch.read
    first: set[int] = set()

    def read(account: str, customer_id: str) -> Any:
        w = real_read(account, customer_id)
        if threading.get_ident() not in first:
            first.add(threading.get_ident())
            barrier.wait()
        return w

    errors: list[BaseException] = []

    def run() -> None:
        try:
            credit_evaluation.evaluate(api.account.id, cus, Clock.system())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(credit_watch, "read", read)
        threads = [threading.Thread(target=run) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    # THEN all 8 saw 0 ≤ 500; exactly one trigger is recorded
    assert errors == [] and len(first) == 8
    assert alert_events(api.account.id) == [(TRIGGERED, 0)]
