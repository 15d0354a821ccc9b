"""/v1/customers through the API function: CRUD, metadata semantics, lists and the event log."""

from __future__ import annotations

import base64
import re

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")


def _create(api: support.Api, **data) -> dict:
    response = api.post("/v1/customers", data)
    assert response.status == 200, response.text
    return response.json


# -- create / retrieve --------------------------------------------------------------------------------
def test_create_returns_a_stripe_customer(api):
    # GIVEN a name, email and metadata WHEN a customer is created
    customer = _create(api, name="Jenny Rosen", email="jenny@example.com", metadata={"order": "6735"})
    # THEN it has Stripe's shape and echoes the fields
    assert re.fullmatch(r"cus_[A-Za-z0-9]{14}", customer["id"])
    assert customer["object"] == "customer"
    assert isinstance(customer["created"], int)
    assert customer["livemode"] is False
    assert (customer["name"], customer["email"]) == ("Jenny Rosen", "jenny@example.com")
    assert customer["metadata"] == {"order": "6735"}
    assert customer["balance"] == 0 and customer["delinquent"] is False


def test_create_accepts_json(api):
    # GIVEN a JSON body WHEN a customer is created THEN the same fields are read
    response = api.post("/v1/customers", json={"name": "Json", "metadata": {"k": "v"}})
    assert response.status == 200
    assert (response.json["name"], response.json["metadata"]) == ("Json", {"k": "v"})


def test_the_sample_event_creates_a_customer(api, functions):
    # GIVEN events/api_request.json exactly as API Gateway sends it (base64 form body), with our key
    event = support.load_event("api_request.json")
    event["headers"]["authorization"] = f"Bearer {api.key}"
    # WHEN the API function handles it
    from tally_local.gateway import LambdaContext

    result = functions.handler("ApiFunction")(event, LambdaContext("ApiFunction"))
    # THEN the customer in the sample body is created
    assert result["statusCode"] == 200, result["body"]
    created = support.Response(200, result["headers"], result["body"]).json
    expected = base64.b64decode(event["body"]).decode()
    assert "name=Jenny+Rosen" in expected
    assert (created["name"], created["metadata"]) == ("Jenny Rosen", {"order_id": "6735"})


def test_retrieve_returns_what_create_returned(api):
    # GIVEN a customer WHEN retrieved THEN the same object comes back
    customer = _create(api, name="A")
    response = api.get(f"/v1/customers/{customer['id']}")
    assert response.status == 200
    assert response.json == customer


def test_retrieve_missing_is_resource_missing(api):
    # GIVEN no such customer WHEN retrieved THEN 404 resource_missing naming the id
    response = api.get("/v1/customers/cus_missing")
    error = support.assert_stripe_error(response.status, response.json, 404, code="resource_missing")
    assert error["message"] == "No such customer: 'cus_missing'"
    assert error["param"] == "id"


def test_every_response_carries_a_request_id(api):
    # GIVEN any request WHEN answered (success or error) THEN a Request-Id header is set
    assert (api.get("/v1/customers").header("Request-Id") or "").startswith("req_")
    assert (api.get("/v1/customers/cus_missing").header("Request-Id") or "").startswith("req_")


def test_unknown_create_param_is_rejected(api):
    # GIVEN a typo in a param WHEN creating THEN 400 parameter_unknown naming it, and nothing stored
    response = api.post("/v1/customers", {"name": "A", "emial": "x@example.com"})
    support.assert_stripe_error(response.status, response.json, 400, code="parameter_unknown", param="emial")
    assert api.get("/v1/customers").json["data"] == []


# -- update ---------------------------------------------------------------------------------------------
def test_update_changes_only_the_given_fields(api):
    # GIVEN a customer with name and email WHEN only the name is updated THEN the email is kept
    customer = _create(api, name="A", email="a@example.com")
    updated = api.post(f"/v1/customers/{customer['id']}", {"name": "B"}).json
    assert (updated["name"], updated["email"]) == ("B", "a@example.com")
    assert api.get(f"/v1/customers/{customer['id']}").json == updated


def test_update_with_an_empty_string_unsets_a_field(api):
    # GIVEN a customer with an email WHEN email='' THEN the email is unset (null)
    customer = _create(api, email="a@example.com")
    assert api.post(f"/v1/customers/{customer['id']}", {"email": ""}).json["email"] is None


def test_metadata_update_merges_keys(api):
    # GIVEN metadata {a, b} WHEN updated with {b: new, c} THEN {a, b: new, c}
    customer = _create(api, metadata={"a": "1", "b": "2"})
    updated = api.post(f"/v1/customers/{customer['id']}", {"metadata": {"b": "20", "c": "3"}}).json
    assert updated["metadata"] == {"a": "1", "b": "20", "c": "3"}


