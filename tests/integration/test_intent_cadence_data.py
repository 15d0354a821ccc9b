"""An intent with `cadence_data` creates its cadence at commit — in the commit's transaction,
exactly once, whatever crashes — and then shows it; license fee components named by `lookup_key`
in `component_configurations` (issue 14 point 3)."""

from __future__ import annotations

import support
from test_cadence_invoices import World, lines, ok, ts

JAN, FEB = ts(2026, 1, 1), ts(2026, 2, 1)
INTENTS = "/v2/billing/intents"


def _cadences(api: support.Api) -> list[str]:
    return [c["id"] for c in ok(api.get("/v2/billing/cadences", {"limit": 100}))["data"]]


def _subscriptions(api: support.Api) -> list[dict]:
    return ok(api.get("/v2/billing/pricing_plan_subscriptions", {"limit": 100}))["data"]


def _world(api: support.Api, functions: support.Functions) -> tuple[World, str]:
    """A customer on a test clock with a plan (a 20.00 monthly fee, component lookup key
    `seats`), and a billing profile but no cadence of its own yet."""
    w = World(api, functions, JAN, {"type": "month", "month": {"day_of_month": 1}})
    fee = w.license_fee("month", 1, "2000")
    component = w.component("license_fee", fee)
    ok(
        api.post(
            f"/v2/billing/pricing_plans/{w.plan}/components/{component['id']}", json={"lookup_key": "seats"}
        )
    )
    w.go_live()
    profile = ok(api.post("/v2/billing/profiles", json={"customer": w.customer}))["id"]
    return w, profile


def _body(w: World, payer: dict, quantity: int = 3) -> dict:
    return {
        "currency": "usd",
        "cadence_data": {"billing_cycle": {"type": "month", "month": {"day_of_month": 1}}, "payer": payer},
        "actions": [
            {
                "type": "subscribe",
                "subscribe": {
                    "type": "pricing_plan_subscription_details",
                    "pricing_plan_subscription_details": {
                        "pricing_plan": w.plan,
                        "component_configurations": [{"lookup_key": "seats", "quantity": quantity}],
                    },
                },
            }
        ],
    }


def test_cadence_data_creates_the_cadence_at_commit_and_the_intent_then_shows_it(api, functions):
    # GIVEN a plan whose fee component has the lookup key `seats`, and a customer's profile
    w, profile = _world(api, functions)
    before = _cadences(api)
    # WHEN an intent is created with cadence_data (3 seats named by lookup key)
    draft = ok(api.post(INTENTS, json=_body(w, {"billing_profile": profile})))
    # THEN no cadence exists yet: the intent shows cadence_data, its cadence is null
    assert draft["cadence"] is None and _cadences(api) == before
    assert draft["cadence_data"]["payer"] == {"billing_profile": profile}
    assert draft["cadence_data"]["billing_cycle"]["month"]["day_of_month"] == 1
    reserved = ok(api.post(f"{INTENTS}/{draft['id']}/reserve", json={}))
    assert reserved["amount_details"]["amount_due"] == "6000"  # 3 seats × 20.00
    assert reserved["cadence"] is None and _cadences(api) == before
    # WHEN it commits THEN the cadence exists, once, and the intent names it
    committed = ok(api.post(f"{INTENTS}/{draft['id']}/commit", json={}))
    (made,) = set(_cadences(api)) - set(before)
    assert committed["cadence"] == made
    assert ok(api.get(f"{INTENTS}/{draft['id']}"))["cadence"] == made
    cadence = ok(api.get(f"/v2/billing/cadences/{made}"))
    assert cadence["payer"]["billing_profile"] == profile and cadence["test_clock"] == w.clock
    (sub,) = _subscriptions(api)
    assert sub["billing_cadence"] == made
    # AND the cadence bills: the commit collected January's 3 seats; February's on March 1
    w.cadence = made
    w.advance(ts(2026, 3, 1, 2))
    commit, mar = w.invoices()  # February 1 billed nothing: no invoice
    assert commit["total"] == 6000 and commit["parent"]["billing_cadence_details"]["billing_cadence"] == made
    assert lines(mar) == [(FEB, ts(2026, 3, 1), "license_fee_details", 3, 6000)]


