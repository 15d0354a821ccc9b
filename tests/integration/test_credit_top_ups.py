"""Automatic top-ups (issue 13 point 7, a Tally extension): `/v1/tally/credit_top_up_rules`.

A rule tops a customer's credits up when the available balance falls to `threshold` or below:
one one-off invoice for the top-up → when it is paid (`invoice.paid`), one `paid` credit grant of
its total; exactly one per shortfall under concurrent evaluations (threads), retried deliveries
and a crash at each write; a voided top-up invoice grants nothing.

Amounts are hand-computed: a customer without grants has 0; a fixed rule tops up `amount`; a
target rule tops up `target_balance` − the balance.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import support
from test_credit_alerts import credit_alert, customer, ok, serialized_moto, settle
from test_credit_grants import grant

from tally.billing import credit_evaluation
from tally.clock import Clock
from tally.domain import credit_watch as rules
from tally.store import credit_watch

pytestmark = pytest.mark.usefixtures("moto_tables")
__all__ = ["serialized_moto"]  # the fixture, used below

RULES = "/v1/tally/credit_top_up_rules"
SUMMARY = "/v1/billing/credit_balance_summary"
STARTED = "tally.credit_top_up.started"


def rule(api: support.Api, cus: str, **fields: Any) -> support.Response:
    return api.post(RULES, {"customer": cus, "currency": "usd", "threshold": 500, "amount": 2000, **fields})


def balance(api: support.Api, cus: str) -> int:
    f = {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}}
    body = ok(api.get(SUMMARY, {"customer": cus, "filter": f}))
    return sum(b["available_balance"]["monetary"]["value"] for b in body["balances"])


def invoices(api: support.Api, cus: str) -> list[dict[str, Any]]:
    return ok(api.get("/v1/invoices", {"customer": cus, "limit": 100}))["data"]


def grants(api: support.Api, cus: str) -> list[dict[str, Any]]:
    return ok(api.get("/v1/billing/credit_grants", {"customer": cus, "limit": 100}))["data"]


def events(account: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in support.stored_events(account) if e["type"] == kind]


def test_a_shortfall_invoices_once_and_the_paid_invoice_grants_once(api, functions, outbox):
    # GIVEN a customer without credits (balance 0)
    cus = customer(api)
    # WHEN a rule "at or below 5.00, top up 20.00" is created
    created = ok(rule(api, cus, metadata={"plan": "pro"}))
    # THEN it is the Tally object, and its creation's evaluation started one top-up: 0 ≤ 500
    assert created["object"] == "tally.credit_top_up_rule" and created["threshold"] == 500
    assert created["amount"] == 2000 and created["target_balance"] is None
    assert created["collection_method"] == "charge_automatically" and created["max_per_period"] == 1
    (inv,) = invoices(api, cus)
    assert inv["id"] == rules.invoice_id(created["id"], 1)
    assert (inv["status"], inv["total"], inv["amount_due"], inv["billing_reason"]) == (
        "open",
        2000,
        2000,
        "manual",
    )
    assert inv["subscription"] is None and inv["metadata"] == {"tally_credit_top_up_rule": created["id"]}
    assert [ln["amount"] for ln in inv["lines"]["data"]] == [2000]
    (started,) = events(api.account.id, STARTED)
    assert started["data"]["object"] == {
        "object": "tally.credit_top_up",
        "amount": 2000,
        "created": started["created"],
        "currency": "usd",
        "customer": cus,
        "invoice": inv["id"],
        "rule": created["id"],
    }
    # AND retrieving the rule shows the top-up in flight; nothing is granted before payment
    shown = ok(api.get(f"{RULES}/{created['id']}"))
    assert (shown["pending_invoice"], shown["top_ups_started"]) == (inv["id"], 1)
    settle(outbox, functions)
    assert grants(api, cus) == [] and len(invoices(api, cus)) == 1
    # WHEN the invoice is paid out of band and the events are delivered
    ok(api.post(f"/v1/invoices/{inv['id']}/pay", {"paid_out_of_band": "true"}))
    settle(outbox, functions)
    # THEN one paid grant of 20.00, its id derived from the invoice; the balance is 2000
    (g,) = grants(api, cus)
    assert g["id"] == rules.grant_id(inv["id"])
    assert (g["category"], g["amount"]["monetary"]["value"], g["name"]) == ("paid", 2000, "Automatic top-up")
    assert g["metadata"] == {"tally_credit_top_up_rule": created["id"], "invoice": inv["id"]}
    assert balance(api, cus) == 2000
    shown = ok(api.get(f"{RULES}/{created['id']}"))
    assert (shown["pending_invoice"], shown["top_ups_started"]) == (None, 1)
    # AND retried deliveries (invoice.paid again, any evaluation) grant nothing more
    for _ in range(3):  # the billing queue's `credits` message, delivered again
        from tally_local.gateway import LambdaContext

        message = _credits_message(api.account.id, cus)
        answer = functions.handler("BillPeriodFunction")(message, LambdaContext("BillPeriodFunction"))
        assert answer == {"batchItemFailures": []}
    settle(outbox, functions)
    assert len(grants(api, cus)) == 1 and len(invoices(api, cus)) == 1 and balance(api, cus) == 2000


def paid_top_up_reaction(functions: support.Functions, account: str) -> None:
    """A customer whose top-up invoice is paid, and the billing queue's `credits` message run
    through BillPeriodFunction: the worker creates the grant (test_least_privilege.py)."""
    from tally.billing import customers, lifecycle, top_up_rules
    from tally.billing.top_up_rules import RuleSpec
    from tally_local.gateway import LambdaContext

    now = Clock.system()
    cus = customers.create(account, {"name": "Topped up"}, None, now).id
    r = top_up_rules.create(account, RuleSpec(cus, "usd", 500, amount=2000), now)
    lifecycle.pay(account, rules.invoice_id(r.id, 1), True, now)
    message = _credits_message(account, cus)
    assert functions.handler("BillPeriodFunction")(message, LambdaContext("BillPeriodFunction")) == {
        "batchItemFailures": []
    }
    assert credit_watch.read(account, cus).rules[0].pending is None


def _credits_message(account: str, cus: str) -> dict[str, Any]:
    import json

    body = {"kind": "credits", "account": account, "customer": cus, "at": 0}
    return {"Records": [{"messageId": "m1", "body": json.dumps(body)}]}


@pytest.mark.parametrize("outcome", ["void", "mark_uncollectible"])
def test_a_voided_top_up_grants_nothing_and_the_same_shortfall_is_not_invoiced_again(
    api, functions, outbox, outcome
):
    # GIVEN a rule allowing 5 top-ups a month and a customer at 0: one top-up in flight
    cus = customer(api)
    r = ok(rule(api, cus, max_per_period=5, collection_method="send_invoice", days_until_due=7))
    (inv,) = invoices(api, cus)
    assert (inv["collection_method"], inv["status"]) == ("send_invoice", "open")
    assert inv["due_date"] == inv["created"] + 7 * 86_400
    # WHEN the top-up invoice is voided (or marked uncollectible: the payment failed for good)
    ok(api.post(f"/v1/invoices/{inv['id']}/{outcome}"))
    settle(outbox, functions)
    # THEN nothing is granted, the top-up is settled, and the balance (still 0, the same
    # shortfall) starts no second top-up
    assert grants(api, cus) == [] and balance(api, cus) == 0
    assert ok(api.get(f"{RULES}/{r['id']}"))["pending_invoice"] is None
    credit_evaluation.evaluate(api.account.id, cus, Clock.system())
    assert len(invoices(api, cus)) == 1
    # WHEN credits lift the balance above 500 and a void drops it again (a new shortfall)
    g = grant(api, cus, 800)
    settle(outbox, functions)
    ok(api.post(f"/v1/billing/credit_grants/{g['id']}/void"))
    settle(outbox, functions)
    # THEN a second top-up invoice, the rule's second
    assert next(i["id"] for i in invoices(api, cus)) == rules.invoice_id(r["id"], 2)


def test_a_target_rule_tops_up_to_its_target_and_the_limit_per_period_holds(api, functions, outbox):
    # GIVEN a customer with 3.00 of credits and a rule "at or below 5.00, up to 50.00, once a month"
    cus = customer(api)
    g = grant(api, cus, 300)
    r = ok(rule(api, cus, amount="", target_balance=5000))
    # THEN one top-up of 5000 − 300 = 4700
    (inv,) = invoices(api, cus)
    assert inv["total"] == 4700
    # WHEN it is voided, credits rise above and fall below again within the month
    ok(api.post(f"/v1/invoices/{inv['id']}/void"))
    settle(outbox, functions)
    g2 = grant(api, cus, 1000)
    settle(outbox, functions)
    ok(api.post(f"/v1/billing/credit_grants/{g2['id']}/void"))
    settle(outbox, functions)
    # THEN no second top-up: the month's one is used (max_per_period=1)
    assert len(invoices(api, cus)) == 1
    assert ok(api.get(f"{RULES}/{r['id']}"))["top_ups_started"] == 1
    assert g["id"]


def test_concurrent_evaluations_start_exactly_one_top_up(api, serialized_moto):
    # GIVEN a customer at 0 and a rule whose creation's own evaluation is held back
    cus = customer(api)
    watch = credit_watch.read(api.account.id, cus)
    assert watch.empty
    r = _rule_without_evaluation(api, cus)
    # WHEN 8 threads evaluate at once, each having read the watch before any of them writes
    barrier = threading.Barrier(8, timeout=30)
    real_read = credit_watch.read
    first: set[int] = set()

    def read(account: str, customer_id: str) -> rules.Watch:
        w = real_read(account, customer_id)
        me = threading.get_ident()
        if me not in first:  # each thread's first read waits for the others' first read
            first.add(me)
            barrier.wait()
        return w

    outcomes: list[credit_evaluation.Outcome] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            outcomes.append(credit_evaluation.evaluate(api.account.id, cus, Clock.system()))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(credit_watch, "read", read)
        threads = [threading.Thread(target=run) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    # THEN all 8 decided the same top-up; exactly one recorded it and one invoice exists
    assert errors == []
    assert sum(o.events.count(STARTED) for o in outcomes) == 1
    assert [i["id"] for i in invoices(api, cus)] == [rules.invoice_id(r, 1)]
    assert len(events(api.account.id, STARTED)) == 1


def _rule_without_evaluation(api: support.Api, cus: str) -> str:
    """A rule created through the use case with its creation's evaluation skipped."""
    from tally.billing import top_up_rules
    from tally.billing.top_up_rules import RuleSpec

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(credit_evaluation, "evaluate", lambda *a, **k: credit_evaluation.Outcome())
        created = top_up_rules.create(api.account.id, RuleSpec(cus, "usd", 500, amount=2000), Clock.system())
    return created.id


