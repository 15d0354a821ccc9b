"""The v2 billing events Stripe documents (stripe-v2-pricing-plans.md §3.3, §9.1, §11.3), written as
thin events (`related_object`, no snapshot) in the change's own transaction: the catalog's
(`pricing_plan.*`, `pricing_plan_component.*`, `pricing_plan_version.created`), the cadence's
(`created`, `canceled`, `billed` at its tick), and a pricing plan subscription's servicing events,
each exactly once at its instant — at commit, from the schedule's due index, or by a test clock's
advance — whatever is injected (crashes, duplicate deliveries, two closes)."""

from __future__ import annotations

import json
from typing import Any

import support
from test_cadence_ticks import HOUR, Flow, bill, close, queued

from tally.clock import Clock
from tally.domain.intents import PlanSubscription
from tally.store import objects

PLANS = "/v2/billing/pricing_plans"
ACTIVATED = "v2.billing.pricing_plan_subscription.servicing_activated"
CANCELED = "v2.billing.pricing_plan_subscription.servicing_canceled"


def ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


def v2(account: str, prefix: str = "v2.") -> list[dict[str, Any]]:
    """The account's v2 events, oldest first."""
    return [e for e in reversed(support.stored_events(account)) if e["type"].startswith(prefix)]


def kinds(account: str, prefix: str = "v2.") -> list[tuple[str, str]]:
    return [(e["type"], e["related_object"]["id"]) for e in v2(account, prefix)]


# -- the catalog ------------------------------------------------------------------------------------
def test_the_catalog_records_stripes_pricing_plan_events(api):
    # GIVEN a plan WHEN it is created THEN the plan and its first version are announced
    plan = ok(api.post(PLANS, json={"currency": "usd", "display_name": "P", "tax_behavior": "exclusive"}))
    first = ok(api.get(f"{PLANS}/{plan['id']}/versions"))["data"][0]["id"]
    assert kinds(api.account.id) == [
        ("v2.billing.pricing_plan.created", plan["id"]),
        ("v2.billing.pricing_plan_version.created", first),
    ]
    event = v2(api.account.id)[0]
    assert event["related_object"] == {
        "id": plan["id"],
        "type": "v2.billing.pricing_plan",
        "url": f"{PLANS}/{plan['id']}",
    }
    assert event["data"]["object"] == {"id": plan["id"], "object": "v2.billing.pricing_plan"}
    # WHEN a rate card joins (no version), a license fee joins (a version), a component's lookup key
    # changes, the plan goes live and a component is removed (a version)
    card = ok(
        api.post(
            "/v2/billing/rate_cards",
            json={
                "currency": "usd",
                "display_name": "C",
                "service_interval": "month",
                "service_interval_count": 1,
                "tax_behavior": "exclusive",
            },
        )
    )["id"]
    item = ok(api.post("/v2/billing/licensed_items", json={"display_name": "Seat"}))["id"]
    fee = ok(
        api.post(
            "/v2/billing/license_fees",
            json={
                "currency": "usd",
                "display_name": "Seat",
                "licensed_item": item,
                "service_interval": "month",
                "service_interval_count": 1,
                "tax_behavior": "exclusive",
                "unit_amount": "500",
            },
        )
    )["id"]
    before = len(v2(api.account.id))
    rc = ok(
        api.post(f"{PLANS}/{plan['id']}/components", json={"type": "rate_card", "rate_card": {"id": card}})
    )
    lf = ok(
        api.post(f"{PLANS}/{plan['id']}/components", json={"type": "license_fee", "license_fee": {"id": fee}})
    )
    ok(api.post(f"{PLANS}/{plan['id']}/components/{rc['id']}", json={"lookup_key": "calls"}))
    ok(api.post(f"{PLANS}/{plan['id']}", json={"live_version": "latest"}))
    assert api.delete(f"{PLANS}/{plan['id']}/components/{rc['id']}").status == 200
    third = ok(api.get(f"{PLANS}/{plan['id']}/versions"))["data"][0]["id"]
    # THEN each is announced once, in order, and nothing for billable items, rate cards or fees
    assert kinds(api.account.id)[before:] == [
        ("v2.billing.pricing_plan_component.created", rc["id"]),
        ("v2.billing.pricing_plan_version.created", lf["pricing_plan_version"]),
        ("v2.billing.pricing_plan_component.created", lf["id"]),
        ("v2.billing.pricing_plan_component.updated", rc["id"]),
        ("v2.billing.pricing_plan.updated", plan["id"]),
        ("v2.billing.pricing_plan_version.created", third),
    ]
    component = v2(api.account.id)[before]["related_object"]
    assert component["url"] == f"{PLANS}/{plan['id']}/components/{rc['id']}"
    version = v2(api.account.id)[before + 1]["related_object"]
    assert version == {
        "id": lf["pricing_plan_version"],
        "type": "v2.billing.pricing_plan_version",
        "url": f"{PLANS}/{plan['id']}/versions/{lf['pricing_plan_version']}",
    }
    # AND an update that changes nothing announces nothing
    ok(api.post(f"{PLANS}/{plan['id']}", json={}))
    assert len(v2(api.account.id)) == before + 6


