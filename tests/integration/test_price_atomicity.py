"""A price with `product_data`, and a lookup-key transfer, are each ONE transaction.

Crash points: none between writes any more — each request makes a single TransactWriteItems. The
tests inject a failure at every transaction the request makes (`support.TransactionCrash`) and
check that nothing is half-written (no orphan product, no price without the key it held), then
retry.
"""

from __future__ import annotations

from typing import Any

import pytest
import support


def ok(response: support.Response, status: int = 200) -> dict[str, Any]:
    assert response.status == status, response.text
    return response.json


def _types(api: support.Api) -> list[str]:
    return sorted(e["type"] for e in support.stored_events(api.account.id))


def _listed(api: support.Api, path: str) -> list[str]:
    return [o["id"] for o in ok(api.get(path, {"limit": 100}))["data"]]


INLINE = {"currency": "usd", "unit_amount": 5, "lookup_key": "std", "product_data": {"name": "Inline"}}


@pytest.mark.parametrize("crash_at", [1, 2])
def test_a_crash_creating_a_price_with_product_data_leaves_no_orphan_product(api, crash_at):
    # GIVEN an account WHEN a price with product_data crashes at its `crash_at`-th transaction
    with support.TransactionCrash(at=crash_at) as crash:
        response = api.post("/v1/prices", INLINE)
    if crash.calls < crash_at:  # the request made fewer transactions: nothing to crash
        assert response.status == 200
        return
    # THEN nothing at all is stored: no product, no price, no event
    assert response.status == 500
    assert _listed(api, "/v1/products") == [] and _listed(api, "/v1/prices") == []
    assert _types(api) == []
    # WHEN retried THEN one product and one price, each with its event
    price = ok(api.post("/v1/prices", INLINE))
    assert _listed(api, "/v1/products") == [price["product"]]
    assert _types(api) == ["price.created", "product.created"]


def test_a_taken_lookup_key_leaves_no_product_behind(api):
    # GIVEN a price holding a lookup key
    ok(api.post("/v1/prices", INLINE))
    # WHEN a second price with product_data claims the same key (the claim fails in the store:
    # the first request's read of the claim is bypassed, as when both race)
    from tally.store import claims

    real = claims.owner_of
    claims.owner_of = lambda *args: None  # type: ignore[assignment]
    try:
        taken = api.post("/v1/prices", {**INLINE, "product_data": {"name": "Second"}})
    finally:
        claims.owner_of = real  # type: ignore[assignment]
    # THEN 400 on lookup_key, and neither a product nor an event was added
    support.assert_stripe_error(taken.status, taken.json, 400, param="lookup_key")
    assert len(_listed(api, "/v1/products")) == 1
    assert _types(api) == ["price.created", "product.created"]


@pytest.mark.parametrize("crash_at", [1, 2])
def test_a_crash_during_a_transfer_never_leaves_the_old_price_without_its_key(api, crash_at):
    # GIVEN a price holding a lookup key
    product = ok(api.post("/v1/products", {"name": "P"}))["id"]
    old = ok(
        api.post("/v1/prices", {"product": product, "currency": "usd", "unit_amount": 1, "lookup_key": "k"})
    )
    new = {
        "product": product,
        "currency": "usd",
        "unit_amount": 2,
        "lookup_key": "k",
        "transfer_lookup_key": "true",
    }
    # WHEN a new price taking it with transfer_lookup_key crashes at its `crash_at`-th transaction
    with support.TransactionCrash(at=crash_at) as crash:
        response = api.post("/v1/prices", new)
    if crash.calls < crash_at:
        assert response.status == 200
        return
    # THEN the old price still holds the key, and no price.updated event was written
    assert response.status == 500
    assert ok(api.get(f"/v1/prices/{old['id']}"))["lookup_key"] == "k"
    assert [p["id"] for p in ok(api.get("/v1/prices", {"lookup_keys": ["k"]}))["data"]] == [old["id"]]
    assert "price.updated" not in _types(api)
    # WHEN retried THEN the key moved: the new price holds it, the old one lost it (one event each)
    moved = ok(api.post("/v1/prices", new))
    assert ok(api.get(f"/v1/prices/{old['id']}"))["lookup_key"] is None
    assert [p["id"] for p in ok(api.get("/v1/prices", {"lookup_keys": ["k"]}))["data"]] == [moved["id"]]
    assert _types(api).count("price.updated") == 1


def test_a_transfer_racing_another_changes_nothing(api, monkeypatch):
    # GIVEN price A holding key k; a request moving k to a new price C read A as the holder, then
    # another transfer moved k to B before C's transaction
    from tally.billing import prices

    product = ok(api.post("/v1/products", {"name": "P"}))["id"]
    base = {"product": product, "currency": "usd", "unit_amount": 1}
    a = ok(api.post("/v1/prices", {**base, "lookup_key": "k"}))["id"]
    real = prices._without_key
    b: list[str] = []
    raced: list[bool] = []

    def read_then_raced(*args):
        write = real(*args)
        if not raced:  # once: the racing request itself runs unpatched
            raced.append(True)
            b.append(
                ok(api.post("/v1/prices", {**base, "lookup_key": "k", "transfer_lookup_key": "true"}))["id"]
            )
        return write

    monkeypatch.setattr(prices, "_without_key", read_then_raced)
    # WHEN C's transfer commits
    late = api.post(
        "/v1/prices", {**base, "unit_amount": 3, "lookup_key": "k", "transfer_lookup_key": "true"}
    )
    # THEN it fails whole: B holds the key, A lost it to B only, C does not exist
    support.assert_stripe_error(late.status, late.json, 400, param="lookup_key")
    assert [p["id"] for p in ok(api.get("/v1/prices", {"lookup_keys": ["k"]}))["data"]] == b
    assert ok(api.get(f"/v1/prices/{a}"))["lookup_key"] is None
    assert len(_listed(api, "/v1/prices")) == 2
    assert _types(api).count("price.updated") == 1


def test_a_price_update_transfer_is_one_transaction(api):
    # GIVEN price A holding key k and price B holding key j
    product = ok(api.post("/v1/products", {"name": "P"}))["id"]
    base = {"product": product, "currency": "usd", "unit_amount": 1}
    a = ok(api.post("/v1/prices", {**base, "lookup_key": "k"}))["id"]
    b = ok(api.post("/v1/prices", {**base, "lookup_key": "j"}))["id"]
    # WHEN B takes k with transfer_lookup_key, counting transactions
    with support.TransactionCrash(at=0) as counted:
        ok(api.post(f"/v1/prices/{b}", {"lookup_key": "k", "transfer_lookup_key": "true"}))
    # THEN one transaction: B holds k, A holds nothing, j is free again
    assert counted.calls == 1
    assert [p["id"] for p in ok(api.get("/v1/prices", {"lookup_keys": ["k"]}))["data"]] == [b]
    assert ok(api.get(f"/v1/prices/{a}"))["lookup_key"] is None
    ok(api.post("/v1/prices", {**base, "lookup_key": "j"}))
