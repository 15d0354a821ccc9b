"""Hostile input to the v2 catalog: each bad request is a Stripe error with the right status and
param, and changes nothing (the rate card's versions and rates read the same afterwards)."""

from __future__ import annotations

import pytest
import support

CARDS = "/v2/billing/rate_cards"
CARD = {
    "currency": "usd",
    "display_name": "AI usage",
    "service_interval": "month",
    "service_interval_count": 1,
    "tax_behavior": "exclusive",
}


@pytest.fixture
def world(api):
    meter = api.post(
        "/v1/billing/meters",
        {"display_name": "t", "event_name": "hostile_tokens", "default_aggregation": {"formula": "sum"}},
    ).json["id"]
    item = api.post("/v2/billing/metered_items", json={"display_name": "A", "meter": meter}).json["id"]
    other = api.post("/v2/billing/metered_items", json={"display_name": "B", "meter": meter}).json["id"]
    card = api.post(CARDS, json=CARD).json
    rate = api.post(f"{CARDS}/{card['id']}/rates", json={"metered_item": item, "unit_amount": "1"}).json
    return {"meter": meter, "item": item, "other": other, "card": card["id"], "rate": rate["id"]}


def _state(api, card: str) -> tuple:
    versions = api.get(f"{CARDS}/{card}/versions").json["data"]
    rates = api.get(f"{CARDS}/{card}/rates", {"limit": "100"}).json["data"]
    return tuple(v["id"] for v in versions), tuple((r["id"], r["unit_amount"]) for r in rates)


def _refused(response, status: int, param: str | None = None, code: str | None = None) -> None:
    expected = {"param": param} if param else {}
    if code:
        expected["code"] = code
    support.assert_stripe_error(response.status, response.json, status, **expected)


CARD_CREATES = [
    ({**CARD, "currency": "zzz"}, "currency"),
    ({k: v for k, v in CARD.items() if k != "display_name"}, "display_name"),
    ({**CARD, "service_interval": "fortnight"}, "service_interval"),
    ({**CARD, "service_interval_count": 0}, "service_interval_count"),
    ({**CARD, "service_interval_count": 13}, "service_interval_count"),
    ({**CARD, "service_interval_count": "1.5"}, "service_interval_count"),
    ({**CARD, "tax_behavior": "unspecified"}, "tax_behavior"),
    ({**CARD, "display_name": "x" * 251}, "display_name"),
    ({**CARD, "lookup_key": "k" * 201}, "lookup_key"),
    ({**CARD, "metadata": {"a": {"b": "c"}}}, "metadata[a]"),
]


@pytest.mark.parametrize(("body", "param"), CARD_CREATES)
def test_a_bad_rate_card_is_refused(api, body, param):
    before = api.get(CARDS).json["data"]
    _refused(api.post(CARDS, json=body), 400, param)
    assert api.get(CARDS).json["data"] == before


RATES = [
    (
        {"unit_amount": "1", "tiers": [{"unit_amount": "1", "up_to_inf": "inf"}], "tiering_mode": "volume"},
        None,
    ),
    ({}, None),
    ({"unit_amount": "-1"}, None),
    ({"unit_amount": "0.0000000000001"}, None),
    ({"unit_amount": "1e5"}, None),
    ({"tiers": [{"unit_amount": "1", "up_to_inf": "inf"}]}, None),  # no tiering_mode
    ({"tiers": [{"unit_amount": "1", "up_to_decimal": "10"}], "tiering_mode": "graduated"}, None),
    (
        {
            "tiers": [
                {"unit_amount": "1", "up_to_decimal": "10"},
                {"unit_amount": "1", "up_to_decimal": "5"},
                {"unit_amount": "1", "up_to_inf": "inf"},
            ],
            "tiering_mode": "graduated",
        },
        None,
    ),
    ({"tiers": [{"up_to_inf": "inf"}], "tiering_mode": "graduated"}, None),
    (
        {"tiers": [{"unit_amount": "1", "up_to_inf": "inf", "up_to_decimal": "3"}], "tiering_mode": "volume"},
        None,
    ),
    ({"unit_amount": "1", "tiering_mode": "volume"}, None),
    ({"unit_amount": "1", "transform_quantity": {"divide_by": 0, "round": "up"}}, None),
    ({"unit_amount": "1", "transform_quantity": {"divide_by": 10, "round": "sideways"}}, None),
    ({"unit_amount": "1", "bogus": 1}, "bogus"),
]


