"""Small Stripe fidelity (issue 12 point 10): a deleted customer reads as deleted, and a route
Tally does not serve names Tally's own "Not supported yet" list."""

from __future__ import annotations

from typing import Any

import pytest
import stripe_shapes
import support

pytestmark = pytest.mark.usefixtures("moto_tables")


def ok(response: support.Response, status: int = 200) -> dict[str, Any]:
    assert response.status == status, response.text
    return response.json


# -- a deleted customer ----------------------------------------------------------------------------
def test_retrieving_a_deleted_customer_answers_200_deleted(api):
    # GIVEN a customer, deleted
    customer = ok(api.post("/v1/customers", {"name": "Gone"}))["id"]
    ok(api.delete(f"/v1/customers/{customer}"))
    # WHEN retrieved THEN Stripe's deleted stub, 200
    assert ok(api.get(f"/v1/customers/{customer}")) == {"id": customer, "object": "customer", "deleted": True}


def test_a_deleted_customer_stays_out_of_reach_otherwise(api, other_account):
    # GIVEN a deleted customer
    customer = ok(api.post("/v1/customers", {"name": "Gone"}))["id"]
    ok(api.delete(f"/v1/customers/{customer}"))
    # THEN updating or deleting it again is a 404, it is not listed, and another account sees no stub
    support.assert_stripe_error(
        *_sc(api.post(f"/v1/customers/{customer}", {"name": "Back"})), 404, code="resource_missing"
    )
    support.assert_stripe_error(*_sc(api.delete(f"/v1/customers/{customer}")), 404, code="resource_missing")
    assert customer not in [c["id"] for c in ok(api.get("/v1/customers"))["data"]]
    support.assert_stripe_error(
        *_sc(api.as_(other_account).get(f"/v1/customers/{customer}")), 404, code="resource_missing"
    )
    # AND a customer that never existed is still a 404
    support.assert_stripe_error(*_sc(api.get("/v1/customers/cus_never")), 404, code="resource_missing")


def _sc(response: support.Response) -> tuple[int, Any]:
    return response.status, response.json


# -- unsupported routes ----------------------------------------------------------------------------
def test_an_unsupported_route_names_tallys_not_supported_list(api):
    # WHEN a route Tally does not serve is called
    response = api.post("/v1/coupons", {"percent_off": "10"})
    # THEN Stripe's 404 shape, whose message points at docs/API.md "Not supported yet", not at Stripe
    error = support.assert_stripe_error(response.status, response.json, 404, type="invalid_request_error")
    message = error["message"]
    assert message.startswith("Unrecognized request URL (POST: /v1/coupons).")
    assert '"Not supported yet"' in message and "docs/API.md" in message
    assert "stripe.com" not in message


# -- invoices search -------------------------------------------------------------------------------
def _invoices(api: support.Api) -> dict[str, Any]:
    """Two customers: A subscribed at 1,000 (its creation invoice), B at 2,500; A's invoice paid."""
    price_a, price_b = (
        ok(
            api.post(
                "/v1/prices",
                {
                    "currency": "usd",
                    "unit_amount": amount,
                    "recurring": {"interval": "month"},
                    "product_data": {"name": "Seat"},
                },
            )
        )["id"]
        for amount in (1000, 2500)
    )
    a, b = (ok(api.post("/v1/customers", {"name": n}))["id"] for n in ("A", "B"))
    sub_a = ok(api.post("/v1/subscriptions", {"customer": a, "items": [{"price": price_a}]}))
    sub_b = ok(api.post("/v1/subscriptions", {"customer": b, "items": [{"price": price_b}]}))
    inv_a, inv_b = sub_a["latest_invoice"], sub_b["latest_invoice"]
    ok(api.post(f"/v1/invoices/{inv_a}/pay", {"paid_out_of_band": "true"}))
    ok(api.post(f"/v1/invoices/{inv_b}", {"metadata": {"region": "EU"}}))
    return {"a": a, "b": b, "sub_a": sub_a["id"], "sub_b": sub_b["id"], "inv_a": inv_a, "inv_b": inv_b}


def _found(api: support.Api, query: str, **params: Any) -> list[str]:
    result = ok(api.get("/v1/invoices/search", {"query": query, **params}))
    assert result["object"] == "search_result" and result["url"] == "/v1/invoices/search"
    assert all(i["object"] == "invoice" and stripe_shapes.problems(i) == [] for i in result["data"])
    return [i["id"] for i in result["data"]]


def test_invoices_search_takes_stripes_invoice_fields(api):
    # GIVEN two customers' creation invoices, A's paid, B's with metadata
    s = _invoices(api)
    number = ok(api.get(f"/v1/invoices/{s['inv_b']}"))["number"]
    # THEN each of Stripe's invoice search fields selects what it names, newest first
    assert _found(api, f"customer:'{s['a']}'") == [s["inv_a"]]
    assert _found(api, "status:'paid'") == [s["inv_a"]]
    assert _found(api, "status:'PAID' OR status:'open'") == [s["inv_b"], s["inv_a"]]
    assert _found(api, f"subscription:'{s['sub_b']}'") == [s["inv_b"]]
    assert _found(api, "total>1000") == [s["inv_b"]]
    assert _found(api, "total:1000 AND currency:'usd'") == [s["inv_a"]]
    assert _found(api, "metadata['region']:'eu'") == [s["inv_b"]]
    assert _found(api, f"number:'{number}'") == [s["inv_b"]]
    assert _found(api, "receipt_number:null", limit=1) == [s["inv_b"]]
    created_a = ok(api.get(f"/v1/invoices/{s['inv_a']}"))["created"]
    assert _found(api, f"created>={created_a} -status:'paid'") == [s["inv_b"]]
    assert _found(api, f"customer:'{s['a']}' AND status:'open'") == []


def test_invoices_search_refuses_what_stripe_refuses(api):
    # GIVEN a field invoices do not search, a comparison on text, and no query
    for params, param in (
        ({"query": "email:'x@example.com'"}, "query"),
        ({"query": "status>'paid'"}, "query"),
        ({"query": "status:'sent'"}, "query"),
        ({"query": "total:'ten'"}, "query"),
        ({}, "query"),
        ({"query": "status:'paid'", "customer": "cus_x"}, "customer"),
    ):
        response = api.get("/v1/invoices/search", params)
        support.assert_stripe_error(response.status, response.json, 400, param=param)
