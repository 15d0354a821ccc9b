"""A metered item's `invoice_presentation_dimensions` on its cadence invoice: one line per value of
those dimensions (per service interval and rate), priced as the item's whole usage (the rate's
tiers span the groups; the lines are cumulative differences, so they add up to the total's price),
late usage trued up per group. Totals by hand."""

from __future__ import annotations

from test_cadence_invoices import World, ok, ts


def test_lines_are_grouped_by_the_presentation_dimension_and_add_up_to_the_tiered_price(api, functions):
    # GIVEN a meter with `model` and `region`, a metered item of region eu shown per model, a rate
    # with the first 100 tokens free and 2¢ each after (graduated), on a monthly cadence
    w = World(api, functions, ts(2026, 1, 1), {"type": "month", "month": {"day_of_month": 1}})
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {
                "display_name": "Tokens",
                "event_name": "pres_tokens",
                "default_aggregation": {"formula": "sum"},
                "dimension_payload_keys": ["model", "region"],
            },
        )
    )["id"]
    item = ok(
        api.post(
            "/v2/billing/metered_items",
            json={
                "display_name": "Tokens",
                "meter": meter,
                "meter_segment_conditions": [{"dimension": "region", "value": "eu"}],
                "invoice_presentation_dimensions": ["model"],
            },
        )
    )["id"]
    tiers = [{"up_to_decimal": "100", "unit_amount": "0"}, {"up_to_inf": "inf", "unit_amount": "2"}]
    card = w.rate_card("month", 1, [{"metered_item": item, "tiers": tiers, "tiering_mode": "graduated"}])
    w.component("rate_card", card["id"])
    w.go_live()
    w.subscribe()

    def use(value: int, day: int, **dims: str) -> None:
        payload = {"stripe_customer_id": w.customer, "value": str(value), **dims}
        body = {"event_name": "pres_tokens", "timestamp": ts(2026, 1, day), "payload": payload}
        ok(api.post("/v1/billing/meter_events", body))

    # WHEN January has, in eu, 80 tokens of model a, 50 of b and 5 without a model (and 30 of a in
    # us, which the item does not bill)
    w.advance(ts(2026, 1, 20))
    use(80, 10, model="a", region="eu")
    use(50, 11, model="b", region="eu")
    use(5, 12, region="eu")
    use(30, 12, model="a", region="us")
    w.advance(ts(2026, 2, 1, 2))
    # THEN February's invoice: 135 tokens, (135 − 100) × 2 = 70, shown as a: 80 → 0; a+b: 130 →
    # 60, so b: 60; all: 135 → 70, so none: 10
    (feb,) = w.invoices()
    got = [
        (
            ln["description"],
            ln["quantity"],
            ln["amount"],
            ln["pricing"]["rate_card_rate_details"]["dimensions"],
        )
        for ln in feb["lines"]["data"]
    ]
    assert got == [
        ("80 × Tokens (model: a)", 80, 0, {"model": "a"}),
        ("50 × Tokens (model: b)", 50, 60, {"model": "b"}),
        ("5 × Tokens (model: none)", 5, 10, {"model": None}),
    ]
    assert feb["total"] == 70
    # WHEN 10 more tokens of b in eu arrive late for January (within 35 days)
    w.advance(ts(2026, 2, 10))
    use(10, 15, model="b", region="eu")
    w.advance(ts(2026, 3, 1, 2))
    # THEN March's invoice trues up b alone: a+b = 140 → 80, so b: 80 − 60 = 20 (a and none unchanged)
    mar = w.invoices()[-1]
    late = [ln for ln in mar["lines"]["data"] if ln["description"].startswith("Late usage")]
    assert [(ln["description"], ln["quantity"], ln["amount"]) for ln in late] == [
        ("Late usage: 60 × Tokens (model: b)", 10, 20)
    ]
    assert late[0]["pricing"]["rate_card_rate_details"]["dimensions"] == {"model": "b"}


def test_an_item_without_presentation_dimensions_keeps_one_line(api, functions):
    w = World(api, functions, ts(2026, 1, 1), {"type": "month", "month": {"day_of_month": 1}})
    item = w.metered_item("pres_plain")
    card = w.rate_card("month", 1, [{"metered_item": item, "unit_amount": "3"}])
    w.component("rate_card", card["id"])
    w.go_live()
    w.subscribe()
    w.advance(ts(2026, 1, 20))
    w.use("pres_plain", 7, ts(2026, 1, 10))
    w.advance(ts(2026, 2, 1, 2))
    (feb,) = w.invoices()
    (line,) = feb["lines"]["data"]
    assert (line["description"], line["quantity"], line["amount"]) == ("7 × pres_plain", 7, 21)
    assert "dimensions" not in line["pricing"]["rate_card_rate_details"]
