"""Hostile input to a cadence's invoices (branch cadence): `create_preview` with `billing_cadence`,
and intents whose components' service intervals exceed the cadence's billing interval. Each bad
request is a Stripe error with the right status and param, and changes nothing."""

from __future__ import annotations

import pytest
import support

PREVIEW = "/v1/invoices/create_preview"
PLANS = "/v2/billing/pricing_plans"


def _cadence(api: support.Api, cycle: dict) -> tuple[str, str]:
    customer = api.post("/v1/customers", {"name": "Ada"}).json["id"]
    profile = api.post("/v2/billing/profiles", json={"customer": customer}).json["id"]
    cadence = api.post(
        "/v2/billing/cadences", json={"billing_cycle": cycle, "payer": {"billing_profile": profile}}
    )
    assert cadence.status == 200, cadence.text
    return customer, cadence.json["id"]


def _invoices(api: support.Api) -> list[str]:
    return [i["id"] for i in api.get("/v1/invoices", {"limit": 100}).json["data"]]


@pytest.fixture
def cadence(api):
    return _cadence(api, {"type": "month"})


def test_previews_of_bad_cadences_are_400s(api, other_account, functions, cadence):
    customer, cadence_id = cadence
    other = support.Api(functions, other_account)
    _, foreign = _cadence(other, {"type": "month"})
    sub = "sub_" + "x" * 20
    cases = [
        ({"billing_cadence": "bc_missing"}, "billing_cadence", "resource_missing"),
        ({"billing_cadence": foreign}, "billing_cadence", "resource_missing"),  # another account's
        ({"billing_cadence": "x" * 256}, "billing_cadence", None),
        ({"billing_cadence": [cadence_id]}, "billing_cadence", None),
        ({"billing_cadence": {"id": cadence_id}}, "billing_cadence", None),
        ({"billing_cadence": cadence_id, "subscription": sub}, "billing_cadence", None),
        ({"billing_cadence": cadence_id, "customer": "cus_other"}, "customer", None),
    ]
    before = _invoices(api)
    for params, param, code in cases:
        answer = api.post(PREVIEW, params)
        expected = {"param": param, **({"code": code} if code else {})}
        support.assert_stripe_error(answer.status, answer.json, 400, **expected)
    assert _invoices(api) == before
    # the good one answers an (empty) preview of the cadence's next tick
    fine = api.post(PREVIEW, {"billing_cadence": cadence_id, "customer": customer})
    assert fine.status == 200 and fine.json["total"] == 0 and fine.json["lines"]["data"] == []


def test_a_canceled_cadence_previews_its_last_tick_then_none(api, cadence):
    from tally.billing import cadence_invoices
    from tally.clock import Clock

    _, cadence_id = cadence
    assert api.post(f"/v2/billing/cadences/{cadence_id}/cancel", json={}).status == 200
    last = api.post(PREVIEW, {"billing_cadence": cadence_id})
    assert last.status == 200 and last.json["auto_advance"] is False
    # once that last tick is billed, nothing is upcoming
    tick = last.json["period_end"]
    assert (
        cadence_invoices.bill_tick(api.account.id, cadence_id, None, Clock.at(tick + 3600)).outcome
        == "billed"
    )
    answer = api.post(PREVIEW, {"billing_cadence": cadence_id})
    support.assert_stripe_error(answer.status, answer.json, 400, param="billing_cadence")


@pytest.mark.parametrize(
    ("cycle", "service"),
    [
        ({"type": "week"}, ("month", 1)),
        ({"type": "month"}, ("month", 2)),
        ({"type": "month"}, ("day", 30)),  # longer than February
        ({"type": "day", "interval_count": 6}, ("week", 1)),
    ],
)
def test_a_service_interval_longer_than_the_billing_interval_is_refused(api, cycle, service):
    _, cadence_id = _cadence(api, cycle)
    item = api.post("/v2/billing/licensed_items", json={"display_name": "Seat"}).json["id"]
    fee = api.post(
        "/v2/billing/license_fees",
        json={
            "currency": "usd",
            "display_name": "Seat",
            "licensed_item": item,
            "service_interval": service[0],
            "service_interval_count": service[1],
            "tax_behavior": "exclusive",
            "unit_amount": "100",
        },
    ).json["id"]
    plan = api.post(PLANS, json={"currency": "usd", "display_name": "P", "tax_behavior": "exclusive"}).json[
        "id"
    ]
    api.post(f"{PLANS}/{plan}/components", json={"type": "license_fee", "license_fee": {"id": fee}})
    api.post(f"{PLANS}/{plan}", json={"live_version": "latest"})
    before = api.get("/v2/billing/intents").json["data"]
    answer = api.post(
        "/v2/billing/intents",
        json={
            "currency": "usd",
            "cadence": cadence_id,
            "actions": [
                {
                    "type": "subscribe",
                    "subscribe": {
                        "type": "pricing_plan_subscription_details",
                        "pricing_plan_subscription_details": {"pricing_plan": plan},
                    },
                }
            ],
        },
    )
    support.assert_stripe_error(answer.status, answer.json, 400, param="actions[0]")
    assert api.get("/v2/billing/intents").json["data"] == before