# The writes of one top-up, in order: (1) the watch's transition with `tally.credit_top_up.started`,
# (2) the draft invoice, (3) its item, (4) its finalization; then (5) the payment (out of band),
# (6) the grant, (7) the watch's settle.
WRITES = 7


def _try(step: Any) -> None:
    try:
        step()
    except support.InjectedCrash:
        pass


@pytest.mark.parametrize("crash_at", range(1, WRITES + 1))
def test_a_crash_at_each_write_then_a_retry_tops_up_once(api, crash_at):
    # GIVEN a customer at 0 with a rule (its creation's evaluation held back)
    cus = customer(api)
    r = _rule_without_evaluation(api, cus)
    account = api.account.id
    inv_id = rules.invoice_id(r, 1)

    def evaluate() -> None:
        credit_evaluation.evaluate(account, cus, Clock.system())

    def pay() -> None:
        from tally.billing import lifecycle

        found = [i for i in invoices(api, cus) if i["id"] == inv_id]
        if found and found[0]["status"] != "paid":
            lifecycle.pay(account, inv_id, True, Clock.system())

    # WHEN the top-up runs (evaluate, pay, evaluate) with its `crash_at`-th write failing
    with support.TransactionCrash(at=crash_at) as crash:
        for step in (evaluate, evaluate, pay, evaluate):
            _try(step)
    assert crash.calls >= crash_at
    # AND everything is retried (an evaluation, the payment, the reactions to invoice.paid)
    for step in (evaluate, pay, evaluate, evaluate):
        step()
    # THEN one invoice of 2000, paid; one grant of 2000; the rule settled after one top-up
    assert [(i["id"], i["status"], i["total"]) for i in invoices(api, cus)] == [(inv_id, "paid", 2000)]
    assert [g["amount"]["monetary"]["value"] for g in grants(api, cus)] == [2000]
    assert balance(api, cus) == 2000
    shown = ok(api.get(f"{RULES}/{r}"))
    assert (shown["pending_invoice"], shown["top_ups_started"]) == (None, 1)
    assert len(events(account, STARTED)) == 1


