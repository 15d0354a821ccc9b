"""The customer portal: `POST /v1/billing_portal/sessions` and the data routes its page reads.

One scenario, hand-computed: a customer subscribes on 2025-03-01 00:00 to a metered price of
2 cents per unit (monthly, so the period is March: 31 days). Usage: 30 units on March 2 and 10 on
March 4. On March 11 00:00 (10 days in): total 40, projected to the period's end
40 × 31 / 10 = 124; the next invoice previews 40 × 2 = 80 cents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe_shapes
import support
import time_machine

from tally.billing import portal_sessions
from tally.clock import Clock
from tally.domain.portal import PortalSession

# Stripe's billing_portal.session fixture's fields (its API reference example)
STRIPE_FIELDS = {
    "configuration",
    "created",
    "customer",
    "customer_account",
    "flow",
    "id",
    "livemode",
    "locale",
    "object",
    "on_behalf_of",
    "return_url",
    "url",
}


def ts(month: int, day: int, hour: int = 0) -> int:
    return int(dt.datetime(2025, month, day, hour, tzinfo=dt.UTC).timestamp())


def ok(response: support.Response, status: int = 200) -> dict[str, Any]:
    assert response.status == status, response.text
    return response.json


@pytest.fixture
def traveller() -> Iterator[Any]:
    with time_machine.travel(dt.datetime(2025, 3, 1, tzinfo=dt.UTC), tick=False) as t:
        yield t


def move(traveller: Any, instant: int) -> None:
    traveller.move_to(dt.datetime.fromtimestamp(instant, dt.UTC))


def setup_customer(api: support.Api, name: str = "Jenny Rosen") -> dict[str, Any]:
    """A customer on a metered subscription since the clock's now."""
    customer = ok(api.post("/v1/customers", {"name": name, "email": "jenny@example.com"}))
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {
                "display_name": "API calls",
                "event_name": f"calls_{customer['id'][-6:]}",
                "default_aggregation": {"formula": "sum"},
            },
        )
    )
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 2,
                "product_data": {"name": "Calls"},
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )
    ok(api.post("/v1/subscriptions", {"customer": customer["id"], "items": [{"price": price["id"]}]}))
    return {"customer": customer, "meter": meter}


def use(api: support.Api, meter: dict[str, Any], customer: dict[str, Any], value: int, at: int) -> None:
    event = {
        "event_name": meter["event_name"],
        "timestamp": at,
        "payload": {"stripe_customer_id": customer["id"], "value": str(value)},
    }
    ok(api.post("/v1/billing/meter_events", event))


def err(response: support.Response, status: int, type: str, code: str | None = None) -> dict[str, Any]:
    return support.assert_stripe_error(response.status, response.json, status, type=type, code=code)


def token_of(session: dict[str, Any]) -> str:
    fragment = urlsplit(session["url"]).fragment
    assert fragment.startswith("session=")
    return fragment.removeprefix("session=")


def portal_get(api: support.Api, path: str, token: str | None) -> support.Response:
    return api.get(path, key=token)


def test_session_is_stripes_object_and_its_link_opens_the_customers_figures(
    api: support.Api, traveller: Any
) -> None:
    # GIVEN a customer with 40 units of usage 10 days into a 31-day period
    made = setup_customer(api)
    customer, meter = made["customer"], made["meter"]
    move(traveller, ts(3, 11))
    use(api, meter, customer, 30, ts(3, 2, 5))
    use(api, meter, customer, 10, ts(3, 4, 7))
    # WHEN a portal session is created
    session = ok(
        api.post(
            "/v1/billing_portal/sessions",
            {"customer": customer["id"], "return_url": "https://example.com/account"},
        )
    )
    # THEN it is Stripe's billing_portal.session, whose url is this server's portal page
    assert stripe_shapes.problems(session) == []
    assert set(session) == STRIPE_FIELDS
    assert session["id"].startswith("bps_") and session["object"] == "billing_portal.session"
    assert (session["customer"], session["return_url"], session["created"]) == (
        customer["id"],
        "https://example.com/account",
        ts(3, 11),
    )
    assert (session["flow"], session["locale"], session["on_behalf_of"]) == (None, None, None)
    assert session["configuration"] == "bpc_tally_default" and session["livemode"] is False
    assert urlsplit(session["url"]).path == "/portal" and api.key not in session["url"]
    token = token_of(session)
    # AND the link's token reads the customer's period usage, hand-computed
    overview = ok(portal_get(api, "/portal/api/overview", token))
    assert overview["customer"]["id"] == customer["id"] and overview["now"] == ts(3, 11)
    (usage,) = overview["usage"]
    assert (usage["meter"], usage["period_start"], usage["period_end"]) == (meter["id"], ts(3, 1), ts(4, 1))
    assert (usage["total"], usage["projected"], usage["value_grouping_window"]) == (40, 124, "day")
    points = [(p["start_time"], p["aggregated_value"]) for p in usage["summaries"]]
    assert points == [(ts(3, d), {2: 30, 4: 10}.get(d, 0)) for d in range(1, 11)]
    # AND the same figures as the summaries API answers the account
    summaries = ok(
        api.get(
            f"/v1/billing/meters/{meter['id']}/event_summaries",
            {
                "customer": customer["id"],
                "start_time": ts(3, 1),
                "end_time": ts(3, 11),
                "value_grouping_window": "day",
                "limit": 100,
            },
        )
    )["data"]
    assert [s["aggregated_value"] for s in reversed(summaries)] == [p[1] for p in points]
    # AND the next invoice's preview: 40 units × 2 cents
    upcoming = overview["upcoming_invoice"]
    assert (upcoming["customer"], upcoming["amount_due"], upcoming["currency"]) == (customer["id"], 80, "usd")
    # AND the credits API (issue 13) answers for this customer: no grants, a zero balance
    credits = ok(portal_get(api, "/portal/api/credits", token))
    assert (credits["object"], credits["available"]) == ("tally.portal_credits", True)
    assert credits["grants"]["object"] == "list" and credits["grants"]["data"] == []
    assert credits["balance_summary"]["object"] == "billing.credit_balance_summary"
    assert credits["balance_summary"]["customer"] == customer["id"]


