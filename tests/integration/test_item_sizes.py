"""Hostile input at the size limits of every route: the answer is a 2xx or a clean 4xx — never a
5xx because a DynamoDB item outgrew 400 KB — and after each scenario every stored item of every
table is under 400 KB (sized independently by tests/item_sizes.py, since moto sizes items its own
way). Values use random characters (4-byte ones where it matters) so compression cannot hide a
size problem behind repetition.
"""

from __future__ import annotations

import json
import random
from typing import Any

import item_sizes
import pytest
import support

EMOJI = [chr(c) for c in range(0x1F300, 0x1FAF0)]
PLANE = [chr(c) for c in range(0x10000, 0x10FFFF, 7)]  # any 4-byte character, hardly compressible
ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def text(n: int, alphabet: Any = PLANE, seed: int = 0) -> str:
    rnd = random.Random(seed)
    return "".join(rnd.choice(alphabet) for _ in range(n))


def metadata(alphabet: Any = PLANE, seed: int = 0, keys: int = 50, length: int = 500) -> dict[str, str]:
    return {f"k{i:02d}{'x' * 37}": text(length, alphabet, seed * 100 + i) for i in range(keys)}


def fine(resp: support.Response, *allowed_4xx: str) -> bool:
    """True for a 2xx; a 4xx must be a Stripe error; a 5xx fails the test."""
    assert resp.status < 500, resp.text[:500]
    if resp.status >= 400:
        error = support.assert_stripe_error(resp.status, resp.json)
        if allowed_4xx:
            assert error.get("code") in allowed_4xx, error
        return False
    return True


@pytest.fixture
def check_sizes(moto_tables: dict[str, str]):
    yield
    item_sizes.assert_all_items_fit(moto_tables)


pytestmark = pytest.mark.usefixtures("check_sizes")


def test_customer_with_max_metadata_of_4_byte_characters(api):
    # GIVEN a customer with every field at its limit in 4-byte characters
    fields = {"name": text(256), "description": text(350, seed=1), "email": "a@b.co", "phone": "1" * 20}
    resp = api.post("/v1/customers", json={**fields, "metadata": metadata(seed=2)})
    # THEN it is created
    assert fine(resp)
    # WHEN every metadata value is replaced (the event keeps the object and previous_attributes)
    resp = api.post(f"/v1/customers/{resp.json['id']}", json={"metadata": metadata(seed=3)})
    # THEN it is updated, and the event reads back with the new values
    assert fine(resp)
    events = api.get("/v1/events", {"type": "customer.updated"}).json["data"]
    assert events[0]["data"]["object"]["metadata"] == metadata(seed=3)
    assert events[0]["data"]["previous_attributes"]["metadata"] == metadata(seed=2)


def test_product_update_with_40000_character_non_ascii_description(api):
    # GIVEN a product with a 40,000-character emoji description
    resp = api.post("/v1/products", json={"name": "P", "description": text(40_000, EMOJI, 1)})
    assert fine(resp)
    # WHEN the description is replaced by another one
    resp = api.post(f"/v1/products/{resp.json['id']}", json={"description": text(40_000, EMOJI, 2)})
    # THEN it is updated and the event (object + previous_attributes) reads back whole
    assert fine(resp)
    event = api.get("/v1/events", {"type": "product.updated"}).json["data"][0]
    assert event["data"]["object"]["description"] == text(40_000, EMOJI, 2)
    assert event["data"]["previous_attributes"]["description"] == text(40_000, EMOJI, 1)
    one = api.get(f"/v1/events/{event['id']}")
    assert one.status == 200 and one.json == event


def test_product_at_every_limit_in_hardly_compressible_characters(api):
    # GIVEN a product with description and metadata at their limits in random 4-byte characters
    body = {"name": text(250), "description": text(40_000, seed=1), "metadata": metadata(seed=2)}
    resp = api.post("/v1/products", json=body)
    assert fine(resp)
    # WHEN both are replaced at once (the event would hold ~520 KB of such text)
    update = {"description": text(40_000, seed=3), "metadata": metadata(seed=4)}
    resp = api.post(f"/v1/products/{resp.json['id']}", json=update)
    # THEN a 2xx or a clean 400 that names what is too large; never a 5xx
    if not fine(resp, "object_too_large"):
        assert resp.json["error"]["param"] in ("description", "metadata")


def test_price_with_max_tiers_metadata_and_product_data(api):
    # GIVEN a tiered price with 100 tiers, max metadata and nickname, and max product_data
    tiers = [{"up_to": i + 1, "unit_amount_decimal": "99999998.999999999999"} for i in range(99)]
    tiers.append({"up_to": "inf", "flat_amount": 99_999_999})
    body = {
        "currency": "usd",
        "billing_scheme": "tiered",
        "tiers_mode": "graduated",
        "tiers": tiers,
        "recurring": {"interval": "month"},
        "nickname": text(5000, seed=1),
        "metadata": metadata(seed=2),
        "product_data": {"name": text(250), "metadata": metadata(seed=3)},
    }
    resp = api.post("/v1/prices", json=body)
    assert fine(resp)
    # WHEN its metadata is replaced THEN 2xx
    assert fine(api.post(f"/v1/prices/{resp.json['id']}", json={"metadata": metadata(seed=4)}))


