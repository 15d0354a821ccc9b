"""Usage alerts (`/v1/billing/alerts`): the API in Stripe's shapes, and evaluation on ingest.

Every total below is computed by hand from the events sent. Usage counts from the alert's
creation instant (`Alert.counts_from`, to the second); events meant to count are stamped a minute
or two ahead of the wall clock (within the 5 minutes Stripe allows), safely after it.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

ALERTS = "/v1/billing/alerts"
CLOCKS = "/v1/test_helpers/test_clocks"
EVENT = "alert_tokens"
TRIGGERED = "billing.alert.triggered"
STRIPE_ALERT = ("alert_type", "id", "livemode", "object", "status", "title", "usage_threshold")


def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


T0 = _at(2031, 1, 15)
FEB_15, MAR_1, MAR_15 = _at(2031, 2, 15), _at(2031, 3, 1), _at(2031, 3, 15)


def ok(response: support.Response, status: int = 200) -> Any:
    assert response.status == status, response.text
    return response.json


def refused(response: support.Response, status: int = 400, **expected: Any) -> dict[str, Any]:
    return support.assert_stripe_error(response.status, response.json, status, **expected)


def _meter(api: support.Api, formula: str = "sum") -> dict[str, Any]:
    return ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "Tokens", "event_name": EVENT, "default_aggregation": {"formula": formula}},
        )
    )


def _customer(api: support.Api, **extra: Any) -> str:
    return ok(api.post("/v1/customers", {"name": "Alert Co", **extra}))["id"]


def _alert(
    api: support.Api,
    meter: str,
    gte: int,
    recurrence: str = "one_time",
    customer: str | None = None,
    **kw: Any,
) -> support.Response:
    rule: dict[str, Any] = {"meter": meter, "gte": gte, "recurrence": recurrence}
    if customer is not None:
        rule["filters"] = [{"type": "customer", "customer": customer}]
    return api.post(
        ALERTS, {"alert_type": "usage_threshold", "title": "Tokens alert", "usage_threshold": rule}, **kw
    )


def _event(
    api: support.Api, customer: str, value: int, ts: int | None = None, ident: str | None = None
) -> Any:
    body: dict[str, Any] = {
        "event_name": EVENT,
        "payload": {"stripe_customer_id": customer, "value": str(value)},
    }
    if ts is not None:
        body["timestamp"] = ts
    if ident is not None:
        body["identifier"] = ident
    return api.post("/v1/billing/meter_events", body)


def _ahead() -> int:
    """A timestamp that counts for an alert created before now: the next-but-one minute."""
    return (int(time.time()) // 60 + 2) * 60


def _triggers(api: support.Api, alert: str | None = None) -> list[dict[str, Any]]:
    """The account's billing.alert.triggered events (oldest first), optionally of one alert."""
    events = [e for e in support.stored_events(api.account.id) if e["type"] == TRIGGERED]
    return [e for e in events[::-1] if alert is None or e["data"]["object"]["alert"]["id"] == alert]


# -- the API ------------------------------------------------------------------------------------------
def test_create_answers_stripes_billing_alert(api):
    # GIVEN a meter and a customer
    meter, cus = _meter(api), _customer(api)
    # WHEN an alert is created for that customer
    alert = ok(_alert(api, meter["id"], 100, customer=cus))
    # THEN it is Stripe's billing.alert, active, with the one customer filter
    assert tuple(sorted(alert)) == STRIPE_ALERT
    assert alert["id"].startswith("alrt_") and alert["object"] == "billing.alert"
    assert alert["status"] == "active" and alert["alert_type"] == "usage_threshold"
    assert alert["usage_threshold"] == {
        "filters": [{"customer": cus, "type": "customer"}],
        "gte": 100,
        "meter": meter["id"],
        "recurrence": "one_time",
    }
    assert ok(api.get(f"{ALERTS}/{alert['id']}")) == alert
    # AND without a filter it watches every customer (Stripe: filters null)
    assert ok(_alert(api, meter["id"], 5, "per_period"))["usage_threshold"]["filters"] is None


