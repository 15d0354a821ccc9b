"""Hostile input to billing intents' new parameters (branch intents): `cadence_data`, partial-period
`overrides`, `component_configurations[].lookup_key`, and the actions still not served (`apply`,
`remove`, `v1_subscription_details`). Each bad request is a 400 in Stripe's envelope naming its
param, and changes nothing: no intent, cadence, profile or subscription appears."""

from __future__ import annotations

from typing import Any

import pytest
import support

INTENTS = "/v2/billing/intents"
PLANS = "/v2/billing/pricing_plans"
CYCLE = {"type": "month", "month": {"day_of_month": 1}}


def _ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


@pytest.fixture
def world(api) -> dict[str, str]:
    customer = _ok(api.post("/v1/customers", {"name": "Ada"}))["id"]
    profile = _ok(api.post("/v2/billing/profiles", json={"customer": customer}))["id"]
    cadence = _ok(
        api.post("/v2/billing/cadences", json={"billing_cycle": CYCLE, "payer": {"billing_profile": profile}})
    )["id"]
    item = _ok(api.post("/v2/billing/licensed_items", json={"display_name": "Seats"}))["id"]
    fee = _ok(
        api.post(
            "/v2/billing/license_fees",
            json={
                "currency": "usd",
                "display_name": "Seat",
                "licensed_item": item,
                "service_interval": "month",
                "service_interval_count": 1,
                "tax_behavior": "exclusive",
                "unit_amount": "1000",
            },
        )
    )["id"]
    plan = _ok(api.post(PLANS, json={"currency": "usd", "display_name": "P", "tax_behavior": "exclusive"}))[
        "id"
    ]
    component = _ok(
        api.post(
            f"{PLANS}/{plan}/components",
            json={"type": "license_fee", "license_fee": {"id": fee}, "lookup_key": "seats"},
        )
    )["id"]
    _ok(api.post(f"{PLANS}/{plan}", json={"live_version": "latest"}))
    return {
        "customer": customer,
        "profile": profile,
        "cadence": cadence,
        "plan": plan,
        "component": component,
    }


def _subscribe(w: dict[str, str], **details: Any) -> dict[str, Any]:
    return {
        "type": "subscribe",
        "subscribe": {
            "type": "pricing_plan_subscription_details",
            "pricing_plan_subscription_details": {"pricing_plan": w["plan"], **details},
        },
    }


def _state(api: support.Api) -> tuple:
    return tuple(
        tuple(x["id"] for x in _ok(api.get(path, {"limit": 100}))["data"])
        for path in (INTENTS, "/v2/billing/cadences", "/v2/billing/pricing_plan_subscriptions")
    )


def _refused(api: support.Api, bodies: list[tuple[dict[str, Any], str | None]]) -> None:
    before = _state(api)
    for body, param in bodies:
        answer = api.post(INTENTS, json=body)
        support.assert_stripe_error(answer.status, answer.json, 400, param=param)
    assert _state(api) == before


def test_bad_cadence_data_is_refused(api, other_account, world):
    w = world
    foreign_customer = _ok(api.as_(other_account).post("/v1/customers", {"name": "Eve"}))["id"]
    foreign = _ok(api.as_(other_account).post("/v2/billing/profiles", json={"customer": foreign_customer}))[
        "id"
    ]

    def body(data: Any, **extra: Any) -> dict[str, Any]:
        return {"currency": "usd", "cadence_data": data, "actions": [_subscribe(w)], **extra}

    good_payer = {"billing_profile": w["profile"]}
    cd = "cadence_data"
    _refused(
        api,
        [
            (body({"billing_cycle": CYCLE, "payer": good_payer}, cadence=w["cadence"]), "cadence"),
            ({"currency": "usd", "actions": [_subscribe(w)]}, "cadence"),
            (body("bc_123"), cd),
            (body(["x"]), cd),
            (body({"payer": good_payer}), f"{cd}[billing_cycle]"),
            (
                body({"billing_cycle": {"type": "fortnight"}, "payer": good_payer}),
                f"{cd}[billing_cycle][type]",
            ),
            (body({"billing_cycle": CYCLE}), f"{cd}[payer]"),
            (body({"billing_cycle": CYCLE, "payer": {}}), f"{cd}[payer][billing_profile]"),
            (
                body(
                    {
                        "billing_cycle": CYCLE,
                        "payer": {
                            "billing_profile": w["profile"],
                            "billing_profile_data": {"customer": w["customer"]},
                        },
                    }
                ),
                f"{cd}[payer][billing_profile]",
            ),
            (body({"billing_cycle": CYCLE, "payer": {"billing_profile": "bprof_nope"}}), None),
            (body({"billing_cycle": CYCLE, "payer": {"billing_profile": foreign}}), None),
            (body({"billing_cycle": CYCLE, "payer": {"billing_profile": "x" * 300}}), None),
            (body({"billing_cycle": CYCLE, "payer": {"billing_profile": 42}}), None),
            (
                body({"billing_cycle": CYCLE, "payer": {"billing_profile_data": {"customer": "cus_nope"}}}),
                None,
            ),
            (body({"billing_cycle": CYCLE, "payer": {"billing_profile_data": {}}}), None),
            (
                body(
                    {
                        "billing_cycle": CYCLE,
                        "payer": {
                            "billing_profile_data": {
                                "customer": w["customer"],
                                "default_payment_method": "pm_1",
                            }
                        },
                    }
                ),
                f"{cd}[payer][billing_profile_data][default_payment_method]",
            ),
            (
                body({"billing_cycle": CYCLE, "payer": good_payer, "settings": {"bill": {"id": "x"}}}),
                f"{cd}[settings]",
            ),
            (body({"billing_cycle": CYCLE, "payer": good_payer, "lookup_key": "k"}), f"{cd}[lookup_key]"),
            (
                body({"billing_cycle": CYCLE, "payer": {**good_payer, "type": "customer"}}),
                f"{cd}[payer][type]",
            ),
        ],
    )


