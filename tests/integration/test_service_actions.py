"""Issue 14 point 5 (branch `actions`): a service action grants credits at the start of each
service interval, expiring at its end, and the cadence invoice of that interval's usage (made at
the tick after it) really applies them. Point 8's first scenario, totals by hand."""

from __future__ import annotations

from typing import Any

import stripe_shapes
from test_cadence_invoices import World, lines, ok, ts

HOUR = 3600
JAN, FEB, MAR, APR = ts(2026, 1, 1), ts(2026, 2, 1), ts(2026, 3, 1), ts(2026, 4, 1)


def service_action(api, value: int = 500, **scope: Any) -> str:
    body = {
        "service_interval": "month",
        "service_interval_count": 1,
        "type": "credit_grant",
        "credit_grant": {
            "name": "Monthly credit",
            "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": value}},
            "applicability_config": {"scope": scope or {"price_type": "metered"}},
            "expiry_config": {"type": "end_of_service_period"},
            "category": "promotional",
            "priority": 10,
        },
    }
    return ok(api.post("/v2/billing/service_actions", json=body))["id"]


def ai_product(api, functions, scoped_to: str | None = None) -> tuple[World, dict[str, str]]:
    """The AI product: one token meter with a `model` dimension, model a at 2.00 per 1,000 tokens
    (rounded up), model b graduated per token (1.00 per 1,000 up to 100,000, 0.50 per 1,000
    beyond), a 20.00 monthly license fee and a 5.00 monthly service action credit; a monthly
    cadence on the 1st, on a test clock at 2026-01-01."""
    w = World(api, functions, JAN, {"type": "month", "month": {"day_of_month": 1}})
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {
                "display_name": "Tokens",
                "event_name": "ai_tokens",
                "default_aggregation": {"formula": "sum"},
                "dimension_payload_keys": ["model"],
            },
        )
    )["id"]
    items = {
        model: ok(
            api.post(
                "/v2/billing/metered_items",
                json={
                    "display_name": f"Model {model}",
                    "meter": meter,
                    "meter_segment_conditions": [{"dimension": "model", "value": model}],
                },
            )
        )["id"]
        for model in ("a", "b")
    }
    per_thousand = {
        "metered_item": items["a"],
        "unit_amount": "200",
        "transform_quantity": {"divide_by": 1000, "round": "up"},
    }
    graduated = {
        "metered_item": items["b"],
        "tiering_mode": "graduated",
        "tiers": [
            {"up_to_decimal": "100000", "unit_amount": "0.1"},
            {"up_to_inf": "inf", "unit_amount": "0.05"},
        ],
    }
    card = w.rate_card("month", 1, [per_thousand, graduated])
    w.component("rate_card", card["id"])
    w.component("license_fee", w.license_fee("month", 1, "2000"))
    scope = {"billable_items": [items[scoped_to]]} if scoped_to else {}
    w.component("service_action", service_action(api, **scope))
    w.go_live()
    return w, items


def tokens(w: World, model: str, value: int, at: int) -> None:
    payload = {"stripe_customer_id": w.customer, "value": str(value), "model": model}
    ok(
        w.api.post(
            "/v1/billing/meter_events", {"event_name": "ai_tokens", "timestamp": at, "payload": payload}
        )
    )


def grants(w: World) -> list[dict]:
    """The customer's credit grants, oldest first."""
    return ok(w.api.get("/v1/billing/credit_grants", {"customer": w.customer, "limit": 100}))["data"][::-1]


def ledger(w: World, grant: str) -> dict[str, int]:
    """A grant's ledger entries: the sum of each type."""
    page = ok(
        w.api.get(
            "/v1/billing/credit_balance_transactions",
            {"customer": w.customer, "credit_grant": grant, "limit": 100},
        )
    )["data"][::-1]
    out: dict[str, int] = {}
    for e in page:
        side = e["credit"] or e["debit"]
        out[side["type"]] = out.get(side["type"], 0) + side["amount"]["monetary"]["value"]
    return out


def credits_of(inv: dict) -> list[int]:
    return [c["amount"] for ln in inv["lines"]["data"] for c in ln["pretax_credit_amounts"]]


