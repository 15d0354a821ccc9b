"""A v2 cadence's invoices on test clocks, totals by hand: service intervals against the billing
interval (seed 003's 5-month / annual example), an AI product over three months, and a rate change
that a subscriber only pays after a modify intent (each line names the version that priced it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import stripe_shapes
import support

HOUR = 3600
PLANS = "/v2/billing/pricing_plans"


def ts(y: int, m: int, d: int = 1, h: int = 0) -> int:
    return int(dt.datetime(y, m, d, h, tzinfo=dt.UTC).timestamp())


def ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


class World:
    """A customer on a test clock, a billing profile, a cadence and the catalog to subscribe to."""

    def __init__(self, api: support.Api, functions: support.Functions, frozen: int, cycle: dict) -> None:
        self.api, self.functions = api, functions
        self.clock = ok(api.post("/v1/test_helpers/test_clocks", {"frozen_time": frozen}))["id"]
        self.customer = ok(api.post("/v1/customers", {"name": "Ada", "test_clock": self.clock}))["id"]
        profile = ok(api.post("/v2/billing/profiles", json={"customer": self.customer}))["id"]
        self.cadence = ok(
            api.post(
                "/v2/billing/cadences", json={"billing_cycle": cycle, "payer": {"billing_profile": profile}}
            )
        )["id"]
        self.plan = ok(
            api.post(PLANS, json={"currency": "usd", "display_name": "AI", "tax_behavior": "exclusive"})
        )["id"]

    def metered_item(self, event_name: str) -> str:
        meter = ok(
            self.api.post(
                "/v1/billing/meters",
                {
                    "display_name": event_name,
                    "event_name": event_name,
                    "default_aggregation": {"formula": "sum"},
                },
            )
        )["id"]
        return ok(
            self.api.post("/v2/billing/metered_items", json={"display_name": event_name, "meter": meter})
        )["id"]

    def rate_card(self, interval: str, count: int, rates: list[dict]) -> dict:
        card = ok(
            self.api.post(
                "/v2/billing/rate_cards",
                json={
                    "currency": "usd",
                    "display_name": "Models",
                    "service_interval": interval,
                    "service_interval_count": count,
                    "tax_behavior": "exclusive",
                },
            )
        )
        for rate in rates:
            ok(self.api.post(f"/v2/billing/rate_cards/{card['id']}/rates", json=rate))
        return ok(self.api.get(f"/v2/billing/rate_cards/{card['id']}"))

    def license_fee(self, interval: str, count: int, unit_amount: str) -> str:
        item = ok(self.api.post("/v2/billing/licensed_items", json={"display_name": "Platform"}))["id"]
        return ok(
            self.api.post(
                "/v2/billing/license_fees",
                json={
                    "currency": "usd",
                    "display_name": "Platform fee",
                    "licensed_item": item,
                    "service_interval": interval,
                    "service_interval_count": count,
                    "tax_behavior": "exclusive",
                    "unit_amount": unit_amount,
                },
            )
        )["id"]

    def component(self, kind: str, target: str, version: str | None = None) -> dict:
        ref = {"id": target, **({"version": version} if version else {})}
        return ok(self.api.post(f"{PLANS}/{self.plan}/components", json={"type": kind, kind: ref}))

    def go_live(self) -> str:
        return ok(self.api.post(f"{PLANS}/{self.plan}", json={"live_version": "latest"}))["live_version"]

    def intent(self, action: dict) -> dict:
        intent = ok(
            self.api.post(
                "/v2/billing/intents", json={"currency": "usd", "cadence": self.cadence, "actions": [action]}
            )
        )
        reserved = ok(self.api.post(f"/v2/billing/intents/{intent['id']}/reserve", json={}))
        ok(self.api.post(f"/v2/billing/intents/{intent['id']}/commit", json={}))
        return reserved

    def subscribe(self, **extra: Any) -> str:
        action = {
            "type": "subscribe",
            "subscribe": {
                "type": "pricing_plan_subscription_details",
                "pricing_plan_subscription_details": {"pricing_plan": self.plan},
                **extra,
            },
        }
        intent = self.intent(action)
        actions = ok(self.api.get(f"/v2/billing/intents/{intent['id']}/actions"))["data"]
        return actions[0]["subscribe"]["pricing_plan_subscription_details"]["pricing_plan_subscription"]

    def use(self, event_name: str, value: int, at: int) -> None:
        body = {
            "event_name": event_name,
            "timestamp": at,
            "payload": {"stripe_customer_id": self.customer, "value": str(value)},
        }
        ok(self.api.post("/v1/billing/meter_events", body))

    def advance(self, to: int) -> None:
        assert support.advance_clock(self.api, self.functions, self.clock, to)["status"] == "ready"

    def invoices(self) -> list[dict]:
        """The customer's invoices, oldest first, each checked against Stripe's shapes."""
        page = ok(self.api.get("/v1/invoices", {"customer": self.customer, "limit": 100}))["data"][::-1]
        for inv in page:
            assert stripe_shapes.problems(inv) == [], stripe_shapes.problems(inv)
        return page


def lines(inv: dict) -> list[tuple[int, int, str, int, int]]:
    """(period start, end, pricing type, quantity, amount) of each line."""
    return [
        (ln["period"]["start"], ln["period"]["end"], ln["pricing"]["type"], ln["quantity"], ln["amount"])
        for ln in inv["lines"]["data"]
    ]


def test_seed_003_a_five_month_service_interval_on_an_annual_cadence_bills_ten_months(api, functions):
    # GIVEN a cadence billing every year on March 31, and a plan whose rate card (1.00 per call)
    # and license fee (50.00) serve 5-month intervals, subscribed on 2025-03-31
    w = World(
        api, functions, ts(2025, 3, 31), {"type": "year", "year": {"month_of_year": 3, "day_of_month": 31}}
    )
    item = w.metered_item("calls_003")
    card = w.rate_card("month", 5, [{"metered_item": item, "unit_amount": "100"}])
    w.component("rate_card", card["id"])
    fee = w.license_fee("month", 5, "5000")
    w.component("license_fee", fee)
    w.go_live()
    sub = w.subscribe(collect_at="next_billing_date")
    # usage in each 5-month service interval: [Mar 31, Aug 31) 100, [Aug 31, Jan 31) 200, and
    # [Jan 31, Jun 30) 400 — still open at the annual tick
    for at, value in ((ts(2025, 4, 30), 100), (ts(2025, 9, 30), 200), (ts(2026, 2, 28), 400)):
        w.advance(at + HOUR)
        w.use("calls_003", value, at)
    # WHEN the clock passes the tick (+ its hour of grace)
    w.advance(ts(2026, 3, 31, 2))
    # THEN one invoice: the two completed intervals' usage (10 months) and the license fee of every
    # interval that started in the year, in advance (Mar 31, Aug 31, Jan 31): 3 × 50.00
    (inv,) = w.invoices()
    assert inv["parent"] == {
        "type": "billing_cadence_details",
        "billing_cadence_details": {"billing_cadence": w.cadence},
        "quote_details": None,
        "subscription_details": None,
    }
    assert (inv["period_start"], inv["period_end"]) == (ts(2025, 3, 31), ts(2026, 3, 31))
    assert lines(inv) == [
        (ts(2025, 3, 31), ts(2025, 8, 31), "license_fee_details", 1, 5000),
        (ts(2025, 3, 31), ts(2025, 8, 31), "rate_card_rate_details", 100, 10_000),
        (ts(2025, 8, 31), ts(2026, 1, 31), "license_fee_details", 1, 5000),
        (ts(2025, 8, 31), ts(2026, 1, 31), "rate_card_rate_details", 200, 20_000),
        (ts(2026, 1, 31), ts(2026, 6, 30), "license_fee_details", 1, 5000),
    ]
    assert inv["total"] == 45_000 and inv["status"] != "draft"  # finalized an hour after the tick
    assert inv["automatically_finalizes_at"] is None
    parent = inv["lines"]["data"][1]["parent"]
    assert parent["type"] == "pricing_plan_subscription_details"
    assert parent["pricing_plan_subscription_details"]["pricing_plan_subscription"] == sub


def test_an_ai_product_over_three_months(api, functions):
    # GIVEN model A at 2.00 per 1,000 tokens (rounded up), model B graduated per token (0.1¢ up to
    # 100,000 tokens, 0.05¢ beyond), a 20.00 monthly license fee, a monthly cadence on the 1st
    w = World(api, functions, ts(2026, 1, 1), {"type": "month", "month": {"day_of_month": 1}})
    a, b = w.metered_item("model_a"), w.metered_item("model_b")
    per_thousand = {
        "metered_item": a,
        "unit_amount": "200",
        "transform_quantity": {"divide_by": 1000, "round": "up"},
    }
    graduated = {
        "metered_item": b,
        "tiering_mode": "graduated",
        "tiers": [
            {"up_to_decimal": "100000", "unit_amount": "0.1"},
            {"up_to_inf": "inf", "unit_amount": "0.05"},
        ],
    }
    card = w.rate_card("month", 1, [per_thousand, graduated])
    w.component("rate_card", card["id"])
    w.component("license_fee", w.license_fee("month", 1, "2000"))
    w.go_live()
    # WHEN the customer subscribes (collect_at defaults to on_effective_at: January's fee now)
    reserved_sub = w.subscribe()
    assert reserved_sub.startswith("bpps_")
    usage = {
        1: (12_345, 150_000),  # A: ⌈12.345⌉ = 13 × 200 = 2,600; B: 100,000 × 0.1 + 50,000 × 0.05 = 12,500
        2: (1_000, 80_000),  # A: 1 × 200 = 200; B (tiers reset): 80,000 × 0.1 = 8,000
        3: (0, 100_010),  # A: no usage, no line; B: 10,000 + 10 × 0.05 = 10,000.5 → 10,001 (half-up)
    }
    for month, (tokens_a, tokens_b) in usage.items():
        w.advance(ts(2026, month, 20))
        if tokens_a:
            w.use("model_a", tokens_a, ts(2026, month, 10))
        w.use("model_b", tokens_b, ts(2026, month, 10))
    w.advance(ts(2026, 4, 1, 2))
    # THEN four invoices: the commit's (January's fee), then one per tick
    commit, feb, mar, apr = w.invoices()
    assert commit["billing_reason"] == "subscription_create" and commit["total"] == 2000
    assert lines(commit) == [(ts(2026, 1, 1), ts(2026, 2, 1), "license_fee_details", 1, 2000)]
    jan, feb_m, mar_m = (
        (ts(2026, 1, 1), ts(2026, 2, 1)),
        (ts(2026, 2, 1), ts(2026, 3, 1)),
        (ts(2026, 3, 1), ts(2026, 4, 1)),
    )
    # February 1: January's usage; January's fee was collected at commit
    assert sorted(lines(feb)) == sorted(
        [(*jan, "rate_card_rate_details", 13, 2600), (*jan, "rate_card_rate_details", 150_000, 12_500)]
    )
    assert feb["total"] == 15_100
    # March 1: February's usage and February's fee (the interval that started in the billing interval)
    assert sorted(lines(mar)) == sorted(
        [
            (*feb_m, "license_fee_details", 1, 2000),
            (*feb_m, "rate_card_rate_details", 1, 200),
            (*feb_m, "rate_card_rate_details", 80_000, 8000),
        ]
    )
    assert mar["total"] == 10_200
    assert sorted(lines(apr)) == sorted(
        [(*mar_m, "license_fee_details", 1, 2000), (*mar_m, "rate_card_rate_details", 100_010, 10_001)]
    )
    assert apr["total"] == 12_001
    assert all(inv["status"] != "draft" for inv in (commit, feb, mar, apr))
    by_item = {ln["pricing"]["rate_card_rate_details"]["metered_item"] for ln in feb["lines"]["data"]}
    assert by_item == {a, b}


def test_a_rate_change_waits_for_a_modify_intent_and_each_line_names_its_version(api, functions):
    # GIVEN a subscriber to plan version 1 (model A at 1.00 per call)
    w = World(api, functions, ts(2026, 1, 1), {"type": "month", "month": {"day_of_month": 1}})
    a = w.metered_item("model_v")
    card = w.rate_card("month", 1, [{"metered_item": a, "unit_amount": "100"}])
    old_rate = ok(api.get(f"/v2/billing/rate_cards/{card['id']}/rates"))["data"][0]["id"]
    component = w.component("rate_card", card["id"])
    v1 = w.go_live()
    sub = w.subscribe()
    # WHEN the rate changes to 1.50 (a new rate card version) and the plan gets a version 2 with it
    changed = ok(
        api.post(
            f"/v2/billing/rate_cards/{card['id']}/modify_rates",
            json={"rates_to_create": [{"metered_item": a, "unit_amount": "150"}]},
        )
    )
    new_rate = next(
        r["id"]
        for r in ok(api.get(f"/v2/billing/rate_cards/{card['id']}/rates"))["data"]
        if r["id"] != old_rate
    )
    ok(api.delete(f"{PLANS}/{w.plan}/components/{component['id']}"))
    w.component("rate_card", card["id"], changed["id"])
    v2 = w.go_live()
    assert v2 != v1
    w.advance(ts(2026, 1, 20))
    w.use("model_v", 10, ts(2026, 1, 10))
    # the subscriber keeps version 1 until a modify intent moves it, from February 1
    w.intent(
        {
            "type": "modify",
            "modify": {
                "type": "pricing_plan_subscription_details",
                "pricing_plan_subscription_details": {
                    "pricing_plan_subscription": sub,
                    "new_pricing_plan_version": v2,
                },
                "effective_at": {"type": "timestamp", "timestamp": "2026-02-01T00:00:00.000Z"},
            },
        }
    )
    w.advance(ts(2026, 2, 20))
    w.use("model_v", 10, ts(2026, 2, 10))
    w.advance(ts(2026, 3, 1, 2))
    # THEN January is priced by version 1's rate, February by version 2's, and the lines say so
    feb, mar = w.invoices()
    (jan_line,) = feb["lines"]["data"]
    (feb_line,) = mar["lines"]["data"]
    assert jan_line["amount"] == 1000 and feb_line["amount"] == 1500
    assert jan_line["parent"]["pricing_plan_subscription_details"]["pricing_plan_version"] == v1
    assert feb_line["parent"]["pricing_plan_subscription_details"]["pricing_plan_version"] == v2
    assert jan_line["pricing"]["rate_card_rate_details"]["rate_card_rate"] == old_rate
    assert feb_line["pricing"]["rate_card_rate_details"]["rate_card_rate"] == new_rate
    assert jan_line["pricing"]["unit_amount_decimal"] == "100"
    assert feb_line["pricing"]["unit_amount_decimal"] == "150"


def test_a_service_interval_longer_than_the_billing_interval_is_a_400(api, functions):
    # GIVEN a weekly cadence and a plan whose license fee serves months
    w = World(api, functions, ts(2026, 1, 1), {"type": "week"})
    w.component("license_fee", w.license_fee("month", 1, "2000"))
    w.go_live()
    # WHEN an intent subscribes to it THEN a 400 naming the action, and no intent is created
    before = ok(api.get("/v2/billing/intents"))["data"]
    answer = api.post(
        "/v2/billing/intents",
        json={
            "currency": "usd",
            "cadence": w.cadence,
            "actions": [
                {
                    "type": "subscribe",
                    "subscribe": {
                        "type": "pricing_plan_subscription_details",
                        "pricing_plan_subscription_details": {"pricing_plan": w.plan},
                    },
                }
            ],
        },
    )
    assert answer.status == 400, answer.text
    assert "billing interval" in answer.json["error"]["message"]
    assert ok(api.get("/v2/billing/intents"))["data"] == before


def test_late_usage_of_a_billed_service_interval_is_trued_up_on_the_next_tick(api, functions):
    # GIVEN a monthly cadence and rate card (1.00 per call, two models), January billed on Feb 1
    w = World(api, functions, ts(2026, 1, 1), {"type": "month", "month": {"day_of_month": 1}})
    a, b = w.metered_item("late_a"), w.metered_item("late_b")
    card = w.rate_card(
        "month", 1, [{"metered_item": a, "unit_amount": "100"}, {"metered_item": b, "unit_amount": "100"}]
    )
    w.component("rate_card", card["id"])
    w.go_live()
    w.subscribe()
    w.advance(ts(2026, 1, 20))
    w.use("late_a", 10, ts(2026, 1, 10))
    w.advance(ts(2026, 2, 5))
    (feb,) = w.invoices()
    assert feb["total"] == 1000
    # WHEN usage stamped in January arrives after that invoice (within Stripe's 35 days): 5 more
    # calls of A, and 3 of B, which had none at the tick
    w.use("late_a", 5, ts(2026, 1, 25))
    w.use("late_b", 3, ts(2026, 1, 26))
    w.use("late_a", 2, ts(2026, 2, 3))
    w.advance(ts(2026, 3, 1, 2))
    # THEN March 1's invoice trues January up (+5.00, +3.00, each on January's interval) and bills
    # February's 2 calls; the next tick, with nothing new, trues up nothing
    _, mar = w.invoices()
    jan, feb_m = (ts(2026, 1, 1), ts(2026, 2, 1)), (ts(2026, 2, 1), ts(2026, 3, 1))
    assert sorted(lines(mar)) == sorted(
        [
            (*jan, "rate_card_rate_details", 5, 500),
            (*jan, "rate_card_rate_details", 3, 300),
            (*feb_m, "rate_card_rate_details", 2, 200),
        ]
    )
    assert mar["total"] == 1000
    assert sum(ln["description"].startswith("Late usage") for ln in mar["lines"]["data"]) == 2
    w.advance(ts(2026, 4, 1, 2))
    assert len(w.invoices()) == 2  # April 1 billed nothing: no invoice


def test_billing_credits_apply_to_a_cadence_invoices_rate_card_lines_not_its_fees(api, functions):
    # GIVEN a monthly plan (1.00 per call, 20.00 fee billed at the tick) and a 5.00 metered credit grant
    w = World(api, functions, ts(2026, 1, 1), {"type": "month", "month": {"day_of_month": 1}})
    a = w.metered_item("credit_calls")
    card = w.rate_card("month", 1, [{"metered_item": a, "unit_amount": "100"}])
    w.component("rate_card", card["id"])
    w.component("license_fee", w.license_fee("month", 1, "2000"))
    w.go_live()
    w.subscribe(collect_at="next_billing_date")
    grant = {
        "customer": w.customer,
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 500}},
        "applicability_config": {"scope": {"price_type": "metered"}},
    }
    ok(api.post("/v1/billing/credit_grants", grant))
    w.advance(ts(2026, 1, 20))
    w.use("credit_calls", 3, ts(2026, 1, 10))
    # WHEN the tick's invoice finalizes
    w.advance(ts(2026, 2, 1, 2))
    # THEN the credit covers the metered line (3.00 of it) and not the license fee: 23.00 - 3.00
    (inv,) = w.invoices()
    assert inv["subtotal"] == 2300 and inv["total"] == inv["amount_due"] == 2000
    by_type = {ln["pricing"]["type"]: ln for ln in inv["lines"]["data"]}
    assert [c["amount"] for c in by_type["rate_card_rate_details"]["pretax_credit_amounts"]] == [300]
    assert by_type["license_fee_details"]["pretax_credit_amounts"] == []
