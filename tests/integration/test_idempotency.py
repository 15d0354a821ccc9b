"""Idempotency-Key on POST: replays, reuse with other params, failures not saved, per-account keys,
and a second request arriving while the first is still running."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import support
import time_machine

pytestmark = pytest.mark.usefixtures("moto_tables")


def _post(api: support.Api, data: dict, key: str, path: str = "/v1/customers") -> support.Response:
    return api.post(path, data, headers={"Idempotency-Key": key})


def _customer_ids(api: support.Api) -> list[str]:
    return [c["id"] for c in api.get("/v1/customers", {"limit": 100}).json["data"]]


def test_a_retry_replays_the_first_response(api):
    # GIVEN a create with an Idempotency-Key WHEN the same request is sent again
    first = _post(api, {"name": "A", "metadata": {"k": "v"}}, "key-1")
    again = _post(api, {"name": "A", "metadata": {"k": "v"}}, "key-1")
    # THEN the same status and body come back, marked as replayed
    assert (again.status, again.json) == (first.status, first.json)
    assert again.header("Idempotent-Replayed") == "true"
    assert again.header("Idempotency-Key") == "key-1"


def test_a_replayed_body_is_byte_identical(api):
    # GIVEN a create with an Idempotency-Key WHEN replayed
    first = _post(api, {"name": "A"}, "key-1")
    again = _post(api, {"name": "A"}, "key-1")
    # THEN the body is the same text, field order included (id and object first, as Stripe sends)
    assert again.header("Idempotent-Replayed") == "true"
    assert again.text == first.text


def test_the_first_response_is_not_marked_replayed(api):
    # GIVEN a new key WHEN first used THEN no Idempotent-Replayed header
    assert _post(api, {"name": "A"}, "key-1").header("Idempotent-Replayed") is None


def test_a_replay_creates_nothing_more(api):
    # GIVEN a create sent three times with one key WHEN listed THEN one customer and one event
    for _ in range(3):
        _post(api, {"name": "A"}, "key-1")
    assert len(_customer_ids(api)) == 1
    assert [e["type"] for e in support.stored_events(api.account.id)] == ["customer.created"]


def test_the_same_key_with_other_params_is_an_idempotency_error(api):
    # GIVEN a key used for name=A WHEN reused for name=B THEN 400 idempotency_error and nothing new
    _post(api, {"name": "A"}, "key-1")
    response = _post(api, {"name": "B"}, "key-1")
    error = support.assert_stripe_error(response.status, response.json, 400, type="idempotency_error")
    assert "key-1" in error["message"]
    assert len(_customer_ids(api)) == 1


def test_the_same_key_on_another_path_is_an_idempotency_error(api):
    # GIVEN a key used to create a customer WHEN reused to update that customer THEN idempotency_error
    customer = _post(api, {"name": "A"}, "key-1").json
    response = _post(api, {"name": "A"}, "key-1", path=f"/v1/customers/{customer['id']}")
    support.assert_stripe_error(response.status, response.json, 400, type="idempotency_error")


def test_a_rejected_request_is_not_saved_so_a_corrected_retry_runs(api):
    # GIVEN a create rejected for an unknown param under key-1
    rejected = _post(api, {"name": "A", "nmae": "typo"}, "key-1")
    assert rejected.status == 400
    # WHEN the corrected request is sent with the same key
    corrected = _post(api, {"name": "A"}, "key-1")
    # THEN it runs (not an idempotency_error, not a replay of the 400)
    assert corrected.status == 200, corrected.text
    assert corrected.header("Idempotent-Replayed") is None
    assert _customer_ids(api) == [corrected.json["id"]]


def test_a_404_is_not_saved(api):
    # GIVEN an update of a missing customer rejected under key-1 WHEN the key is used for a create
    assert _post(api, {"name": "A"}, "key-1", path="/v1/customers/cus_missing").status == 404
    # THEN the create is not an idempotency_error: the failure left no record
    assert _post(api, {"name": "A"}, "key-1").status == 200


def test_keys_are_per_account(api, other_account):
    # GIVEN account A used key-1 WHEN account B uses key-1 with other params
    mine = _post(api, {"name": "A"}, "key-1").json
    other = api.as_(other_account)
    theirs = _post(other, {"name": "B"}, "key-1")
    # THEN B gets its own new customer: no error, no replay of A's
    assert theirs.status == 200 and theirs.header("Idempotent-Replayed") is None
    assert theirs.json["id"] != mine["id"] and theirs.json["name"] == "B"
    assert _customer_ids(other) == [theirs.json["id"]]


def test_a_request_in_flight_with_the_same_key_is_409(api, functions, monkeypatch):
    # GIVEN the create handler, while running, sees a second delivery of the same request arrive
    routes = functions.route_table("ApiFunction")
    original = routes["POST /v1/customers"]
    concurrent: list[support.Response] = []

    def while_in_flight(request):
        if not concurrent:  # only the first request triggers the duplicate
            concurrent.append(_post(api, {"name": "A"}, "key-1"))
        return original.handler(request)

    monkeypatch.setitem(routes, original.key, dataclasses.replace(original, handler=while_in_flight))
    # WHEN the first request runs
    first = _post(api, {"name": "A"}, "key-1")
    # THEN the duplicate got 409 (retryable), the first succeeded, and only one customer exists
    support.assert_stripe_error(concurrent[0].status, concurrent[0].json, 409)
    assert first.status == 200
    assert _customer_ids(api) == [first.json["id"]]
    # AND a retry of the duplicate, now that the first is done, replays the first response
    retry = _post(api, {"name": "A"}, "key-1")
    assert (retry.json, retry.header("Idempotent-Replayed")) == (first.json, "true")


def test_replays_last_at_least_24_hours(api):
    # GIVEN a create with key-1 WHEN retried 23 hours later THEN still replayed
    first = _post(api, {"name": "A"}, "key-1")
    with time_machine.travel(timedelta(hours=23)):
        again = _post(api, {"name": "A"}, "key-1")
    assert (again.json, again.header("Idempotent-Replayed")) == (first.json, "true")


def test_a_key_is_free_again_after_its_retention(api):
    # GIVEN a create with key-1 WHEN the same request comes 25 hours later (past the 24 h retention)
    first = _post(api, {"name": "A"}, "key-1")
    with time_machine.travel(timedelta(hours=25)):
        later = _post(api, {"name": "A"}, "key-1")
    # THEN it runs as a new request (moto never deletes by TTL: expiry must be checked on read)
    assert later.status == 200 and later.header("Idempotent-Replayed") is None
    assert later.json["id"] != first.json["id"]


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_empty_or_over_long_key_is_rejected(api, key):
    # GIVEN an Idempotency-Key that is empty or over 255 characters WHEN posting THEN 400, nothing stored
    response = _post(api, {"name": "A"}, key)
    support.assert_stripe_error(response.status, response.json, 400, param="Idempotency-Key")
    assert _customer_ids(api) == []


def test_a_255_character_key_is_accepted(api):
    # GIVEN a key of exactly 255 characters WHEN used twice THEN the second is a replay
    _post(api, {"name": "A"}, "k" * 255)
    assert _post(api, {"name": "A"}, "k" * 255).header("Idempotent-Replayed") == "true"


def test_get_ignores_the_idempotency_key(api):
    # GIVEN a list with key-1 WHEN a customer is created and the list is repeated with key-1
    before = api.get("/v1/customers", headers={"Idempotency-Key": "key-1"})
    api.post("/v1/customers", {"name": "A"})
    after = api.get("/v1/customers", headers={"Idempotency-Key": "key-1"})
    # THEN the second list is fresh, not a replay
    assert before.json["data"] == [] and len(after.json["data"]) == 1
    assert after.header("Idempotent-Replayed") is None