def test_an_alert_and_a_rule_on_one_customer_both_see_the_top_up(api, functions, outbox):
    # GIVEN a customer at 0 with an alert at 5.00 (triggered at once) and a rule topping up 20.00
    cus = customer(api)
    ok(credit_alert(api, cus, 500))
    r = ok(rule(api, cus))
    (inv,) = invoices(api, cus)
    # WHEN the top-up is paid
    ok(api.post(f"/v1/invoices/{inv['id']}/pay", {"paid_out_of_band": "true"}))
    settle(outbox, functions)
    # THEN the alert recovers with the topped-up balance, once
    kinds = [
        (e["type"], e["data"]["object"].get("value")) for e in reversed(support.stored_events(api.account.id))
    ]
    alerts = [k for k in kinds if k[0].startswith("billing.alert.")]
    assert alerts == [("billing.alert.triggered", 0), ("billing.alert.recovered", 2000)]
    assert r["id"]


def test_a_customer_on_a_test_clock_is_topped_up_at_its_clock_s_time(api, functions, outbox):
    # GIVEN a customer on a test clock frozen at 2031-05-14 12:00 UTC, without credits
    frozen = 1_936_699_200
    clock = ok(api.post("/v1/test_helpers/test_clocks", {"frozen_time": frozen}))
    cus = ok(api.post("/v1/customers", {"name": "Clocked", "test_clock": clock["id"]}))["id"]
    # WHEN a rule is created THEN its top-up invoice and event are at the clock's time
    r = ok(rule(api, cus))
    assert r["created"] == frozen
    (inv,) = invoices(api, cus)
    assert (inv["created"], inv["test_clock"], inv["total"]) == (frozen, clock["id"], 2000)
    (started,) = events(api.account.id, STARTED)
    assert started["created"] == frozen
    # AND once paid, the grant is effective at the clock's time
    ok(api.post(f"/v1/invoices/{inv['id']}/pay", {"paid_out_of_band": "true"}))
    settle(outbox, functions)
    (g,) = grants(api, cus)
    assert (g["effective_at"], g["test_clock"], g["amount"]["monetary"]["value"]) == (
        frozen,
        clock["id"],
        2000,
    )


