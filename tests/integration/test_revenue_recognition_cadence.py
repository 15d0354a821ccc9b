"""Revenue recognition of a v2 cadence invoice's lines, by hand (`billing.revenue_cadence`,
`domain.revenue_fees`): rate card usage recognized over its service interval as delivered, a
license fee billed in advance spread over its service interval (deferred at its invoice's
finalization and released month by month; a month before the finalization month is accrued).

A quarterly cadence on the 1st from 1 Jan 2026; a plan with a monthly rate card (1.00 per call) and
a quarterly license fee of 90.00, subscribed on 1 Jan collecting its first fee at commit. Calls: 10
on 15 Jan, 20 on 10 Feb.
- The commit's invoice (finalized 1 Jan): the fee of [1 Jan, 1 Apr), 9,000. Its 90 days: Jan 31
  → 9,000 × 31/90 = 3,100; to Feb's end 59 days → 5,900, so Feb 2,800; Mar 3,100. 9,000 deferred
  on 1 Jan, 3,100 / 2,800 / 3,100 released in Jan / Feb / Mar.
- The tick of 1 Apr (finalized 1 Apr 01:00): January's calls 1,000 and February's 2,000 = 3,000,
  accrued in Jan and Feb, reversed and rebooked in Apr.
Revenue: Jan 9,000 − 9,000 + 3,100 + 1,000 = 4,100; Feb 2,800 + 2,000 = 4,800; Mar 3,100; Apr
−3,000 + 3,000 = 0; total 12,000, the two invoices' totals."""

from __future__ import annotations

from test_cadence_invoices import World, ok, ts

REPORT = "/v1/tally/revenue_recognition"


def _world(api, functions) -> World:  # type: ignore[no-untyped-def]
    cycle = {"type": "month", "interval_count": 3, "month": {"day_of_month": 1}}
    return World(api, functions, ts(2026, 1, 1), cycle)


def test_rate_card_usage_over_its_interval_and_a_fee_in_advance_deferred_over_its_interval(api, functions):
    w = _world(api, functions)
    item = w.metered_item("rr_calls")
    card = w.rate_card("month", 1, [{"metered_item": item, "unit_amount": "100"}])
    w.component("rate_card", card["id"])
    w.component("license_fee", w.license_fee("month", 3, "9000"))
    w.go_live()
    w.subscribe(effective_at={"type": "current_billing_period_start"})
    w.advance(ts(2026, 1, 20))
    w.use("rr_calls", 10, ts(2026, 1, 15))
    w.advance(ts(2026, 2, 20))
    w.use("rr_calls", 20, ts(2026, 2, 10))
    w.advance(ts(2026, 4, 2))
    first, tick = w.invoices()
    assert (first["total"], tick["total"]) == (9_000, 3_000)
    assert first["status_transitions"]["finalized_at"] == ts(2026, 1, 1)
    assert tick["status_transitions"]["finalized_at"] == ts(2026, 4, 1, 1)

    report = ok(api.get(REPORT, {"interval_start": ts(2026, 1, 1), "interval_end": ts(2026, 5, 1)}))
    assert report["accounts"][-1] == "DeferredRevenue"
    (usd,) = report["data"]
    nets = {a["account"]: [p["net"] for p in a["periods"]] for a in usd["accounts"]}
    assert nets["Revenue"] == [4_100, 4_800, 3_100, 0]
    assert sum(nets["Revenue"]) == 12_000
    assert nets["DeferredRevenue"] == [5_900, -2_800, -3_100, 0]  # credit-normal
    assert nets["UnbilledReceivables"] == [1_000, 2_000, 0, -3_000]
    assert nets["AccountsReceivable"] == [9_000, 0, 0, 3_000]
    lines = {(j["accounting_period"], j["debit"], j["credit"]): j["amount"] for j in usd["journal_lines"]}
    assert lines[("2026-01", "Revenue", "DeferredRevenue")] == 9_000
    assert lines[("2026-01", "DeferredRevenue", "Revenue")] == 3_100
    assert lines[("2026-02", "DeferredRevenue", "Revenue")] == 2_800
    assert lines[("2026-03", "DeferredRevenue", "Revenue")] == 3_100
    assert lines[("2026-01", "UnbilledReceivables", "Revenue")] == 1_000


def test_a_voided_fee_invoice_nets_to_nothing(api, functions):
    w = _world(api, functions)
    w.component("license_fee", w.license_fee("month", 3, "9000"))
    w.go_live()
    w.subscribe(effective_at={"type": "current_billing_period_start"})
    w.advance(ts(2026, 2, 20))
    (first,) = w.invoices()
    ok(api.post(f"/v1/invoices/{first['id']}/void", {}))
    report = ok(api.get(REPORT, {"interval_start": ts(2026, 1, 1), "interval_end": ts(2026, 5, 1)}))
    (usd,) = report["data"]
    nets = {a["account"]: [p["net"] for p in a["periods"]] for a in usd["accounts"]}
    # Jan: 9,000 − 9,000 + 3,100 released; Feb (the void, at the clock's 20 Feb): the 5,900 still
    # deferred released, the 9,000 rebooking taken back: −3,100; nothing after
    assert nets["Revenue"] == [3_100, -3_100, 0, 0]
    assert nets["DeferredRevenue"] == [5_900, -5_900, 0, 0]
    assert sum(nets["AccountsReceivable"]) == 0
