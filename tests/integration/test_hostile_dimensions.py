"""Hostile input for meter dimensions (issue 14, point 1, branch `dimensions`): `dimension_payload_keys`
on meter create, dimension values on events, `dimension_filters` / `dimension_group_by_keys` on
summaries. Every row is a Stripe error (4xx, never 5xx) and changes nothing: the meters listed,
the usage and the customer's segments are the same before and after."""

from __future__ import annotations

import time

import pytest
import support

from tally.store.usage import segments

HOUR = 3600
METERS = "/v1/billing/meters"
EVENTS = "/v1/billing/meter_events"


def _meters(api) -> list[str]:
    return [m["id"] for m in api.get(METERS, {"limit": 100}).json["data"]]


BAD_CREATES = {
    "four keys": ["a", "b", "c", "d"],
    "eleven keys": [f"k{i}" for i in range(11)],
    "duplicate": ["model", "model"],
    "the customer key": ["stripe_customer_id"],
    "the value key": ["value"],
    "empty key": [""],
    "key too long": ["k" * 101],
    "a string, not an array": "model",
    "a hash": {"a": "b"},
    "nested": [["model"]],
}


@pytest.mark.parametrize("keys", list(BAD_CREATES.values()), ids=list(BAD_CREATES))
@pytest.mark.parametrize("body", ["form", "json"])
def test_bad_dimension_payload_keys_are_refused_and_create_nothing(api, keys, body):
    before = _meters(api)
    params = {
        "display_name": "D",
        "event_name": "hostile_dims",
        "default_aggregation": {"formula": "sum"},
        "dimension_payload_keys": keys,
    }
    resp = api.post(METERS, json=params) if body == "json" else api.post(METERS, params)
    support.assert_stripe_error(resp.status, resp.json, 400)
    assert resp.json["error"]["param"].startswith("dimension_payload_keys"), resp.json
    assert _meters(api) == before


@pytest.fixture
def setup(api):
    meter = api.post(
        METERS,
        {
            "display_name": "D",
            "event_name": "hostile_dim_events",
            "default_aggregation": {"formula": "sum"},
            "dimension_payload_keys": ["model", "region"],
        },
    ).json
    plain = api.post(
        METERS,
        {"display_name": "P", "event_name": "hostile_plain", "default_aggregation": {"formula": "sum"}},
    ).json
    cus = api.post("/v1/customers", {"name": "H"}).json["id"]
    ts = int(time.time()) - 300
    ok = api.post(
        EVENTS,
        {
            "event_name": "hostile_dim_events",
            "timestamp": ts,
            "payload": {"stripe_customer_id": cus, "value": "5", "model": "m", "region": "r"},
        },
    )
    assert ok.status == 200, ok.text
    return meter, plain, cus, ts


def _state(api, account, meter, cus, ts) -> tuple:
    resp = api.get(
        f"{METERS}/{meter['id']}/event_summaries",
        {"customer": cus, "start_time": ts // HOUR * HOUR - HOUR, "end_time": ts // HOUR * HOUR + 2 * HOUR},
    )
    return resp.json["data"][0]["aggregated_value"], segments.listed(account.id, meter["id"], cus)


BAD_EVENT_PAYLOADS = {
    "value too long": {"model": "m" * 101},
    "a hash value": {"model": {"x": "y"}},
    "a list value": {"model": ["a"]},
}


@pytest.mark.parametrize("dims", list(BAD_EVENT_PAYLOADS.values()), ids=list(BAD_EVENT_PAYLOADS))
def test_bad_dimension_values_are_refused_and_store_nothing(api, account, setup, dims):
    meter, _, cus, ts = setup
    before = _state(api, account, meter, cus, ts)
    resp = api.post(
        EVENTS,
        {
            "event_name": "hostile_dim_events",
            "timestamp": ts,
            "payload": {"stripe_customer_id": cus, "value": "9", **dims},
        },
    )
    support.assert_stripe_error(resp.status, resp.json, 400)
    assert resp.json["error"]["param"].startswith("payload"), resp.json
    assert _state(api, account, meter, cus, ts) == before


BAD_SUMMARIES = {
    "filter on an unknown dimension": {"dimension_filters[color]": "red"},
    "group by an unknown dimension": {"dimension_group_by_keys[]": "color"},
    "group by the same key twice": {
        "dimension_group_by_keys[0]": "model",
        "dimension_group_by_keys[1]": "model",
    },
    "group by four keys": {
        f"dimension_group_by_keys[{i}]": k for i, k in enumerate(["model", "region", "a", "b"])
    },
    "filters not a hash": {"dimension_filters": "model"},
    "filter value too long": {"dimension_filters[model]": "x" * 101},
    "filter nested": {"dimension_filters[model][x]": "y"},
    "four filters": {f"dimension_filters[k{i}]": "v" for i in range(4)},
    "group by empty key": {"dimension_group_by_keys[]": ""},
}


@pytest.mark.parametrize("extra", list(BAD_SUMMARIES.values()), ids=list(BAD_SUMMARIES))
def test_bad_summary_dimensions_are_refused(api, account, setup, extra):
    meter, _, cus, ts = setup
    before = _state(api, account, meter, cus, ts)
    resp = api.get(
        f"{METERS}/{meter['id']}/event_summaries",
        {"customer": cus, "start_time": ts // HOUR * HOUR, "end_time": ts // HOUR * HOUR + HOUR, **extra},
    )
    support.assert_stripe_error(resp.status, resp.json, 400)
    assert resp.json["error"]["param"].startswith("dimension_"), resp.json
    assert _state(api, account, meter, cus, ts) == before


def test_a_meter_without_dimensions_takes_no_dimension_filters(api, setup):
    _, plain, cus, ts = setup
    for extra in ({"dimension_filters[model]": "m"}, {"dimension_group_by_keys[]": "model"}):
        resp = api.get(
            f"{METERS}/{plain['id']}/event_summaries",
            {"customer": cus, "start_time": ts // HOUR * HOUR, "end_time": ts // HOUR * HOUR + HOUR, **extra},
        )
        support.assert_stripe_error(resp.status, resp.json, 400)
        assert plain["id"] in resp.json["error"]["message"]


def test_hour_windows_times_groups_are_capped(api, setup, monkeypatch):
    meter, _, cus, ts = setup
    from tally.domain import event_summaries

    monkeypatch.setattr(event_summaries, "MAX_WINDOWS", 3)
    start = ts // HOUR * HOUR - HOUR
    resp = api.get(
        f"{METERS}/{meter['id']}/event_summaries",
        {
            "customer": cus,
            "start_time": start,
            "end_time": start + 2 * HOUR,
            "value_grouping_window": "hour",
            "dimension_group_by_keys[]": "model",
        },
    )
    assert resp.status == 200  # 2 windows × 1 group
    api.post(
        EVENTS,
        {
            "event_name": "hostile_dim_events",
            "timestamp": ts,
            "payload": {"stripe_customer_id": cus, "value": "1", "model": "other"},
        },
    )
    resp = api.get(
        f"{METERS}/{meter['id']}/event_summaries",
        {
            "customer": cus,
            "start_time": start,
            "end_time": start + 2 * HOUR,
            "value_grouping_window": "hour",
            "dimension_group_by_keys[]": "model",
        },
    )
    support.assert_stripe_error(resp.status, resp.json, 400)  # 2 windows × 2 groups > 3
