"""Billing periods on the calendar, driven on a test clock through several boundaries each.

Stripe's rules (docs "Set the subscription billing renewal date"): the billing cycle anchor sets
the day of week for weekly intervals, the day of month for monthly and yearly ones, and the
month of year for yearly ones; "a monthly subscription with a billing cycle anchor date of
January 31 bills the last day of the month closest to the anchor date, so February 28 (or
February 29 in a leap year), then March 31, April 30, and so on". Every boundary is computed
from the anchor, never from the previous boundary (so Feb 28 does not drag March to the 28th),
and keeps the anchor's time of day.

Every boundary below is written by hand as a UTC datetime. The plan is one licensed price of
10.00 per interval, so each cycle invoice bills `[previous boundary, boundary)` as its period and
its line bills the next period in advance: both are checked for every boundary, and that each
boundary produced exactly one invoice, in order. The subscription's creation invoice
(`subscription_create`) bills the first period in advance; it is checked apart from the cycles.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

CLOCKS = "/v1/test_helpers/test_clocks"
GRACE = 3600  # invoices finalize an hour after the period end


def utc(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


def ok(response: support.Response) -> Any:
    assert response.status == 200, response.text
    return response.json


def advance(api: support.Api, functions: support.Functions, clock_id: str, to: int) -> dict[str, Any]:
    """The only way these tests move a clock: POST advance, let the workers finish it (when the
    advance is asynchronous, `functions.drain()` runs them), then the clock must be ready at `to`."""
    ok(api.post(f"{CLOCKS}/{clock_id}/advance", {"frozen_time": to}))
    if hasattr(functions, "drain"):
        functions.drain()
    clock = ok(api.get(f"{CLOCKS}/{clock_id}"))
    assert (clock["status"], clock["frozen_time"]) == ("ready", to), clock
    return clock


# (interval, interval_count, boundaries): the first boundary is the subscription's start (its
# anchor); each next one is hand-computed from Stripe's rule.
CALENDARS = {
    "monthly from Jan 31 (non-leap year)": (
        "month",
        1,
        [
            utc(2031, 1, 31, 12, 30),
            utc(2031, 2, 28, 12, 30),  # February has no 31st: its last day
            utc(2031, 3, 31, 12, 30),  # back to the 31st (from the anchor, not from Feb 28)
            utc(2031, 4, 30, 12, 30),
            utc(2031, 5, 31, 12, 30),
            utc(2031, 6, 30, 12, 30),
        ],
    ),
    "monthly from Jan 31 (leap year 2028)": (
        "month",
        1,
        [
            utc(2028, 1, 31),
            utc(2028, 2, 29),  # the leap day
            utc(2028, 3, 31),
            utc(2028, 4, 30),
            utc(2028, 5, 31),
        ],
    ),
    "monthly from Jan 30: Feb 28, then the 30th again": (
        "month",
        1,
        [utc(2031, 1, 30, 5), utc(2031, 2, 28, 5), utc(2031, 3, 30, 5), utc(2031, 4, 30, 5)],
    ),
    "monthly on the 29th, into a non-leap February": (
        "month",
        1,
        [
            utc(2028, 12, 29, 18),  # anchored on the 29th
            utc(2029, 1, 29, 18),
            utc(2029, 2, 28, 18),  # no Feb 29 in 2029
            utc(2029, 3, 29, 18),  # the 29th again
        ],
    ),
    "monthly from Mar 31 through a 30-day month": (
        "month",
        1,
        [utc(2031, 3, 31, 23, 59, 59), utc(2031, 4, 30, 23, 59, 59), utc(2031, 5, 31, 23, 59, 59)],
    ),
    "weekly from a Friday, across a month end": (
        "week",
        1,
        [
            utc(2031, 2, 21, 6),  # a Friday
            utc(2031, 2, 28, 6),
            utc(2031, 3, 7, 6),
            utc(2031, 3, 14, 6),
            utc(2031, 3, 21, 6),
        ],
    ),
    "every 2 weeks": (
        "week",
        2,
        [utc(2031, 12, 22, 9), utc(2032, 1, 5, 9), utc(2032, 1, 19, 9), utc(2032, 2, 2, 9)],
    ),
    "daily across Feb 28 → Mar 1": (
        "day",
        1,
        [
            utc(2031, 2, 26, 22, 15),
            utc(2031, 2, 27, 22, 15),
            utc(2031, 2, 28, 22, 15),
            utc(2031, 3, 1, 22, 15),  # 2031 has no Feb 29
            utc(2031, 3, 2, 22, 15),
        ],
    ),
    "daily across the leap day": (
        "day",
        1,
        [utc(2032, 2, 28), utc(2032, 2, 29), utc(2032, 3, 1), utc(2032, 3, 2)],
    ),
    "yearly from Feb 29 2028": (
        "year",
        1,
        [
            utc(2028, 2, 29, 8),
            utc(2029, 2, 28, 8),  # no Feb 29 in 2029: the month's last day
            utc(2030, 2, 28, 8),
            utc(2031, 2, 28, 8),
            utc(2032, 2, 29, 8),  # a leap year again: the anchor's day
        ],
    ),
    "every 3 months from Nov 30": (
        "month",
        3,
        [
            utc(2031, 11, 30),
            utc(2032, 2, 29),  # Feb 2032 is a leap month: its last day, the 29th
            utc(2032, 5, 30),  # back to the 30th
            utc(2032, 8, 30),
            utc(2032, 11, 30),
        ],
    ),
}


def _plan(api: support.Api, interval: str, count: int, start: int) -> tuple[str, dict[str, Any]]:
    """A clock at `start`, a customer on it, subscribed to 10.00 per `count` `interval`s."""
    clock = ok(api.post(CLOCKS, {"frozen_time": start}))
    customer = ok(api.post("/v1/customers", {"name": "Calendar", "test_clock": clock["id"]}))
    recurring = {"interval": interval, "interval_count": count}
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1000,
                "recurring": recurring,
                "product_data": {"name": "Plan"},
            },
        )
    )
    sub = ok(api.post("/v1/subscriptions", {"customer": customer["id"], "items": [{"price": price["id"]}]}))
    return clock["id"], sub


def _all(api: support.Api, sub: dict[str, Any]) -> list[dict[str, Any]]:
    return ok(api.get("/v1/invoices", {"subscription": sub["id"], "limit": 100}))["data"][::-1]


def _invoices(api: support.Api, sub: dict[str, Any]) -> list[dict[str, Any]]:
    """The subscription's cycle invoices, oldest first (its creation invoice left out)."""
    return [i for i in _all(api, sub) if i["billing_reason"] != "subscription_create"]