def test_list_filters_by_meter_and_alert_type(api):
    # GIVEN two meters with alerts
    first = _meter(api)
    second = ok(
        api.post(
            "/v1/billing/meters",
            {
                "display_name": "Other",
                "event_name": "other_tokens",
                "default_aggregation": {"formula": "count"},
            },
        )
    )
    a1 = ok(_alert(api, first["id"], 10))["id"]
    a2 = ok(_alert(api, first["id"], 20))["id"]
    b1 = ok(_alert(api, second["id"], 30))["id"]
    # WHEN listed (newest first) THEN each filter returns exactly its alerts
    assert [a["id"] for a in ok(api.get(ALERTS))["data"]] == [b1, a2, a1]
    assert [a["id"] for a in ok(api.get(ALERTS, {"meter": first["id"]}))["data"]] == [a2, a1]
    assert [
        a["id"] for a in ok(api.get(ALERTS, {"meter": second["id"], "alert_type": "usage_threshold"}))["data"]
    ] == [b1]
    page = ok(api.get(ALERTS, {"limit": 1, "starting_after": b1}))
    assert [a["id"] for a in page["data"]] == [a2] and page["has_more"] is True
    assert page["url"] == ALERTS


def test_status_changes_and_archive_is_final(api):
    meter = _meter(api)
    alert = ok(_alert(api, meter["id"], 10))["id"]
    assert ok(api.post(f"{ALERTS}/{alert}/deactivate"))["status"] == "inactive"
    assert ok(api.post(f"{ALERTS}/{alert}/deactivate"))["status"] == "inactive"  # as it is
    assert ok(api.post(f"{ALERTS}/{alert}/activate"))["status"] == "active"
    assert ok(api.post(f"{ALERTS}/{alert}/archive"))["status"] == "archived"
    assert ok(api.post(f"{ALERTS}/{alert}/archive"))["status"] == "archived"
    for action in ("activate", "deactivate"):
        refused(api.post(f"{ALERTS}/{alert}/{action}"))
    assert ok(api.get(f"{ALERTS}/{alert}"))["status"] == "archived"


def test_unknown_meter_customer_and_alert_are_refused(api, other_account):
    meter, cus = _meter(api), _customer(api)
    refused(_alert(api, "mtr_nope", 10), code="resource_missing", param="usage_threshold[meter]")
    refused(
        _alert(api, meter["id"], 10, customer="cus_nope"),
        code="resource_missing",
        param="usage_threshold[filters][0][customer]",
    )
    alert = ok(_alert(api, meter["id"], 10, customer=cus))["id"]
    refused(api.get(f"{ALERTS}/alrt_nope"), 404, code="resource_missing")
    # another account sees nothing of it
    refused(api.as_(other_account).get(f"{ALERTS}/{alert}"), 404, code="resource_missing")
    refused(api.as_(other_account).post(f"{ALERTS}/{alert}/archive"), 404, code="resource_missing")
    assert ok(api.as_(other_account).get(ALERTS))["data"] == []


def test_at_most_25_active_alerts_per_meter_and_customer(api):
    # GIVEN 25 active alerts on one (meter, customer)
    meter, cus, other = _meter(api), _customer(api), _customer(api)
    alerts = [ok(_alert(api, meter["id"], 10 + i, customer=cus))["id"] for i in range(25)]
    # WHEN a 26th is created THEN it is refused, and nothing is stored
    refused(
        _alert(api, meter["id"], 99, customer=cus),
        code="alert_limit_exceeded",
        param="usage_threshold[meter]",
    )
    assert len(ok(api.get(ALERTS, {"meter": meter["id"], "limit": 100}))["data"]) == 25
    # AND another customer, or every customer, is another scope
    assert ok(_alert(api, meter["id"], 99, customer=other))["status"] == "active"
    assert ok(_alert(api, meter["id"], 99))["status"] == "active"
    # AND an inactive alert frees a place, which its own reactivation then cannot take back
    ok(api.post(f"{ALERTS}/{alerts[0]}/deactivate"))
    ok(_alert(api, meter["id"], 99, customer=cus))
    refused(api.post(f"{ALERTS}/{alerts[0]}/activate"), code="alert_limit_exceeded")


def test_an_alert_create_that_crashes_leaves_nothing_and_a_retry_creates_it(api):
    meter = _meter(api)
    with support.TransactionCrash(at=1):
        assert _alert(api, meter["id"], 10).status == 500
    assert ok(api.get(ALERTS))["data"] == []
    alert = ok(_alert(api, meter["id"], 10))
    cus = _customer(api)
    ok(_event(api, cus, 10, _ahead()))
    assert len(_triggers(api, alert["id"])) == 1