def test_invoices_are_the_customers_only(api: support.Api, traveller: Any) -> None:
    # GIVEN two customers, each with a finalized invoice of its first period
    mine = setup_customer(api, "Mine")
    theirs = setup_customer(api, "Theirs")
    move(traveller, ts(4, 1, 2))
    for made in (mine, theirs):
        drafts = ok(api.get("/v1/invoices", {"customer": made["customer"]["id"], "status": "draft"}))["data"]
        for draft in drafts:
            ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    mine_ids = [i["id"] for i in ok(api.get("/v1/invoices", {"customer": mine["customer"]["id"]}))["data"]]
    their_ids = [i["id"] for i in ok(api.get("/v1/invoices", {"customer": theirs["customer"]["id"]}))["data"]]
    assert mine_ids and their_ids
    token = token_of(ok(api.post("/v1/billing_portal/sessions", {"customer": mine["customer"]["id"]})))
    # WHEN the portal lists invoices THEN only the customer's finalized ones, with their lines
    listed = ok(portal_get(api, "/portal/api/invoices", token))["data"]
    assert {i["id"] for i in listed} <= set(mine_ids) and listed
    assert all(i["customer"] == mine["customer"]["id"] and i["status"] != "draft" for i in listed)
    assert all(i["lines"]["object"] == "list" for i in listed)
    assert ok(portal_get(api, f"/portal/api/invoices/{listed[0]['id']}", token))["id"] == listed[0]["id"]
    # AND another customer's invoice is the same 404 as one that does not exist
    for other in (their_ids[0], "in_doesnotexist"):
        err(
            portal_get(api, f"/portal/api/invoices/{other}", token),
            404,
            "invalid_request_error",
            "resource_missing",
        )


def test_an_expired_link_opens_nothing(api: support.Api, account: support.Account) -> None:
    # GIVEN a session made 31 minutes ago (links last 30)
    customer = ok(api.post("/v1/customers", {"name": "Late"}))
    now = Clock.system().now
    _, token = portal_sessions.create(account.id, customer["id"], None, None, Clock(now - 31 * 60))
    # WHEN its link is used THEN every portal route refuses it
    for path in ("/portal/api/overview", "/portal/api/invoices", "/portal/api/credits"):
        err(portal_get(api, path, token), 401, "invalid_request_error")
    # AND one made 29 minutes ago still works
    _, fresh = portal_sessions.create(account.id, customer["id"], None, None, Clock(now - 29 * 60))
    assert ok(portal_get(api, "/portal/api/overview", fresh))["customer"]["id"] == customer["id"]


def test_projection_rules() -> None:
    from tally.domain.aggregation import Formula
    from tally.domain.portal import project

    assert project(Formula.SUM, 40, 0, 10, 31) == 124
    assert project(Formula.COUNT, 1, 0, 2, 3) == 2  # 1.5 rounds half up
    assert project(Formula.LAST, 7, 0, 1, 31) == 7
    assert project(Formula.SUM, 5, 0, 0, 31) == 5 and project(Formula.SUM, 5, 0, 31, 31) == 5
    assert PortalSession  # the record a token carries