def test_a_crash_in_a_catalog_change_writes_neither_the_change_nor_its_event(api):
    body = {"currency": "usd", "display_name": "P", "tax_behavior": "exclusive"}
    with support.TransactionCrash(at=1):
        assert api.post(PLANS, json=body).status == 500
    assert v2(api.account.id) == [] and ok(api.get(PLANS))["data"] == []


def test_webhook_endpoints_may_enable_the_v2_types(api):
    types = ["v2.billing.cadence.billed", ACTIVATED, "v2.billing.pricing_plan.created"]
    url = "http://127.0.0.1:9/hook"
    ok(api.post("/v1/webhook_endpoints", {"url": url, "enabled_events": types}))


# -- the cadence ------------------------------------------------------------------------------------
def test_a_cadence_is_announced_when_created_billed_at_each_tick_once_and_canceled(functions, api):
    queued(api.account.id)
    flow = Flow(api)
    created = [e for e in v2(api.account.id, "v2.billing.cadence.")]
    assert [(e["type"], e["related_object"]["id"]) for e in created] == [
        ("v2.billing.cadence.created", flow.cadence)
    ]
    assert created[0]["related_object"]["url"] == f"/v2/billing/cadences/{flow.cadence}"
    # WHEN the tick is sent twice (overlapping closes) and delivered twice
    close(functions, flow.tick + HOUR + 60)
    close(functions, flow.tick + HOUR + 61)
    records = [r for r in queued(flow.account) if json.loads(r["body"])["kind"] == "cadence_tick"]
    assert bill(functions, [*records, {**records[0], "messageId": "again"}]) == []
    # THEN one billed event, naming the tick's invoice
    (inv,) = flow.invoices()
    billed = [e for e in v2(api.account.id) if e["type"] == "v2.billing.cadence.billed"]
    assert len(billed) == 1
    assert billed[0]["data"]["invoices"] == [inv.id]
    assert billed[0]["related_object"]["id"] == flow.cadence
    # AND the cancel is announced once
    ok(api.post(f"/v2/billing/cadences/{flow.cadence}/cancel", json={}))
    assert kinds(api.account.id, "v2.billing.cadence.canceled") == [
        ("v2.billing.cadence.canceled", flow.cadence)
    ]


def test_a_crash_in_the_tick_transaction_writes_no_billed_event_and_the_retry_writes_one(functions, api):
    queued(api.account.id)
    flow = Flow(api)
    close(functions, flow.tick + HOUR + 60)
    records = [r for r in queued(flow.account) if json.loads(r["body"])["kind"] == "cadence_tick"]
    with support.TransactionCrash(at=1):
        assert bill(functions, records) == [records[0]["messageId"]]
    assert kinds(api.account.id, "v2.billing.cadence.billed") == []
    assert bill(functions, records) == []
    assert len(kinds(api.account.id, "v2.billing.cadence.billed")) == 1


# -- a subscription's servicing ---------------------------------------------------------------------
def _servicing(account: str) -> list[tuple[str, str, int]]:
    return [
        (e["type"], e["related_object"]["id"], e["created"])
        for e in v2(account, "v2.billing.pricing_plan_subscription.")
    ]


def _sub_of(flow: Flow) -> str:
    (sub,) = ok(flow.api.get("/v2/billing/pricing_plan_subscriptions", {"billing_cadence": flow.cadence}))[
        "data"
    ]
    return str(sub["id"])


def _intent(flow: Flow, action: dict[str, Any]) -> None:
    made = ok(
        flow.api.post(
            "/v2/billing/intents", json={"currency": "usd", "cadence": flow.cadence, "actions": [action]}
        )
    )
    ok(flow.api.post(f"/v2/billing/intents/{made['id']}/reserve", json={}))
    ok(flow.api.post(f"/v2/billing/intents/{made['id']}/commit", json={}))


def _deactivate(flow: Flow, sub: str, effective: dict[str, Any]) -> None:
    details = {"pricing_plan_subscription": sub}
    _intent(
        flow,
        {
            "type": "deactivate",
            "deactivate": {
                "type": "pricing_plan_subscription_details",
                "pricing_plan_subscription_details": details,
                "effective_at": effective,
            },
        },
    )


def test_an_activation_at_commit_is_announced_in_the_commit(functions, api):
    # GIVEN a subscription made effective at the start of the billing period (already passed)
    queued(api.account.id)
    flow = Flow(api)
    sub = _sub_of(flow)
    # THEN its activation was written with the commit, once, related to the subscription
    ((kind, about, _),) = _servicing(api.account.id)
    assert (kind, about) == (ACTIVATED, sub)
    event = v2(api.account.id, ACTIVATED)[0]
    assert event["related_object"]["url"] == f"/v2/billing/pricing_plan_subscriptions/{sub}"
    assert event["data"]["object"]["customer"] == flow.customer
    # AND the close sends nothing more for it
    close(functions, flow.tick + HOUR + 60)
    assert [r for r in queued(flow.account) if json.loads(r["body"])["kind"] == "plan_subscription_due"] == []


