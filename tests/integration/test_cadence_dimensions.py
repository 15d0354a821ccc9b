"""Issue 14 point 1 wired into point 4 (branch `dimensions`): a cadence invoice bills each metered
item the usage of its own segment (`billing.item_usage`), not its whole meter. Totals by hand."""

from __future__ import annotations

from test_cadence_invoices import World, lines, ok, ts


def test_two_models_on_one_meter_each_bill_their_own_segment(api, functions):
    # GIVEN one meter with a `model` dimension, a metered item per model, a rate card with 2¢ per
    # token of model a and 5¢ per token of model b, and a monthly cadence on the 1st
    w = World(api, functions, ts(2026, 1, 1), {"type": "month", "month": {"day_of_month": 1}})
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {
                "display_name": "Tokens",
                "event_name": "dim_tokens",
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
    card = w.rate_card(
        "month",
        1,
        [{"metered_item": items["a"], "unit_amount": "2"}, {"metered_item": items["b"], "unit_amount": "5"}],
    )
    w.component("rate_card", card["id"])
    w.go_live()
    w.subscribe()
    # WHEN January has 100 tokens of model a, 10 of model b and 7 without a model
    w.advance(ts(2026, 1, 20))
    for model, value in (("a", 60), ("b", 10), ("a", 40), (None, 7)):
        payload = {"stripe_customer_id": w.customer, "value": str(value)} | (
            {"model": model} if model else {}
        )
        ok(
            api.post(
                "/v1/billing/meter_events",
                {"event_name": "dim_tokens", "timestamp": ts(2026, 1, 10), "payload": payload},
            )
        )
    w.advance(ts(2026, 2, 1, 2))
    # THEN February's invoice bills a: 100 × 2 = 200, b: 10 × 5 = 50 (the 7 match neither item)
    (feb,) = w.invoices()
    jan = (ts(2026, 1, 1), ts(2026, 2, 1))
    assert sorted(lines(feb)) == sorted(
        [(*jan, "rate_card_rate_details", 100, 200), (*jan, "rate_card_rate_details", 10, 50)]
    )
    assert feb["total"] == 250