@pytest.mark.parametrize(("rate", "param"), RATES)
def test_a_bad_rate_is_refused_and_changes_nothing(api, world, rate, param):
    before = _state(api, world["card"])
    body = {"metered_item": world["other"], **rate}
    _refused(api.post(f"{CARDS}/{world['card']}/rates", json=body), 400, param)
    _refused(api.post(f"{CARDS}/{world['card']}/modify_rates", json={"rates_to_create": [body]}), 400)
    assert _state(api, world["card"]) == before


def test_modifications_naming_what_is_not_there_change_nothing(api, world):
    card = world["card"]
    before = _state(api, card)
    path = f"{CARDS}/{card}/modify_rates"
    _refused(api.post(path, json={}), 400)
    _refused(api.post(path, json={"rates_to_delete": [{"id": "rcdr_nope"}]}), 400, code="resource_missing")
    _refused(api.post(path, json={"rates_to_delete": [{"id": world["rate"]}, {"id": world["rate"]}]}), 400)
    unknown_item = {"rates_to_create": [{"metered_item": "bli_nope", "unit_amount": "1"}]}
    _refused(api.post(path, json=unknown_item), 400, code="resource_missing")
    twice = {"rates_to_create": [{"metered_item": world["other"], "unit_amount": "1"}] * 2}
    _refused(api.post(path, json=twice), 400)
    both = {
        "rates_to_create": [{"metered_item": world["other"], "metered_item_data": {}, "unit_amount": "1"}]
    }
    _refused(api.post(path, json=both), 400)
    too_many = {"rates_to_create": [{"metered_item": world["other"], "unit_amount": "1"}] * 101}
    _refused(api.post(path, json=too_many), 400, "rates_to_create")
    no_dims = {
        "rates_to_create": [
            {
                "metered_item_data": {
                    "display_name": "seg",
                    "meter": world["meter"],
                    "meter_segment_conditions": [{"dimension": "model", "value": "x"}],
                },
                "unit_amount": "1",
            }
        ]
    }
    _refused(api.post(path, json=no_dims), 400)
    _refused(api.post(f"{CARDS}/rcd_nope/modify_rates", json={"rates_to_delete": [{"id": "x"}]}), 404)
    _refused(api.delete(f"{CARDS}/{card}/rates/rcdr_nope"), 404)
    _refused(api.get(f"{CARDS}/{card}/versions/rcdv_nope"), 404)
    _refused(api.get(f"{CARDS}/{card}/rates", {"rate_card_version": "rcdv_nope"}), 400, "rate_card_version")
    _refused(api.get(f"{CARDS}/{card}/rates", {"page": "%%%notatoken"}), 400, "page")
    _refused(api.get(CARDS, {"lookup_keys": [f"k{i}" for i in range(11)]}), 400)
    _refused(api.get(CARDS, {"limit": "101"}), 400, "limit")
    _refused(api.post(f"{CARDS}/{card}", json={"live_version": "rcdv_nope"}), 400, "live_version")
    assert _state(api, card) == before


def test_an_inactive_rate_card_takes_no_rates(api, world):
    card = world["card"]
    assert api.post(f"{CARDS}/{card}", json={"active": False}).status == 200
    before = _state(api, card)
    body = {"rates_to_create": [{"metered_item": world["other"], "unit_amount": "1"}]}
    _refused(api.post(f"{CARDS}/{card}/modify_rates", json=body), 400)
    assert _state(api, card) == before


def test_another_accounts_catalog_is_not_found(api, world, other_account):
    other_api = api.as_(other_account)
    card, rate = world["card"], world["rate"]
    _refused(other_api.get(f"{CARDS}/{card}"), 404)
    _refused(other_api.get(f"{CARDS}/{card}/rates/{rate}"), 404)
    _refused(other_api.get(f"/v2/billing/metered_items/{world['item']}"), 404)
    # a rate is read only through its own card
    second = api.post(CARDS, json=CARD).json["id"]
    _refused(api.get(f"{CARDS}/{second}/rates/{rate}"), 404)
    _refused(api.delete(f"{CARDS}/{second}/rates/{rate}"), 404)
    # a version of another card cannot be made live
    first_version = api.get(f"{CARDS}/{card}").json["live_version"]
    _refused(api.post(f"{CARDS}/{second}", json={"live_version": first_version}), 400, "live_version")
