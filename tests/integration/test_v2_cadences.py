"""Billing profiles and cadences (v2): Stripe's shapes, `next_billing_date` at the customer's
test clock, one customer per cadence, cancel; hostile input changes nothing."""

from __future__ import annotations

import pytest
import support

FROZEN = 1_767_225_600  # 2026-01-01T00:00:00Z


def _ok(response: support.Response) -> dict:
    assert response.status == 200, response.text
    return response.json


def _profile(api, **customer_fields) -> dict:
    customer = _ok(api.post("/v1/customers", {"name": "Ada", **customer_fields}))["id"]
    return _ok(api.post("/v2/billing/profiles", json={"customer": customer, "display_name": "Main"}))


def test_a_monthly_cadence_on_a_test_clock_bills_next_on_the_clocks_calendar(api):
    clock = _ok(api.post("/v1/test_helpers/test_clocks", {"frozen_time": FROZEN}))["id"]
    profile = _profile(api, test_clock=clock)
    assert profile["object"] == "v2.billing.profile" and profile["status"] == "active"
    cadence = _ok(
        api.post(
            "/v2/billing/cadences",
            json={
                "billing_cycle": {"type": "month", "month": {"day_of_month": 31, "time": {"hour": 9}}},
                "payer": {"billing_profile": profile["id"]},
                "lookup_key": "main",
            },
        )
    )
    assert cadence["object"] == "v2.billing.cadence" and cadence["id"].startswith("bc_")
    assert cadence["billing_cycle"] == {
        "type": "month",
        "interval_count": 1,
        "month": {"day_of_month": 31, "time": {"hour": 9, "minute": 0, "second": 0}},
    }
    assert cadence["payer"] == {
        "billing_profile": profile["id"],
        "customer": profile["customer"],
        "type": "customer",
    }
    assert cadence["test_clock"] == clock and cadence["status"] == "active"
    assert cadence["next_billing_date"] == "2026-01-31T09:00:00.000Z"
    # the clock moves: the next date follows it (Feb clamps to the 28th)
    support.advance_clock(api, api.functions, clock, FROZEN + 35 * 86400)
    assert (
        _ok(api.get(f"/v2/billing/cadences/{cadence['id']}"))["next_billing_date"]
        == "2026-02-28T09:00:00.000Z"
    )
    found = _ok(api.get("/v2/billing/cadences", {"lookup_keys": "main"}))["data"]
    assert [c["id"] for c in found] == [cadence["id"]]
    canceled = _ok(api.post(f"/v2/billing/cadences/{cadence['id']}/cancel", json={}))
    assert canceled["status"] == "canceled" and canceled["next_billing_date"] is None
    again = api.post(f"/v2/billing/cadences/{cadence['id']}/cancel", json={})
    support.assert_stripe_error(again.status, again.json, 400, code="billing_cadence_canceled")


BAD_CYCLES = [
    {"type": "fortnight"},
    {"type": "month", "interval_count": 13},
    {"type": "month", "month": {"day_of_month": 32}},
    {"type": "month", "month": {"day_of_month": 1, "month_of_year": 2}},  # count 1: no month_of_year
    {"type": "week", "week": {"day_of_week": 8}},
    {"type": "day", "month": {"day_of_month": 3}},
    {"type": "day", "day": {"time": {"hour": 24}}},
    {"type": "year", "interval_count": 2},
]


@pytest.mark.parametrize("cycle", BAD_CYCLES)
def test_a_bad_billing_cycle_is_refused_and_changes_nothing(api, cycle):
    profile = _profile(api)
    body = {"billing_cycle": cycle, "payer": {"billing_profile": profile["id"]}}
    response = api.post("/v2/billing/cadences", json=body)
    support.assert_stripe_error(response.status, response.json, 400)
    assert _ok(api.get("/v2/billing/cadences"))["data"] == []


def test_payers_must_exist_and_stay_one_customer(api):
    profile = _profile(api)
    other = _profile(api)
    missing = api.post(
        "/v2/billing/cadences",
        json={"billing_cycle": {"type": "day"}, "payer": {"billing_profile": "bprof_x"}},
    )
    support.assert_stripe_error(missing.status, missing.json, 400, code="resource_missing")
    cadence = _ok(
        api.post(
            "/v2/billing/cadences",
            json={"billing_cycle": {"type": "day"}, "payer": {"billing_profile": profile["id"]}},
        )
    )
    moved = api.post(
        f"/v2/billing/cadences/{cadence['id']}", json={"payer": {"billing_profile": other["id"]}}
    )
    support.assert_stripe_error(moved.status, moved.json, 400)
    no_customer = api.post("/v2/billing/profiles", json={"customer": "cus_nope"})
    support.assert_stripe_error(no_customer.status, no_customer.json, 400, code="resource_missing")
    pm = api.post(
        "/v2/billing/profiles", json={"customer": profile["customer"], "default_payment_method": "pm_1"}
    )
    support.assert_stripe_error(pm.status, pm.json, 400, param="default_payment_method")
    listed = _ok(api.get("/v2/billing/profiles", {"customer": profile["customer"]}))["data"]
    assert [p["id"] for p in listed] == [profile["id"]]