def test_bad_partial_period_overrides_are_refused(api, world):
    w = world

    def with_overrides(kind: str, behaviors: Any, **details: Any) -> dict[str, Any]:
        ref = {"pricing_plan": w["plan"]} if kind == "subscribe" else {"pricing_plan_subscription": "bpps_x"}
        action = {
            "type": kind,
            kind: {
                "type": "pricing_plan_subscription_details",
                "pricing_plan_subscription_details": {
                    **ref,
                    "overrides": {"partial_period_behaviors": behaviors},
                    **details,
                },
            },
        }
        return {"currency": "usd", "cadence": w["cadence"], "actions": [action]}

    lf = "license_fee"
    path = "actions[0][{kind}][pricing_plan_subscription_details][overrides][partial_period_behaviors]"
    sub_path, mod_path, deact_path = (path.format(kind=k) for k in ("subscribe", "modify", "deactivate"))
    _refused(
        api,
        [
            (with_overrides("subscribe", "prorated"), sub_path),
            (with_overrides("subscribe", [{"type": "discount"}]), f"{sub_path}[0][type]"),
            (with_overrides("subscribe", [{"type": lf}]), f"{sub_path}[0][{lf}]"),
            (
                with_overrides("subscribe", [{"type": lf, lf: {"debit_proration_behavior": "maybe"}}]),
                f"{sub_path}[0][{lf}][debit_proration_behavior]",
            ),
            (  # a subscribe starts its intervals: it has no old fee to credit
                with_overrides("subscribe", [{"type": lf, lf: {"credit_proration_behavior": "none"}}]),
                f"{sub_path}[0][{lf}][credit_proration_behavior]",
            ),
            (
                with_overrides("modify", [{"type": lf, lf: {"debit_proration_behavior": 1}}]),
                f"{mod_path}[0][{lf}][debit_proration_behavior]",
            ),
            (
                with_overrides("modify", [{"type": lf, lf: {}}, {"type": lf, lf: {}}]),
                f"{mod_path}[1][type]",
            ),
            (with_overrides("modify", [{"type": lf, lf: {}}] * 3), mod_path),
            (
                with_overrides(
                    "modify",
                    [
                        {
                            "type": "recurring_credit_grant",
                            "recurring_credit_grant": {"create_behavior": "half"},
                        }
                    ],
                ),
                f"{mod_path}[0][recurring_credit_grant][create_behavior]",
            ),
            (
                with_overrides(
                    "deactivate", [{"type": "recurring_credit_grant", "recurring_credit_grant": {}}]
                ),
                f"{deact_path}[0][type]",
            ),
            (
                with_overrides("deactivate", [{"type": lf, lf: {"debit_proration_behavior": "prorated"}}]),
                f"{deact_path}[0][{lf}][debit_proration_behavior]",
            ),
            (
                with_overrides(
                    "subscribe", [{"type": lf, lf: {"debit_proration_behavior": "none"}, "extra": 1}]
                ),
                f"{sub_path}[0][extra]",
            ),
        ],
    )


def test_bad_component_configurations_and_unserved_actions_are_refused(api, world):
    w = world

    def configured(*configs: Any) -> dict[str, Any]:
        return {
            "currency": "usd",
            "cadence": w["cadence"],
            "actions": [_subscribe(w, component_configurations=list(configs))],
        }

    where = "actions[0][subscribe][pricing_plan_subscription_details][component_configurations]"
    _refused(
        api,
        [
            (configured({"quantity": 2}), None),
            (
                configured({"lookup_key": "seats", "pricing_plan_component": w["component"], "quantity": 2}),
                None,
            ),
            (configured({"lookup_key": "nope", "quantity": 2}), None),
            (configured({"lookup_key": "x" * 201, "quantity": 2}), f"{where}[0][lookup_key]"),
            (configured({"lookup_key": ["seats"], "quantity": 2}), f"{where}[0][lookup_key]"),
            (configured({"lookup_key": "seats", "quantity": -1}), f"{where}[0][quantity]"),
            (configured({"lookup_key": "seats"}, {"pricing_plan_component": w["component"]}), None),
            (
                {"currency": "usd", "cadence": w["cadence"], "actions": [{"type": "apply", "apply": {}}]},
                "actions[0].type",
            ),
            (
                {"currency": "usd", "cadence": w["cadence"], "actions": [{"type": "remove", "remove": {}}]},
                "actions[0].type",
            ),
            (
                {
                    "currency": "usd",
                    "cadence": w["cadence"],
                    "actions": [
                        {"type": "subscribe", "subscribe": {"v1_subscription_details": {"items": []}}}
                    ],
                },
                "actions[0].subscribe",
            ),
        ],
    )
