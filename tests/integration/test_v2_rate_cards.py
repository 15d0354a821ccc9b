"""The v2 catalog: metered and licensed items, rate cards, rates and Stripe's versioning rule
(changing or deleting an existing item's rate makes a version; a rate for a new item does not),
`modify_rates` atomic past one transaction's size, and crash points of a modification."""

from __future__ import annotations

import pytest
import support

from tally.billing import rate_cards as rate_cards_module
from tally.store import transactions

CARDS = "/v2/billing/rate_cards"


def _meter(api: support.Api, name: str = "tokens") -> str:
    return api.post(
        "/v1/billing/meters",
        {"display_name": name, "event_name": name, "default_aggregation": {"formula": "sum"}},
    ).json["id"]


def _item(api: support.Api, meter: str, name: str = "Model A", **extra) -> dict:
    response = api.post("/v2/billing/metered_items", json={"display_name": name, "meter": meter, **extra})
    assert response.status == 200, response.text
    return response.json


def _card(api: support.Api, **extra) -> dict:
    body = {
        "currency": "usd",
        "display_name": "AI usage",
        "service_interval": "month",
        "service_interval_count": 1,
        "tax_behavior": "exclusive",
        **extra,
    }
    response = api.post(CARDS, json=body)
    assert response.status == 200, response.text
    return response.json


def _modify(api: support.Api, card: str, creates=(), deletes=()) -> support.Response:
    body: dict = {}
    if creates:
        body["rates_to_create"] = list(creates)
    if deletes:
        body["rates_to_delete"] = [{"id": d} for d in deletes]
    return api.post(f"{CARDS}/{card}/modify_rates", json=body)


def _rates(api: support.Api, card: str, version: str | None = None) -> list[dict]:
    query = {"limit": "100"} | ({"rate_card_version": version} if version else {})
    response = api.get(f"{CARDS}/{card}/rates", query)
    assert response.status == 200, response.text
    return response.json["data"]


def _versions(api: support.Api, card: str) -> list[str]:
    return [v["id"] for v in api.get(f"{CARDS}/{card}/versions").json["data"]]


def test_metered_item_round_trips_in_stripes_v2_shape(api):
    meter = _meter(api)
    item = _item(api, meter, lookup_key="model-a", unit_label="tokens")
    assert item["object"] == "v2.billing.metered_item"
    assert item["id"].startswith("bli_")
    assert item["meter"] == meter and item["meter_segment_conditions"] == []
    assert item["created"].endswith("Z") and item["lookup_key"] == "model-a"
    assert api.get(f"/v2/billing/metered_items/{item['id']}").json == item
    updated = api.post(
        f"/v2/billing/metered_items/{item['id']}", json={"display_name": "A", "unit_label": None}
    )
    assert updated.status == 200, updated.text
    assert updated.json["display_name"] == "A" and updated.json["unit_label"] is None
    listed = api.get("/v2/billing/metered_items", {"lookup_keys": "model-a"}).json
    assert [i["id"] for i in listed["data"]] == [item["id"]]
    assert listed["next_page_url"] is None and listed["previous_page_url"] is None
    # the meter of a metered item never changes, and a lookup key is unique
    assert api.post(f"/v2/billing/metered_items/{item['id']}", json={"meter": meter}).status == 400
    assert (
        api.post(
            "/v2/billing/metered_items", json={"display_name": "B", "meter": meter, "lookup_key": "model-a"}
        ).status
        == 400
    )


def test_licensed_item_round_trips(api):
    item = api.post("/v2/billing/licensed_items", json={"display_name": "Seats", "unit_label": "seat"}).json
    assert item["object"] == "v2.billing.licensed_item" and item["unit_label"] == "seat"
    assert api.get(f"/v2/billing/licensed_items/{item['id']}").json == item


def test_a_rate_for_a_new_item_joins_the_latest_version_and_a_changed_rate_makes_a_version(api):
    # GIVEN a rate card (one version, live) and two metered items of one meter
    meter = _meter(api)
    a, b = _item(api, meter, "Model A")["id"], _item(api, meter, "Model B")["id"]
    card = _card(api)
    assert card["object"] == "v2.billing.rate_card"
    assert card["service_cycle"] == {"interval": "month", "interval_count": 1}
    v1 = card["live_version"]
    assert _versions(api, card["id"]) == [v1]
    # WHEN a rate for A is added, then one for B: no new version (new items)
    first = _modify(api, card["id"], [{"metered_item": a, "unit_amount": "0.04"}])
    assert first.status == 200, first.text
    assert first.json["id"] == v1 and first.json["object"] == "v2.billing.rate_card_version"
    _modify(api, card["id"], [{"metered_item": b, "unit_amount": "1.5"}])
    assert _versions(api, card["id"]) == [v1]
    old = {r["metered_item"]["id"]: r for r in _rates(api, card["id"])}
    assert {k: v["unit_amount"] for k, v in old.items()} == {a: "0.04", b: "1.5"}
    assert old[a]["rate_card_version"] == v1 and old[a]["metered_item"]["display_name"] == "Model A"
    # WHEN A's rate changes: a new version; the old version keeps the old rate
    second = _modify(api, card["id"], [{"metered_item": a, "unit_amount": "0.05"}])
    v2 = second.json["id"]
    assert v2 != v1 and _versions(api, card["id"]) == [v2, v1]
    latest = {r["metered_item"]["id"]: r["unit_amount"] for r in _rates(api, card["id"])}
    assert latest == {a: "0.05", b: "1.5"}
    before = {r["metered_item"]["id"]: r["unit_amount"] for r in _rates(api, card["id"], v1)}
    assert before == {a: "0.04", b: "1.5"}
    # the live version stays until moved ("latest" moves it)
    assert api.get(f"{CARDS}/{card['id']}").json["live_version"] == v1
    moved = api.post(f"{CARDS}/{card['id']}", json={"live_version": "latest"}).json
    assert moved["live_version"] == v2
    # WHEN B's rate is deleted: another version without it
    rate_b = next(r["id"] for r in _rates(api, card["id"]) if r["metered_item"]["id"] == b)
    gone = api.delete(f"{CARDS}/{card['id']}/rates/{rate_b}")
    assert gone.status == 200, gone.text
    assert gone.json == {"id": rate_b, "object": "v2.billing.rate_card_rate", "deleted": True}
    assert len(_versions(api, card["id"])) == 3
    assert [r["metered_item"]["id"] for r in _rates(api, card["id"])] == [a]
    assert len(_rates(api, card["id"], v2)) == 2