def test_metadata_key_with_empty_value_is_deleted(api):
    # GIVEN metadata {a, b} WHEN metadata[a]='' THEN only b is left
    customer = _create(api, metadata={"a": "1", "b": "2"})
    assert api.post(f"/v1/customers/{customer['id']}", {"metadata": {"a": ""}}).json["metadata"] == {"b": "2"}


def test_empty_metadata_clears_all_keys(api):
    # GIVEN metadata {a, b} WHEN metadata='' THEN metadata is {}
    customer = _create(api, metadata={"a": "1", "b": "2"})
    assert api.post(f"/v1/customers/{customer['id']}", {"metadata": ""}).json["metadata"] == {}


def test_deleting_an_absent_metadata_key_is_harmless(api):
    # GIVEN metadata {a} WHEN metadata[zzz]='' THEN metadata is still {a}
    customer = _create(api, metadata={"a": "1"})
    assert api.post(f"/v1/customers/{customer['id']}", {"metadata": {"zzz": ""}}).json["metadata"] == {
        "a": "1"
    }


def test_update_missing_customer_is_404(api):
    # GIVEN no such customer WHEN updated THEN 404 resource_missing
    response = api.post("/v1/customers/cus_missing", {"name": "x"})
    support.assert_stripe_error(response.status, response.json, 404, code="resource_missing")


# -- delete ---------------------------------------------------------------------------------------------
def test_delete_returns_the_deleted_stub(api):
    # GIVEN a customer WHEN deleted THEN Stripe's deleted stub comes back
    customer = _create(api)
    response = api.delete(f"/v1/customers/{customer['id']}")
    assert response.status == 200
    assert response.json == {"id": customer["id"], "object": "customer", "deleted": True}


def test_a_deleted_customer_is_gone(api):
    # GIVEN a deleted customer WHEN retrieved THEN Stripe's deleted stub; listed or deleted again
    # THEN it is not there
    customer = _create(api)
    api.delete(f"/v1/customers/{customer['id']}")
    assert api.get(f"/v1/customers/{customer['id']}").json == {
        "id": customer["id"],
        "object": "customer",
        "deleted": True,
    }
    assert api.get("/v1/customers").json["data"] == []
    assert api.delete(f"/v1/customers/{customer['id']}").status == 404


# -- lists ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def listed(functions) -> tuple[support.Api, list[str]]:
    """One account with 25 customers (ids newest first), shared by the read-only list tests."""
    api = support.Api(functions, support.new_account())
    ids = [_create(api, name=f"c{i}", email=f"c{i % 5}@example.com")["id"] for i in range(25)]
    return api, ids[::-1]


def test_list_is_newest_first_with_default_limit_ten(listed):
    # GIVEN 25 customers WHEN listed without params THEN the 10 newest, newest first, has_more
    api, ids = listed
    page = api.get("/v1/customers").json
    assert (page["object"], page["url"]) == ("list", "/v1/customers")
    assert [c["id"] for c in page["data"]] == ids[:10]
    assert page["has_more"] is True


def test_list_limit_100_returns_everything(listed):
    # GIVEN 25 customers WHEN limit=100 THEN all 25 and no more
    api, ids = listed
    page = api.get("/v1/customers", {"limit": 100}).json
    assert [c["id"] for c in page["data"]] == ids
    assert page["has_more"] is False


def test_list_limit_exactly_the_count_has_no_more(listed):
    # GIVEN 25 customers WHEN limit=25 THEN all 25 and has_more is false
    api, _ = listed
    page = api.get("/v1/customers", {"limit": 25}).json
    assert len(page["data"]) == 25 and page["has_more"] is False


def test_starting_after_walks_forward_through_every_customer(listed):
    # GIVEN 25 customers WHEN paging with starting_after and limit 10
    api, ids = listed
    seen, pages, after = [], [], None
    while True:
        page = api.get("/v1/customers", {"limit": 10, **({"starting_after": after} if after else {})}).json
        pages.append((len(page["data"]), page["has_more"]))
        seen += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    # THEN pages of 10, 10, 5 cover every customer once, in order
    assert pages == [(10, True), (10, True), (5, False)]
    assert seen == ids


def test_ending_before_walks_backward(listed):
    # GIVEN 25 customers WHEN asking for the 10 before the 21st newest
    api, ids = listed
    page = api.get("/v1/customers", {"limit": 10, "ending_before": ids[20]}).json
    # THEN the 11th–20th newest come back, still newest first, and there are more before them
    assert [c["id"] for c in page["data"]] == ids[10:20]
    assert page["has_more"] is True


