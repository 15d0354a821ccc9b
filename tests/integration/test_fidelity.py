"""Small Stripe fidelity (issue 12 point 10): a deleted customer reads as deleted, and a route
Tally does not serve names Tally's own "Not supported yet" list."""

from __future__ import annotations

from typing import Any

import pytest
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