def test_tiers_and_transform_are_served_as_sent(api):
    meter = _meter(api)
    item = _item(api, meter)["id"]
    card = _card(api)["id"]
    tiers = [{"unit_amount": "0", "up_to_decimal": "1000"}, {"unit_amount": "5", "up_to_inf": "inf"}]
    response = api.post(
        f"{CARDS}/{card}/rates", json={"metered_item": item, "tiers": tiers, "tiering_mode": "graduated"}
    )
    assert response.status == 200, response.text
    rate = response.json
    assert rate["tiers"] == [
        {"flat_amount": None, "unit_amount": "0", "up_to_decimal": "1000"},
        {"flat_amount": None, "unit_amount": "5", "up_to_inf": "inf"},
    ]
    assert rate["tiering_mode"] == "graduated" and rate["unit_amount"] is None
    other = _item(api, meter, "B")["id"]
    packaged = api.post(
        f"{CARDS}/{card}/rates",
        json={
            "metered_item": other,
            "unit_amount": "4",
            "transform_quantity": {"divide_by": 100, "round": "up"},
        },
    ).json
    assert packaged["transform_quantity"] == {"divide_by": "100", "round": "up"}
    assert api.get(f"{CARDS}/{card}/rates/{rate['id']}").json == rate


def test_modify_rates_with_a_hundred_creates_is_one_atomic_change(api):
    # GIVEN 100 metered items (more rates than one transaction holds)
    meter = _meter(api)
    card = _card(api)["id"]
    items = [_item(api, meter, f"M{i}")["id"] for i in range(100)]
    response = _modify(
        api, card, [{"metered_item": item, "unit_amount": str(n)} for n, item in enumerate(items)]
    )
    assert response.status == 200, response.text
    assert len(_rates(api, card)) == 100
    # page through them, 30 at a time
    seen, url = [], f"{CARDS}/{card}/rates?limit=30"
    while url:
        path, _, query = url.partition("?")
        page = api.get(path, query=query).json
        seen += [r["id"] for r in page["data"]]
        url = page["next_page_url"]
    assert len(seen) == len(set(seen)) == 100


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_failed_modification_is_invisible_and_a_retry_applies_it_once(api, monkeypatch, fail_at):
    # GIVEN a card with a rate for A, and items A, B, C
    meter = _meter(api)
    a, b, c = (_item(api, meter, n)["id"] for n in "ABC")
    card = _card(api)["id"]
    _modify(api, card, [{"metered_item": a, "unit_amount": "1"}])
    old_a = _rates(api, card)[0]["id"]
    # WHEN a modification (A changes, B and C added: > one chunk is not needed here) fails at
    # transaction `fail_at` (1: the rates, 2: the commit, 3: the first end written after it)
    monkeypatch.setattr(rate_cards_module, "_CHUNK", 1)
    real = transactions.commit
    calls = {"n": 0}
    failing = {1: 2, 2: 4, 3: 5}[fail_at]  # rates are written one per transaction here

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == failing:
            raise RuntimeError("injected crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(transactions, "commit", flaky)
    creates = [{"metered_item": x, "unit_amount": "2"} for x in (a, b, c)]
    assert _modify(api, card, creates).status == 500
    monkeypatch.setattr(transactions, "commit", real)
    shown = {r["metered_item"]["id"]: r["unit_amount"] for r in _rates(api, card)}
    if fail_at < 3:
        # THEN nothing of it is visible, and a retry applies it once
        assert shown == {a: "1"}
        assert _modify(api, card, creates).status == 200
    # THEN every item has exactly one rate in the latest version, and A's old rate is in v1 only
    latest = _rates(api, card)
    assert sorted(r["metered_item"]["id"] for r in latest) == sorted([a, b, c])
    assert {r["unit_amount"] for r in latest} == {"2"}
    assert old_a not in {r["id"] for r in latest}
    assert len(_versions(api, card)) == 2