def _prices(api: support.Api, n: int, meta: dict[str, str] | None = None, seed: int = 0) -> list[str]:
    out = []
    for i in range(n):
        body = {
            "currency": "usd",
            "unit_amount": 100,
            "recurring": {"interval": "month"},
            "product_data": {"name": f"P{i}"},
            "metadata": meta if meta is not None else metadata(seed=seed + i),
        }
        resp = api.post("/v1/prices", json=body)
        assert resp.status == 200, resp.text
        out.append(resp.json["id"])
    return out


def test_subscription_of_10_prices_with_50x500_character_metadata(api):
    # GIVEN ten prices carrying 50×500-character metadata (as reproduced in issue 6)
    prices = _prices(api, 10, metadata(ASCII))
    customer = api.post("/v1/customers", {"name": "C"}).json
    # WHEN a subscription names them all (its event embeds each price twice: price and plan)
    resp = api.post(
        "/v1/subscriptions", json={"customer": customer["id"], "items": [{"price": p} for p in prices]}
    )
    # THEN it is created, and its event reads back
    assert fine(resp)
    event = api.get("/v1/events", {"type": "customer.subscription.created"}).json["data"][0]
    assert event["data"]["object"]["id"] == resp.json["id"]


def test_subscription_of_20_prices_with_max_4_byte_metadata(api):
    # GIVEN twenty prices with max metadata in random 4-byte characters
    prices = _prices(api, 20, seed=10)
    customer = api.post("/v1/customers", {"name": "C"}).json
    items = [{"price": p, "metadata": metadata(seed=40 + i, keys=5)} for i, p in enumerate(prices)]
    # WHEN a subscription names them all, with metadata of its own
    resp = api.post(
        "/v1/subscriptions", json={"customer": customer["id"], "items": items, "metadata": metadata(seed=99)}
    )
    # THEN a 2xx or a clean 400 naming items; never a 5xx
    if not fine(resp, "object_too_large"):
        assert resp.json["error"]["param"] == "items"
        assert api.get("/v1/subscriptions").json["data"] == []


def _big_batch(customer: str) -> dict[str, Any]:
    payload_keys = {f"p{j:02d}{'y' * 95}": None for j in range(12)}
    events = [
        {
            "event_name": "big",
            "identifier": f"id{i}",
            "payload": {
                "stripe_customer_id": customer,
                "value": "1",
                **{k: text(480, ASCII, i * 100 + j) for j, k in enumerate(payload_keys)},
            },
        }
        for i in range(100)
    ]
    return {"events": events}


def test_resending_a_700kb_v2_batch_of_duplicates_with_a_new_idempotency_key(api):
    # GIVEN a meter, a customer and a ~700 KB batch of 100 events, accepted once
    api.post(
        "/v1/billing/meters",
        {"display_name": "Big", "event_name": "big", "default_aggregation": {"formula": "sum"}},
    )
    customer = api.post("/v1/customers", {"name": "C"}).json["id"]
    batch = _big_batch(customer)
    first = api.post("/v2/billing/meter_event_stream", json=batch)
    assert first.status == 200 and first.json["accepted"] == 100, first.text[:300]
    # WHEN it is re-sent with a new Idempotency-Key (the answer lists 100 standing events)
    headers = {"Idempotency-Key": "resend-1"}
    again = api.post("/v2/billing/meter_event_stream", json=batch, headers=headers)
    # THEN it answers 200 with every event a duplicate
    assert again.status == 200, again.text[:300]
    assert again.json["accepted"] == 0 and len(again.json["duplicates"]) == 100
    # AND the same key keeps answering the same 200 (never 409 or 500)
    for _ in range(2):
        replay = api.post("/v2/billing/meter_event_stream", json=batch, headers=headers)
        assert replay.status == 200, replay.text[:300]
        assert replay.json == again.json


def test_100_event_v2_batch_with_max_4_byte_payloads(api):
    # GIVEN a meter and a customer
    api.post(
        "/v1/billing/meters",
        {"display_name": "Big", "event_name": "big", "default_aggregation": {"formula": "sum"}},
    )
    customer = api.post("/v1/customers", {"name": "C"}).json["id"]
    # WHEN 100 events carry as much 4-byte payload as a 1 MiB body allows
    events = [
        {
            "event_name": "big",
            "identifier": f"u{i}",
            "payload": {"stripe_customer_id": customer, "value": "1", "blob": text(500, seed=i)},
        }
        for i in range(100)
    ]
    for i, event in enumerate(events):
        event["payload"].update({f"x{j}": text(500, seed=1000 + i * 10 + j) for j in range(3)})
    body = json.dumps({"events": events}, ensure_ascii=False).encode()  # raw UTF-8: 4 bytes a character
    assert len(body) > 800_000
    for _ in range(2):  # THEN a 2xx, twice with the same key
        resp = api.post(
            "/v2/billing/meter_event_stream",
            body=body,
            content_type="application/json",
            headers={"Idempotency-Key": "k"},
        )
        assert fine(resp)