# -- evaluation ---------------------------------------------------------------------------------------
def test_one_time_fires_once_when_the_usage_reaches_gte(api):
    # GIVEN an alert at 100 on every customer
    meter, cus = _meter(api), _customer(api)
    alert = ok(_alert(api, meter["id"], 100))
    ts = _ahead()
    # WHEN 60, then 39 (99 < 100), then 11 (110 ≥ 100), then 500 more arrive
    for value in (60, 39):
        ok(_event(api, cus, value, ts))
    assert _triggers(api) == []
    ok(_event(api, cus, 11, ts))
    ok(_event(api, cus, 500, ts))
    # THEN exactly one trigger, at the crossing value 110
    (event,) = _triggers(api)
    triggered = event["data"]["object"]
    assert triggered["object"] == "billing.alert_triggered"
    assert triggered["alert"] == alert and triggered["customer"] == cus and triggered["value"] == 110
    assert isinstance(triggered["created"], int) and triggered["livemode"] is False
    assert event["type"] == TRIGGERED and event["id"].startswith("evt_")
    assert ok(api.get("/v1/events", {"type": TRIGGERED}))["data"][0]["id"] == event["id"]


def test_only_usage_after_the_alert_s_creation_counts(api):
    # GIVEN 80 used before the alert exists
    meter, cus = _meter(api), _customer(api)
    ok(_event(api, cus, 80, int(time.time()) - 120))
    alert = ok(_alert(api, meter["id"], 100))["id"]
    # WHEN 30 arrive after (30 < 100, though 110 in all), THEN nothing; 70 more make 100: it fires
    ok(_event(api, cus, 30, _ahead()))
    assert _triggers(api) == []
    ok(_event(api, cus, 70, _ahead()))
    (event,) = _triggers(api, alert)
    assert event["data"]["object"]["value"] == 100


def test_each_customer_fires_once_and_a_customer_filter_limits_the_alert(api):
    meter, a, b = _meter(api), _customer(api), _customer(api)
    everyone = ok(_alert(api, meter["id"], 10))["id"]
    only_b = ok(_alert(api, meter["id"], 10, customer=b))["id"]
    ok(_event(api, a, 15, _ahead()))
    ok(_event(api, b, 12, _ahead()))
    fired = sorted(
        (e["data"]["object"]["alert"]["id"], e["data"]["object"]["customer"]) for e in _triggers(api)
    )
    assert fired == sorted([(everyone, a), (everyone, b), (only_b, b)])


def test_inactive_and_archived_alerts_do_not_fire_and_reactivated_ones_do(api):
    meter, cus = _meter(api), _customer(api)
    paused = ok(_alert(api, meter["id"], 10))["id"]
    gone = ok(_alert(api, meter["id"], 10))["id"]
    ok(api.post(f"{ALERTS}/{paused}/deactivate"))
    ok(api.post(f"{ALERTS}/{gone}/archive"))
    ok(_event(api, cus, 20, _ahead()))
    assert _triggers(api) == []
    ok(api.post(f"{ALERTS}/{paused}/activate"))
    ok(_event(api, cus, 1, _ahead()))
    assert [e["data"]["object"]["value"] for e in _triggers(api, paused)] == [21]
    assert _triggers(api, gone) == []