def test_a_top_up_invoice_paid_at_zero_grants_nothing_and_is_settled(api, functions, outbox):
    # GIVEN a rule whose top-up invoice a crash left as an empty draft (held back: no line yet)
    cus = customer(api)
    from tally.billing import invoice_items

    with pytest.MonkeyPatch.context() as mp:

        def crash(*args: Any, **kwargs: Any) -> None:
            raise support.InjectedCrash("the item's write")

        mp.setattr(invoice_items, "create", crash)
        with pytest.raises(support.InjectedCrash):
            _rule_and_crash(api, cus)
    (inv,) = invoices(api, cus)
    assert (inv["status"], inv["total"]) == ("draft", 0)
    # WHEN someone pays the empty draft (Stripe finalizes it first: a 0 invoice)
    ok(api.post(f"/v1/invoices/{inv['id']}/pay", {"paid_out_of_band": "true"}))
    settle(outbox, functions)
    credit_evaluation.evaluate(api.account.id, cus, Clock.system())
    # THEN no grant, and the top-up is settled (nothing in flight)
    assert grants(api, cus) == []
    r = ok(api.get(RULES, {"customer": cus}))["data"][0]
    assert ok(api.get(f"{RULES}/{r['id']}"))["pending_invoice"] is None


def _rule_and_crash(api: support.Api, cus: str) -> None:
    from tally.billing import top_up_rules
    from tally.billing.top_up_rules import RuleSpec

    top_up_rules.create(api.account.id, RuleSpec(cus, "usd", 500, amount=2000), Clock.system())