def _first(api: support.Api, sub: dict[str, Any]) -> dict[str, Any]:
    """The subscription's creation invoice (there is exactly one, its oldest)."""
    first, *_ = _all(api, sub)
    assert first["billing_reason"] == "subscription_create"
    assert sum(i["billing_reason"] == "subscription_create" for i in _all(api, sub)) == 1
    return first


@pytest.mark.parametrize("name", list(CALENDARS))
def test_each_boundary_bills_one_invoice_for_exactly_its_period(api, functions, name):
    interval, count, bounds = CALENDARS[name]
    # GIVEN a subscription started (and anchored) at the first boundary, on a clock there
    clock_id, sub = _plan(api, interval, count, bounds[0])
    assert (sub["billing_cycle_anchor"], sub["current_period_start"]) == (bounds[0], bounds[0])
    assert sub["current_period_end"] == bounds[1]
    # AND its creation invoice bills the first period [first, second boundary) in advance, open
    first = _first(api, sub)
    assert (first["period_start"], first["period_end"], first["status"], first["total"]) == (
        bounds[0],
        bounds[0],
        "open",
        1000,
    )
    (line,) = first["lines"]["data"]
    assert (line["period"]["start"], line["period"]["end"], line["amount"]) == (bounds[0], bounds[1], 1000)
    billed: list[tuple[int, int]] = []
    for i, boundary in enumerate(bounds[1:-1], start=1):
        # WHEN the clock passes the boundary (and the invoice's grace period)
        advance(api, functions, clock_id, boundary + GRACE + 60)
        # THEN exactly one more invoice, for [previous boundary, boundary), in order
        billed.append((bounds[i - 1], boundary))
        found = _invoices(api, sub)
        assert [(inv["period_start"], inv["period_end"]) for inv in found] == billed
        newest = found[-1]
        assert (newest["created"], newest["status"], newest["total"]) == (boundary, "open", 1000)
        # AND its line bills the next period, [boundary, next boundary), in advance
        (line,) = newest["lines"]["data"]
        assert (line["period"]["start"], line["period"]["end"]) == (boundary, bounds[i + 1])
        # AND the subscription now shows that next period
        shown = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
        assert (shown["current_period_start"], shown["current_period_end"]) == (boundary, bounds[i + 1])
    assert len(_invoices(api, sub)) == len(bounds) - 2
    assert len(_all(api, sub)) == len(bounds) - 1  # and the creation invoice


def test_one_advance_over_two_boundaries_bills_both_in_order(api, functions):
    # GIVEN a daily subscription anchored on Feb 27 2031 23:00
    start = utc(2031, 2, 27, 23)
    clock_id, sub = _plan(api, "day", 1, start)
    # WHEN the clock jumps two days at once (Stripe's furthest: two intervals)
    advance(api, functions, clock_id, utc(2031, 3, 1, 23))
    # THEN Feb 27 → Feb 28 and Feb 28 → Mar 1 are billed, in that order, once each
    found = _invoices(api, sub)
    assert [(i["period_start"], i["period_end"]) for i in found] == [
        (start, utc(2031, 2, 28, 23)),
        (utc(2031, 2, 28, 23), utc(2031, 3, 1, 23)),
    ]
    # AND the first is finalized (its grace ended inside the jump), the second still a draft
    assert [i["status"] for i in found] == ["open", "draft"]
    shown = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (shown["current_period_start"], shown["current_period_end"]) == (
        utc(2031, 3, 1, 23),
        utc(2031, 3, 2, 23),
    )