def test_the_credits_section_reads_the_credit_grants_api_when_it_exists(
    api: support.Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the credit grants routes in the API's table (issue 13's, stood in for here)
    from tally.api import portal
    from tally.api.routing import Route

    asked: list[tuple[str, str, dict[str, Any]]] = []
    grant = {
        "id": "credgr_1",
        "object": "billing.credit_grant",
        "name": "Welcome",
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 1000}},
    }

    def grants(request: Any) -> dict[str, Any]:
        asked.append((request.route_key, request.account, request.data))
        return {"object": "list", "data": [grant], "has_more": False, "url": "/v1/billing/credit_grants"}

    def summary(request: Any) -> dict[str, Any]:
        asked.append((request.route_key, request.account, request.data))
        return {
            "object": "billing.credit_balance_summary",
            "customer": request.data["customer"],
            "balances": [],
        }

    table = {
        portal.CREDIT_GRANTS: Route(portal.CREDIT_GRANTS, grants),
        portal.CREDIT_BALANCE: Route(portal.CREDIT_BALANCE, summary),
    }
    monkeypatch.setattr(portal, "_table", table)
    customer = ok(api.post("/v1/customers", {"name": "Credits"}))["id"]
    token = token_of(ok(api.post("/v1/billing_portal/sessions", {"customer": customer})))
    # WHEN the portal asks for credits with a link's token
    credits = ok(portal_get(api, "/portal/api/credits", token))
    # THEN it answers what those routes answer, for the link's account and customer only
    assert credits["available"] is True and credits["grants"]["data"] == [grant]
    assert credits["balance_summary"]["customer"] == customer
    scope = {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}}
    assert asked == [
        (portal.CREDIT_GRANTS, api.account.id, {"customer": customer, "limit": "100"}),
        (portal.CREDIT_BALANCE, api.account.id, {"customer": customer, "filter": scope}),
    ]

    # AND a credits route that refuses hides the section rather than failing the page
    def refuses(request: Any) -> dict[str, Any]:
        raise portal.StripeError("nope")

    monkeypatch.setattr(portal, "_table", {portal.CREDIT_GRANTS: Route(portal.CREDIT_GRANTS, refuses)})
    assert ok(portal_get(api, "/portal/api/credits", token))["available"] is False


def test_an_item_added_mid_period_counts_from_then(api: support.Api, traveller: Any) -> None:
    # GIVEN the March subscription, and on March 6 a second metered item (2 cents per unit):
    # 5 units on March 4 (before it was added), 7 on March 8
    made = setup_customer(api)
    customer = made["customer"]
    sub = ok(api.get("/v1/subscriptions", {"customer": customer["id"]}))["data"][0]
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "Images", "event_name": "images_mid", "default_aggregation": {"formula": "sum"}},
        )
    )
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 2,
                "product_data": {"name": "Images"},
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )
    move(traveller, ts(3, 6))
    ok(api.post("/v1/subscription_items", {"subscription": sub["id"], "price": price["id"]}))
    move(traveller, ts(3, 11))
    use(api, meter, customer, 5, ts(3, 4))
    use(api, meter, customer, 7, ts(3, 8))
    token = token_of(ok(api.post("/v1/billing_portal/sessions", {"customer": customer["id"]})))
    # WHEN the portal shows the period THEN the new item counts from March 6: 7 units, projected
    # 7 × 26 days / 5 days = 36.4 → 36; and the next invoice bills the same 7 units (14 cents)
    overview = ok(portal_get(api, "/portal/api/overview", token))
    (images,) = [u for u in overview["usage"] if u["meter"] == meter["id"]]
    assert (images["period_start"], images["usage_start"]) == (ts(3, 1), ts(3, 6))
    assert (images["total"], images["projected"]) == (7, 36)
    assert [s["aggregated_value"] for s in images["summaries"]] == [0, 0, 7, 0, 0]
    assert overview["upcoming_invoice"]["amount_due"] == 14


def test_usage_stamped_at_the_current_second_counts(api: support.Api, traveller: Any) -> None:
    # GIVEN the March subscription and 5 units stamped at the very second the portal is read
    # (an app reporting usage, then opening the portal, within one second: the e2e SDK test did)
    made = setup_customer(api)
    now = ts(3, 11) + 17
    move(traveller, now)
    use(api, made["meter"], made["customer"], 5, now)
    token = token_of(ok(api.post("/v1/billing_portal/sessions", {"customer": made["customer"]["id"]})))
    # WHEN the portal shows the period THEN those 5 units are in "so far" (the span ends after now)
    overview = ok(portal_get(api, "/portal/api/overview", token))
    (row,) = [u for u in overview["usage"] if u["meter"] == made["meter"]["id"]]
    assert row["total"] == 5