def test_a_v2_batch_crossing_fires_once(api):
    meter, cus = _meter(api), _customer(api)
    alert = ok(_alert(api, meter["id"], 250))["id"]
    token = ok(api.post("/v2/billing/meter_event_session", json={}))["authentication_token"]
    stamp = dt.datetime.fromtimestamp(_ahead(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [
        {"event_name": EVENT, "timestamp": stamp, "payload": {"stripe_customer_id": cus, "value": "10"}}
        for _ in range(30)
    ]
    ok(api.post("/v2/billing/meter_event_stream", json={"events": events}, key=token))
    assert [e["data"]["object"]["value"] for e in _triggers(api, alert)] == [300]


def test_a_crash_after_the_usage_write_still_triggers_on_the_retry(api):
    # GIVEN an alert at 100 and 90 used
    meter, cus = _meter(api), _customer(api)
    alert = ok(_alert(api, meter["id"], 100))["id"]
    ts = _ahead()
    ok(_event(api, cus, 90, ts))
    # WHEN the event crossing it is stored, and the aggregator evaluating it (issue 15: alerts are
    # evaluated once the usage is in the buckets) crashes at the trigger transaction
    with support.aggregation_paused():
        assert ok(_event(api, cus, 20, ts, ident="crossing"))["identifier"] == "crossing"
    with support.TransactionCrash(at=1) as crash:
        support.aggregate_usage(api.functions, max_rounds=1)
    assert crash.calls == 1 and _triggers(api) == []
    # THEN Lambda's retry of the batch records the trigger, at 110, once (and the client's
    # retries, duplicates now, record nothing more)
    support.aggregate_usage(api.functions)
    assert ok(_event(api, cus, 20, ts, ident="crossing"))["identifier"] == "crossing"
    ok(_event(api, cus, 20, ts, ident="crossing"))
    assert [e["data"]["object"]["value"] for e in _triggers(api, alert)] == [110]


def test_a_crash_after_the_usage_write_triggers_on_the_next_event(api):
    meter, cus = _meter(api), _customer(api)
    alert = ok(_alert(api, meter["id"], 100))["id"]
    ts = _ahead()
    with support.aggregation_paused():
        ok(_event(api, cus, 100, ts))
    with support.TransactionCrash(at=1):  # the aggregator's evaluation dies at the trigger
        support.aggregate_usage(api.functions, max_rounds=1)
    ok(_event(api, cus, 1, ts))  # its retry takes the next event with it
    assert [e["data"]["object"]["value"] for e in _triggers(api, alert)] == [101]


def test_a_last_meter_compares_the_latest_value(api):
    meter, cus = _meter(api, "last"), _customer(api)
    alert = ok(_alert(api, meter["id"], 50))["id"]
    ts = _ahead()
    ok(_event(api, cus, 40, ts))
    ok(_event(api, cus, 45, ts + 1))  # latest 45 < 50 (a sum would be 85)
    assert _triggers(api) == []
    ok(_event(api, cus, 50, ts + 2))
    assert [e["data"]["object"]["value"] for e in _triggers(api, alert)] == [50]


# -- billing periods (a test clock: the customer's time is the clock's) -------------------------------
def _subscribed_on_a_clock(api: support.Api) -> tuple[str, str, str]:
    """(clock, customer, meter): a monthly metered subscription starting at T0 (Jan 15 2031)."""
    clock = ok(api.post(CLOCKS, {"frozen_time": T0}))["id"]
    cus = _customer(api, test_clock=clock)
    meter = _meter(api)
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1,
                "product_data": {"name": "Tokens"},
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )
    ok(api.post("/v1/subscriptions", {"customer": cus, "items": [{"price": price["id"]}]}))
    return clock, cus, meter["id"]


def test_one_time_fires_once_ever_and_per_period_once_per_period(api):
    # GIVEN a customer on a clock at Jan 15, subscribed monthly, with a one_time and a per_period
    # alert at 100 (created at the clock's time: usage counts from Jan 15 00:00)
    clock, cus, meter = _subscribed_on_a_clock(api)
    once = ok(_alert(api, meter, 100, "one_time", customer=cus))["id"]
    each = ok(_alert(api, meter, 100, "per_period", customer=cus))["id"]
    # WHEN the first period (Jan 15 → Feb 15) uses 60 + 60 = 120
    ok(_event(api, cus, 60, T0 + 60))
    ok(_event(api, cus, 60, T0 + 120))
    # THEN both fire at 120
    assert [e["data"]["object"]["value"] for e in _triggers(api, once)] == [120]
    assert [e["data"]["object"]["value"] for e in _triggers(api, each)] == [120]
    # WHEN the clock crosses into the second period (Feb 15 → Mar 15) and 99 are used by Mar 1
    assert support.advance_clock(api, api.functions, clock, MAR_1)["status"] == "ready"
    ok(_event(api, cus, 99, MAR_1 - 3600))
    # THEN nothing more: the period's running total restarted (99 < 100)
    assert len(_triggers(api)) == 2
    # WHEN 1 more makes 100 in the second period
    ok(_event(api, cus, 1))
    # THEN per_period fires again (at 100) and one_time never does
    assert [e["data"]["object"]["value"] for e in _triggers(api, each)] == [120, 100]
    assert len(_triggers(api, once)) == 1
    # AND late usage stamped in the first period adds nothing to the second period's alerts
    ok(_event(api, cus, 500, FEB_15 - 60))
    assert len(_triggers(api)) == 3


def test_without_a_subscription_usage_counts_from_creation_and_per_period_fires_once(api):
    meter, cus = _meter(api), _customer(api)
    each = ok(_alert(api, meter["id"], 100, "per_period"))["id"]
    ok(_event(api, cus, 70, _ahead()))
    ok(_event(api, cus, 30, _ahead()))
    ok(_event(api, cus, 100, _ahead()))
    assert [e["data"]["object"]["value"] for e in _triggers(api, each)] == [100]


def test_the_meter_expands_as_on_stripe(api):
    meter = _meter(api)
    alert = ok(_alert(api, meter["id"], 10))["id"]
    shown = ok(api.get(f"{ALERTS}/{alert}", {"expand": ["usage_threshold.meter"]}))
    assert shown["usage_threshold"]["meter"] == meter
    listed = ok(api.get(ALERTS, {"expand": ["data.usage_threshold.meter"]}))
    assert listed["data"][0]["usage_threshold"]["meter"]["id"] == meter["id"]
    refused(api.get(f"{ALERTS}/{alert}", {"expand": ["usage_threshold.filters"]}), param="expand[0]")