def test_usage_is_split_at_a_clamped_month_end_boundary(api, functions):
    # GIVEN a metered subscription (1 cent a call) anchored on Jan 31 2031 12:30
    start = utc(2031, 1, 31, 12, 30)
    clock = ok(api.post(CLOCKS, {"frozen_time": start}))
    customer = ok(api.post("/v1/customers", {"name": "Edges", "test_clock": clock["id"]}))
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "calls", "event_name": "edge_calls", "default_aggregation": {"formula": "sum"}},
        )
    )
    recurring = {"interval": "month", "usage_type": "metered", "meter": meter["id"]}
    price = ok(
        api.post(
            "/v1/prices",
            {"currency": "usd", "unit_amount": 1, "recurring": recurring, "product_data": {"name": "Calls"}},
        )
    )
    sub = ok(api.post("/v1/subscriptions", {"customer": customer["id"], "items": [{"price": price["id"]}]}))

    def use(value: int) -> None:  # stamped with the clock's time
        body = {
            "event_name": "edge_calls",
            "payload": {"stripe_customer_id": customer["id"], "value": str(value)},
        }
        ok(api.post("/v1/billing/meter_events", body))

    # WHEN 3 calls are used at the anchor, 40 in the last minute before Feb 28 12:30, 500 at
    # Feb 28 12:30 itself, and 6 in the last minute before Mar 31 12:30
    use(3)
    advance(api, functions, clock["id"], utc(2031, 2, 28, 12, 29, 59))
    use(40)
    advance(api, functions, clock["id"], utc(2031, 2, 28, 12, 30))
    use(500)
    advance(api, functions, clock["id"], utc(2031, 3, 31, 12, 29))
    use(6)
    advance(api, functions, clock["id"], utc(2031, 3, 31, 12, 30) + GRACE + 60)
    # THEN Jan 31 → Feb 28 bills 3 + 40 = 43 cents; Feb 28 → Mar 31 bills 500 + 6 = 506 cents
    found = _invoices(api, sub)
    assert [(i["period_start"], i["period_end"], i["total"], i["status"]) for i in found] == [
        (start, utc(2031, 2, 28, 12, 30), 43, "open"),
        (utc(2031, 2, 28, 12, 30), utc(2031, 3, 31, 12, 30), 506, "open"),
    ]
    assert [ln["quantity"] for i in found for ln in i["lines"]["data"]] == [43, 506]
    # AND the creation invoice billed nothing (a metered item's first line is 0): paid at creation
    first = _first(api, sub)
    assert (first["total"], first["status"], first["status_transitions"]["paid_at"]) == (0, "paid", start)


def test_a_future_anchor_on_a_month_end_starts_with_a_short_period(api, functions):
    # GIVEN a monthly subscription created on Jan 15 2031 with billing_cycle_anchor Jan 31 2031
    created, anchor = utc(2031, 1, 15), utc(2031, 1, 31)
    clock = ok(api.post(CLOCKS, {"frozen_time": created}))
    customer = ok(api.post("/v1/customers", {"name": "Anchored", "test_clock": clock["id"]}))
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1000,
                "recurring": {"interval": "month"},
                "product_data": {"name": "Plan"},
            },
        )
    )
    body = {"customer": customer["id"], "items": [{"price": price["id"]}], "billing_cycle_anchor": anchor}
    sub = ok(api.post("/v1/subscriptions", body))
    # THEN its first period is the short one up to the anchor
    assert (sub["current_period_start"], sub["current_period_end"]) == (created, anchor)
    # AND its creation invoice bills it prorated over the month ending at the anchor,
    #     [Dec 31, Jan 31) = 31 days: 1,000 × 16 / 31 = 516.13 → 516
    (line,) = _first(api, sub)["lines"]["data"]
    assert (line["amount"], line["period"]["start"], line["period"]["end"]) == (516, created, anchor)
    assert line["parent"]["subscription_item_details"]["proration"] is True
    assert line["description"] == "Remaining time on 1 × Plan after 15 Jan 2031"
    # WHEN the clock passes the anchor, then Feb 28 and Mar 31
    for to in (anchor, utc(2031, 2, 28), utc(2031, 3, 31)):
        advance(api, functions, clock["id"], to + GRACE + 60)
    # THEN one invoice per boundary: Jan 15 → Jan 31, Jan 31 → Feb 28 (clamped), Feb 28 → Mar 31
    assert [(i["period_start"], i["period_end"]) for i in _invoices(api, sub)] == [
        (created, anchor),
        (anchor, utc(2031, 2, 28)),
        (utc(2031, 2, 28), utc(2031, 3, 31)),
    ]
    shown = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (shown["current_period_start"], shown["current_period_end"]) == (
        utc(2031, 3, 31),
        utc(2031, 4, 30),
    )