def test_ending_before_the_newest_is_empty(listed):
    # GIVEN 25 customers WHEN ending_before the newest THEN nothing and no more
    api, ids = listed
    page = api.get("/v1/customers", {"ending_before": ids[0]}).json
    assert (page["data"], page["has_more"]) == ([], False)


def test_list_filters_by_email(listed):
    # GIVEN 5 of 25 customers with email c3@example.com WHEN listed by email THEN exactly those
    api, ids = listed
    page = api.get("/v1/customers", {"email": "c3@example.com", "limit": 100}).json
    assert [c["id"] for c in page["data"]] == [ids[24 - i] for i in (23, 18, 13, 8, 3)]


def test_list_filters_by_created(listed):
    # GIVEN customers created up to now WHEN created[gt] is in the future THEN none
    api, ids = listed
    newest = api.get(f"/v1/customers/{ids[0]}").json
    assert api.get("/v1/customers", {"created": {"gt": newest["created"]}}).json["data"] == []
    assert len(api.get("/v1/customers", {"created": {"lte": newest["created"]}}).json["data"]) == 10


@pytest.mark.parametrize("limit", [0, 101, -1, "ten"])
def test_list_limit_out_of_range_is_rejected(api, limit):
    # GIVEN limit outside 1..100 (or not a number) WHEN listing THEN 400 naming limit
    response = api.get("/v1/customers", {"limit": limit})
    support.assert_stripe_error(response.status, response.json, 400, param="limit")


def test_starting_after_and_ending_before_together_are_rejected(api):
    # GIVEN both cursors WHEN listing THEN 400
    customer = _create(api)
    response = api.get("/v1/customers", {"starting_after": customer["id"], "ending_before": customer["id"]})
    support.assert_stripe_error(response.status, response.json, 400)


def test_an_unknown_cursor_is_resource_missing_naming_the_cursor(api):
    # GIVEN a cursor id that does not exist WHEN listing THEN 404 naming starting_after
    response = api.get("/v1/customers", {"starting_after": "cus_missing"})
    support.assert_stripe_error(response.status, response.json, 404, param="starting_after")


def test_unknown_list_param_is_rejected(api):
    # GIVEN an unknown query param WHEN listing THEN 400 parameter_unknown naming it
    response = api.get("/v1/customers", {"limt": 3})
    support.assert_stripe_error(response.status, response.json, 400, code="parameter_unknown", param="limt")


# -- event log ------------------------------------------------------------------------------------------
def test_create_writes_customer_created(api):
    # GIVEN a create with an Idempotency-Key WHEN it succeeds
    response = api.post("/v1/customers", {"name": "A"}, headers={"Idempotency-Key": "create-1"})
    # THEN exactly one customer.created event holds the object, the request id and the key
    events = support.stored_events(api.account.id)
    assert [e["type"] for e in events] == ["customer.created"]
    event = events[0]
    assert event["data"]["object"] == response.json
    assert event["request"] == {"id": response.header("Request-Id"), "idempotency_key": "create-1"}
    assert event["id"].startswith("evt_") and event["object"] == "event"


def test_update_writes_customer_updated_with_previous_attributes(api):
    # GIVEN a customer WHEN its name and metadata change
    customer = _create(api, name="A", metadata={"k": "1"})
    api.post(f"/v1/customers/{customer['id']}", {"name": "B", "metadata": {"k": "2"}})
    # THEN customer.updated records the new object and the previous values of what changed
    event = support.stored_events(api.account.id)[0]
    assert event["type"] == "customer.updated"
    assert event["data"]["object"]["name"] == "B"
    assert event["data"]["previous_attributes"] == {"name": "A", "metadata": {"k": "1"}}


def test_an_update_that_changes_nothing_writes_no_event(api):
    # GIVEN a customer WHEN updated with its current values THEN no customer.updated event
    customer = _create(api, name="A")
    api.post(f"/v1/customers/{customer['id']}", {"name": "A"})
    assert [e["type"] for e in support.stored_events(api.account.id)] == ["customer.created"]


def test_delete_writes_customer_deleted(api):
    # GIVEN a customer WHEN deleted THEN customer.deleted holds the last state of the object
    customer = _create(api, name="A")
    api.delete(f"/v1/customers/{customer['id']}")
    event = support.stored_events(api.account.id)[0]
    assert event["type"] == "customer.deleted"
    assert event["data"]["object"] == customer


def test_a_rejected_request_writes_no_event(api):
    # GIVEN an invalid create WHEN rejected THEN the event log stays empty
    api.post("/v1/customers", {"name": "A", "bogus": "1"})
    assert support.stored_events(api.account.id) == []