def test_cadence_data_with_billing_profile_data_creates_the_profile_too(api, functions):
    w, _ = _world(api, functions)
    profiles = ok(api.get("/v2/billing/profiles", {"customer": w.customer}))["data"]
    draft = ok(api.post(INTENTS, json=_body(w, {"billing_profile_data": {"customer": w.customer}})))
    ok(api.post(f"{INTENTS}/{draft['id']}/reserve", json={}))
    assert ok(api.get("/v2/billing/profiles", {"customer": w.customer}))["data"] == profiles
    committed = ok(api.post(f"{INTENTS}/{draft['id']}/commit", json={}))
    after = ok(api.get("/v2/billing/profiles", {"customer": w.customer}))["data"]
    (new,) = [p for p in after if p["id"] not in {q["id"] for q in profiles}]
    cadence = ok(api.get(f"/v2/billing/cadences/{committed['cadence']}"))
    assert cadence["payer"]["billing_profile"] == new["id"] and new["customer"] == w.customer


def test_a_crash_in_the_commit_writes_nothing_and_the_retry_creates_the_cadence_once(api, functions):
    # GIVEN a reserved intent with cadence_data
    w, profile = _world(api, functions)
    draft = ok(api.post(INTENTS, json=_body(w, {"billing_profile": profile})))
    ok(api.post(f"{INTENTS}/{draft['id']}/reserve", json={}))
    before = _cadences(api)
    # WHEN the commit's one transaction fails (crash point 1: in it or before it)
    with support.TransactionCrash(at=1) as crash:
        failed = api.post(f"{INTENTS}/{draft['id']}/commit", json={})
    assert crash.calls == 1 and failed.status >= 500
    # THEN nothing was written: no cadence, no subscription, the intent still reserved
    assert _cadences(api) == before and _subscriptions(api) == []
    assert ok(api.get(f"{INTENTS}/{draft['id']}"))["status"] == "reserved"
    # WHEN it is retried THEN one cadence, one subscription; crash point 2 (after the
    # transaction, the answer lost): a second commit is a 400 and writes nothing
    ok(api.post(f"{INTENTS}/{draft['id']}/commit", json={}))
    again = api.post(f"{INTENTS}/{draft['id']}/commit", json={})
    support.assert_stripe_error(again.status, again.json, 400, code="invalid_status_for_commit")
    assert len(set(_cadences(api)) - set(before)) == 1 and len(_subscriptions(api)) == 1
    invoices = ok(api.get("/v1/invoices", {"customer": w.customer}))["data"]
    assert [i["total"] for i in invoices] == [6000]


def test_a_modify_names_components_by_lookup_key(api, functions):
    # GIVEN a subscriber with 3 seats (by lookup key) on an existing cadence
    w, _ = _world(api, functions)
    body = _body(w, {})
    del body["cadence_data"]
    body["cadence"] = w.cadence
    draft = ok(api.post(INTENTS, json=body))
    ok(api.post(f"{INTENTS}/{draft['id']}/reserve", json={}))
    ok(api.post(f"{INTENTS}/{draft['id']}/commit", json={}))
    sub = _subscriptions(api)[0]["id"]
    # WHEN a modify on February 1 sets 5 seats by the same lookup key
    w.intent(
        {
            "type": "modify",
            "modify": {
                "type": "pricing_plan_subscription_details",
                "pricing_plan_subscription_details": {
                    "pricing_plan_subscription": sub,
                    "component_configurations": [{"lookup_key": "seats", "quantity": 5}],
                },
                "effective_at": {"type": "timestamp", "timestamp": "2026-02-01T00:00:00.000Z"},
            },
        }
    )
    w.advance(ts(2026, 3, 1, 2))
    # THEN February's fee (billed March 1) is 5 seats; January's 3 were collected at commit
    commit, mar = w.invoices()  # February 1 billed nothing: no invoice
    assert commit["total"] == 6000
    assert lines(mar) == [(FEB, ts(2026, 3, 1), "license_fee_details", 5, 10_000)]
    actions = ok(api.get(f"{INTENTS}/{draft['id']}/actions"))["data"]
    configured = actions[0]["subscribe"]["pricing_plan_subscription_details"]["component_configurations"]
    assert configured == [{"lookup_key": "seats", "quantity": 3}]
