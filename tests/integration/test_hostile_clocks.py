"""Hostile input at a test clock's edges (issue 12, point 4): while a clock advances, every request
acting for its customers that is refused gets Stripe's error envelope with a 4xx and changes
nothing (the clock, the subscription, the usage and the event log are as before); `cancel_at`
beyond the current period is taken, but nonsense instants are still refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

CLOCKS = "/v1/test_helpers/test_clocks"
EVENT = "hostile_clock_tokens"
T0 = int(dt.datetime(2031, 1, 15, tzinfo=dt.UTC).timestamp())
TARGET = int(dt.datetime(2031, 2, 1, tzinfo=dt.UTC).timestamp())


def ok(response: support.Response) -> Any:
    assert response.status == 200, response.text
    return response.json


@pytest.fixture
def advancing(api: support.Api) -> dict[str, str]:
    """A clock at T0 advancing to TARGET (its worker not run), a customer on it with a seat and
    tokens subscription, one event of 5 tokens with identifier `ev-1`."""
    clock = ok(api.post(CLOCKS, {"frozen_time": T0}))["id"]
    customer = ok(api.post("/v1/customers", {"name": "H", "test_clock": clock}))["id"]
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "T", "event_name": EVENT, "default_aggregation": {"formula": "sum"}},
        )
    )
    tokens = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1,
                "product_data": {"name": "T"},
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )["id"]
    seats = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1000,
                "product_data": {"name": "S"},
                "recurring": {"interval": "month"},
            },
        )
    )["id"]
    sub = ok(
        api.post("/v1/subscriptions", {"customer": customer, "items": [{"price": seats}, {"price": tokens}]})
    )
    ok(
        api.post(
            "/v1/billing/meter_events",
            {
                "event_name": EVENT,
                "identifier": "ev-1",
                "payload": {"stripe_customer_id": customer, "value": "5"},
            },
        )
    )
    api.functions.drain()
    ok(api.post(f"{CLOCKS}/{clock}/advance", {"frozen_time": TARGET}))
    return {"clock": clock, "customer": customer, "subscription": sub["id"], "meter": meter["id"]}


def _state(api: support.Api, ids: dict[str, str]) -> Any:
    summary = api.get(
        f"/v1/billing/meters/{ids['meter']}/event_summaries",
        {"customer": ids["customer"], "start_time": T0 - 86_400, "end_time": TARGET + 86_400},
    )
    return (
        ok(api.get(f"{CLOCKS}/{ids['clock']}")),
        ok(api.get(f"/v1/subscriptions/{ids['subscription']}")),
        ok(summary),
        [e["id"] for e in support.stored_events(api.account.id)],
    )


ROWS = [
    ("advance: another target", "POST", CLOCKS + "/{clock}/advance", {"frozen_time": TARGET + 60}, None),
    ("advance: not an integer", "POST", CLOCKS + "/{clock}/advance", {"frozen_time": "soon"}, "frozen_time"),
    ("advance: negative", "POST", CLOCKS + "/{clock}/advance", {"frozen_time": -1}, "frozen_time"),
    (
        "advance: unknown parameter",
        "POST",
        CLOCKS + "/{clock}/advance",
        {"frozen_time": TARGET, "x": "1"},
        "x",
    ),
    (
        "event: more than 5 min after the target",
        "POST",
        "/v1/billing/meter_events",
        {
            "event_name": EVENT,
            "timestamp": TARGET + 301,
            "payload": {"stripe_customer_id": "{customer}", "value": "1"},
        },
        "timestamp",
    ),
    (
        "event: 35 days before the target",
        "POST",
        "/v1/billing/meter_events",
        {
            "event_name": EVENT,
            "timestamp": TARGET - 35 * 86_400 - 1,
            "payload": {"stripe_customer_id": "{customer}", "value": "1"},
        },
        "timestamp",
    ),
    (
        "cancel: unknown identifier",
        "POST",
        "/v1/billing/meter_event_adjustments",
        {"event_name": EVENT, "type": "cancel", "cancel": {"identifier": "nope"}},
        "cancel[identifier]",
    ),
    (
        "update while advancing",
        "POST",
        "/v1/subscriptions/{subscription}",
        {"cancel_at": TARGET + 86_400},
        None,
    ),
    ("cancel while advancing", "DELETE", "/v1/subscriptions/{subscription}", None, None),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "param"), ROWS, ids=[r[0] for r in ROWS])
def test_refused_requests_while_a_clock_advances_change_nothing(
    api, advancing, name, method, path, body, param
):
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(**advancing)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    before = _state(api, advancing)
    url = fill(path)
    answer = api.post(url, fill(body)) if method == "POST" else api.delete(url)
    error = support.assert_stripe_error(answer.status, answer.json)
    assert 400 <= answer.status < 500, (name, answer.status, error)
    if param is not None:
        assert error.get("param") == param, (name, error)
    assert _state(api, advancing) == before, name


@pytest.mark.parametrize(
    "cancel_at",
    ["soon", -5, 2**62, T0, T0 - 1],
    ids=["text", "negative", "huge", "now", "past"],
)
def test_nonsense_cancel_ats_are_still_refused(api, cancel_at):
    clock = ok(api.post(CLOCKS, {"frozen_time": T0}))["id"]
    customer = ok(api.post("/v1/customers", {"name": "H", "test_clock": clock}))["id"]
    seats = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1000,
                "product_data": {"name": "S"},
                "recurring": {"interval": "month"},
            },
        )
    )["id"]
    answer = api.post(
        "/v1/subscriptions", {"customer": customer, "items": [{"price": seats}], "cancel_at": cancel_at}
    )
    support.assert_stripe_error(answer.status, answer.json, 400, param="cancel_at")
    assert ok(api.get("/v1/subscriptions", {"customer": customer}))["data"] == []