def test_an_ai_product_with_a_monthly_credit_over_three_months(api, functions):
    # GIVEN the AI product, subscribed on January 1 (January's fee collected at commit)
    w, _ = ai_product(api, functions)
    w.subscribe()
    # WHEN the customer uses the models for three months
    usage = {
        1: (12_345, 150_000),  # a: ⌈12.345⌉ = 13 × 200 = 2,600; b: 100,000 × 0.1 + 50,000 × 0.05 = 12,500
        2: (1_000, 80_000),  # a: 1 × 200 = 200; b (tiers reset): 80,000 × 0.1 = 8,000
        3: (0, 3_000),  # a: nothing, no line; b: 3,000 × 0.1 = 300 (less than the 5.00 credit)
    }
    for month, (a, b) in usage.items():
        w.advance(ts(2026, month, 20))
        if a:
            tokens(w, "a", a, ts(2026, month, 10))
        tokens(w, "b", b, ts(2026, month, 10))
    w.advance(ts(2026, 4, 1, 2))
    # THEN one 5.00 grant per service interval started (April's too), each effective at its start
    # and expiring at its end, as the service action says
    made = grants(w)
    assert [(g["effective_at"], g["expires_at"]) for g in made] == [
        (JAN, FEB),
        (FEB, MAR),
        (MAR, APR),
        (APR, ts(2026, 5, 1)),
    ]
    for g in made:
        assert stripe_shapes.problems(g) == [], stripe_shapes.problems(g)
        assert g["amount"] == {"type": "monetary", "monetary": {"currency": "usd", "value": 500}}
        assert g["applicability_config"] == {"scope": {"price_type": "metered"}}
        assert (g["category"], g["priority"], g["name"]) == ("promotional", 10, "Monthly credit")
        assert g["test_clock"] == w.clock and g["voided_at"] is None
    # AND four invoices: the commit's (January's fee: no credit on a license fee), then one per tick
    commit, feb, mar, apr = w.invoices()
    assert lines(commit) == [(JAN, FEB, "license_fee_details", 1, 2000)]
    assert commit["total"] == 2000 and credits_of(commit) == []
    # February 1: January's usage 15,100, less January's 5.00 credit on its first metered line
    assert sorted(lines(feb)) == sorted(
        [
            (JAN, FEB, "rate_card_rate_details", 13, 2600),
            (JAN, FEB, "rate_card_rate_details", 150_000, 12_500),
        ]
    )
    assert credits_of(feb) == [500]
    assert feb["lines"]["data"][0]["pretax_credit_amounts"][0]["amount"] == 500
    assert (feb["subtotal"], feb["total"], feb["amount_due"]) == (15_100, 14_600, 14_600)
    # March 1: February's fee 2,000 + usage 8,200, less February's credit (not January's: expired)
    assert sorted(lines(mar)) == sorted(
        [
            (FEB, MAR, "license_fee_details", 1, 2000),
            (FEB, MAR, "rate_card_rate_details", 1, 200),
            (FEB, MAR, "rate_card_rate_details", 80_000, 8000),
        ]
    )
    # lines are covered in the order they appear (ids order the two usage lines): a's 200 then
    # 300 of b's 8,000, or 500 of b's 8,000 first
    metered = [ln for ln in mar["lines"]["data"] if ln["pricing"]["type"] == "rate_card_rate_details"]
    expected = [200, 300] if metered[0]["amount"] == 200 else [500]
    assert credits_of(mar) == expected
    assert (mar["subtotal"], mar["total"]) == (10_200, 9700)
    # April 1: March's fee 2,000 + usage 300, covered by 300 of March's credit (never the fee)
    assert sorted(lines(apr)) == sorted(
        [(MAR, APR, "license_fee_details", 1, 2000), (MAR, APR, "rate_card_rate_details", 3000, 300)]
    )
    assert credits_of(apr) == [300]
    assert (apr["subtotal"], apr["total"]) == (2300, 2000)
    assert all(inv["status"] != "draft" for inv in (commit, feb, mar, apr))
    # each credit came from its own interval's grant, and what was left expired after the invoice
    assert ledger(w, made[0]["id"]) == {"credits_granted": 500, "credits_applied": 500}
    assert ledger(w, made[1]["id"]) == {"credits_granted": 500, "credits_applied": 500}
    assert ledger(w, made[2]["id"]) == {
        "credits_granted": 500,
        "credits_applied": 300,
        "credits_expired": 200,
    }
    assert ledger(w, made[3]["id"]) == {"credits_granted": 500}  # April's: still running


def test_a_billable_items_scope_covers_only_that_models_lines(api, functions):
    # GIVEN the monthly credit scoped to model a's metered item
    w, items = ai_product(api, functions, scoped_to="a")
    w.subscribe(collect_at="next_billing_date")
    w.advance(ts(2026, 1, 20))
    tokens(w, "a", 1_000, ts(2026, 1, 10))  # 1 × 200 = 200
    tokens(w, "b", 150_000, ts(2026, 1, 10))  # 10,000 + 2,500 = 12,500
    # WHEN January is invoiced
    w.advance(ts(2026, 2, 1, 2))
    # THEN January's grant is scoped to model a and covers its 2.00 only; the 3.00 left expires
    jan = grants(w)[0]
    assert jan["applicability_config"] == {"scope": {"billable_items": [{"id": items["a"]}]}}
    assert stripe_shapes.problems(jan) == [], stripe_shapes.problems(jan)
    (inv,) = w.invoices()
    covered = {
        ln["pricing"]["rate_card_rate_details"]["metered_item"]: [
            c["amount"] for c in ln["pretax_credit_amounts"]
        ]
        for ln in inv["lines"]["data"]
        if ln["pricing"]["type"] == "rate_card_rate_details"
    }
    assert covered == {items["a"]: [200], items["b"]: []}
    assert (inv["subtotal"], inv["total"]) == (2000 + 200 + 12_500, 2000 + 12_500)
    assert ledger(w, jan["id"]) == {"credits_granted": 500, "credits_applied": 200, "credits_expired": 300}