def test_a_cancel_to_come_is_announced_once_at_its_instant_from_the_due_index(functions, api):
    queued(api.account.id)
    flow = Flow(api)
    sub = _sub_of(flow)
    when = flow.tick + 600  # ten minutes after the first tick
    _deactivate(flow, sub, {"type": "timestamp", "timestamp": _rfc(when)})
    # WHEN the close runs before the instant THEN nothing is due
    close(functions, when - 1)
    assert [r for r in queued(flow.account) if json.loads(r["body"])["kind"] == "plan_subscription_due"] == []
    # WHEN two closes run after it and each message is delivered twice, one crashing once
    close(functions, when + 30)
    close(functions, when + 31)
    records = [r for r in queued(flow.account) if json.loads(r["body"])["kind"] == "plan_subscription_due"]
    assert len(records) == 2
    with support.TransactionCrash(at=1):
        assert bill(functions, records[:1]) == [records[0]["messageId"]]
    assert [k for k, _, _ in _servicing(api.account.id)] == [ACTIVATED]
    assert bill(functions, [*records, {**records[0], "messageId": "again"}]) == []
    # THEN one cancel event, at the close that found it due
    assert [(k, s) for k, s, _ in _servicing(api.account.id)] == [(ACTIVATED, sub), (CANCELED, sub)]
    record = objects.get(api.account.id, sub, PlanSubscription, Clock.at(when))
    assert record.announced == "canceled" and record.due_at is None
    close(functions, when + 3600)
    assert [r for r in queued(flow.account) if json.loads(r["body"])["kind"] == "plan_subscription_due"] == []


def _rfc(instant: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(instant, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_on_a_test_clock_the_advance_announces_activation_and_cancel_at_their_instants(functions, api):
    import time

    from test_cadence_invoices import World

    day = 86_400
    frozen = int(time.time()) // day * day  # today (events are kept 30 days from their `created`)
    world = World(api, functions, frozen, {"type": "month", "month": {"day_of_month": 1}})
    card = world.rate_card(
        "month", 1, [{"metered_item": world.metered_item("svc_calls"), "unit_amount": "1"}]
    )
    world.component("rate_card", card["id"])
    world.go_live()
    start = frozen + 9 * day + 3600
    sub = world.subscribe(effective_at={"type": "timestamp", "timestamp": _rfc(start)})
    assert _servicing(api.account.id) == []  # pending: nothing yet
    # WHEN the clock passes the activation THEN one event, stamped at the instant
    world.advance(start - 1)
    assert _servicing(api.account.id) == []
    world.advance(frozen + 20 * day)
    assert _servicing(api.account.id) == [(ACTIVATED, sub, start)]
    # AND a cancel to come is announced when the clock reaches it, once (two advances past it)
    end = frozen + 25 * day + 7
    details = {"pricing_plan_subscription": sub}
    world.intent(
        {
            "type": "deactivate",
            "deactivate": {
                "type": "pricing_plan_subscription_details",
                "pricing_plan_subscription_details": details,
                "effective_at": {"type": "timestamp", "timestamp": _rfc(end)},
            },
        }
    )
    world.advance(end - 1)
    assert len(_servicing(api.account.id)) == 1
    world.advance(end + day)
    world.advance(end + 2 * day)
    assert _servicing(api.account.id) == [(ACTIVATED, sub, start), (CANCELED, sub, end)]


def test_a_commit_too_large_for_its_events_leaves_them_to_the_due_index(functions, api, monkeypatch):
    # GIVEN a commit whose servicing events would not fit in its transaction (ten subscribes at
    # once: here forced), WHEN it commits THEN it writes none and leaves `announced` pending
    from tally.billing import plan_servicing
    from tally.store import transactions

    queued(api.account.id)
    real = transactions.fits
    monkeypatch.setattr(plan_servicing.transactions, "fits", lambda writes: False)
    flow = Flow(api)
    monkeypatch.setattr(plan_servicing.transactions, "fits", real)
    sub = _sub_of(flow)
    assert _servicing(api.account.id) == []
    record = objects.get(api.account.id, sub, PlanSubscription, Clock.at(flow.tick))
    assert record.announced == "pending" and record.due_at == record.activated_at
    # AND the next close announces it once (its instant has passed)
    close(functions, flow.start + 60)
    records = [r for r in queued(flow.account) if json.loads(r["body"])["kind"] == "plan_subscription_due"]
    assert len(records) == 1
    assert bill(functions, [*records, {**records[0], "messageId": "again"}]) == []
    assert [(k, s) for k, s, _ in _servicing(api.account.id)] == [(ACTIVATED, sub)]