def test_a_modify_to_a_version_with_another_service_action_grants_from_its_start(api, functions):
    _modify_to_action_b(api, functions, overrides=None)


def test_a_modify_asking_create_behavior_none_grants_nothing_for_the_partial_period(api, functions):
    # GIVEN the same plans; WHEN the modify says `recurring_credit_grant.create_behavior: none`
    none = [{"type": "recurring_credit_grant", "recurring_credit_grant": {"create_behavior": "none"}}]
    # THEN no grant for February 15 – March 1, and February's calls pay what A does not cover
    _modify_to_action_b(api, functions, overrides={"partial_period_behaviors": none})


def _modify_to_action_b(api, functions, overrides):
    # GIVEN a plan (1.00 per call) whose live version has a 5.00 monthly action A, subscribed on
    # January 1; then a version with a 10.00 monthly action B instead of A
    w = World(api, functions, JAN, {"type": "month", "month": {"day_of_month": 1}})
    calls = w.metered_item("modify_calls")
    card = w.rate_card("month", 1, [{"metered_item": calls, "unit_amount": "100"}])
    w.component("rate_card", card["id"])
    a = w.component("service_action", service_action(api, 500))
    w.go_live()
    sub_id = w.subscribe(collect_at="next_billing_date")
    w.component("service_action", service_action(api, 1000))
    ok(api.delete(f"/v2/billing/pricing_plans/{w.plan}/components/{a['id']}"))
    v3 = w.go_live()
    # WHEN a modify moves the subscriber to it from February 15 (mid-interval)
    w.advance(ts(2026, 2, 10))
    w.intent(
        {
            "type": "modify",
            "modify": {
                "type": "pricing_plan_subscription_details",
                "pricing_plan_subscription_details": {
                    "pricing_plan_subscription": sub_id,
                    "new_pricing_plan_version": v3,
                    **({"overrides": overrides} if overrides else {}),
                },
                "effective_at": {"type": "timestamp", "timestamp": "2026-02-15T00:00:00.000Z"},
            },
        }
    )
    w.advance(ts(2026, 2, 20))
    w.use("modify_calls", 12, ts(2026, 2, 20))
    w.advance(ts(2026, 3, 1, 2))
    # THEN A granted January and February (both started under version 1); B grants the partial
    # period from February 15 in full (Stripe's default `full_credits`), then March
    # (with `create_behavior: none`, no grant for that partial period: B starts with March)
    made = [(g["effective_at"], g["expires_at"], g["amount"]["monetary"]["value"]) for g in grants(w)]
    partial = [] if overrides else [(ts(2026, 2, 15), MAR, 1000)]
    assert made == [(JAN, FEB, 500), (FEB, MAR, 500), *partial, (MAR, APR, 1000)]
    # AND January's grant, whose tick billed nothing, expired whole once that tick passed
    assert ledger(w, grants(w)[0]["id"]) == {"credits_granted": 500, "credits_expired": 500}
    # AND February's 12.00 of calls took A's 5.00 first (same priority and expiry: the earlier
    # effective_at), then 7.00 of B's
    # (without B's partial grant: 5.00 of A's, 7.00 left to pay)
    (mar_inv,) = w.invoices()  # January billed nothing (no usage, no fee)
    if overrides:
        assert (mar_inv["subtotal"], mar_inv["total"]) == (1200, 700)
        assert [c["amount"] for c in mar_inv["total_pretax_credit_amounts"]] == [500]
    else:
        assert (mar_inv["subtotal"], mar_inv["total"]) == (1200, 0)
        assert sorted(c["amount"] for c in mar_inv["total_pretax_credit_amounts"]) == [500, 700]
    return w


def test_no_grant_starts_at_or_after_a_cancel(api, functions):
    # GIVEN the AI product subscribed on January 1, deactivated at the end of February's billing
    # period (March 1)
    w, _ = ai_product(api, functions)
    sub = w.subscribe(collect_at="next_billing_date")
    w.advance(ts(2026, 2, 10))
    w.intent(
        {
            "type": "deactivate",
            "deactivate": {
                "type": "pricing_plan_subscription_details",
                "effective_at": {"type": "current_billing_period_end"},
                "pricing_plan_subscription_details": {"pricing_plan_subscription": sub},
            },
        }
    )
    # WHEN the clock passes the cancel and the next interval start
    w.advance(ts(2026, 4, 2))
    # THEN January's and February's grants only
    assert [(g["effective_at"], g["expires_at"]) for g in grants(w)] == [(JAN, FEB), (FEB, MAR)]
