"""Issue 14, point 1 (branch `dimensions`): meters with `dimension_payload_keys`, usage kept per
segment (read O(hours)), summaries filtered and grouped by dimension, a metered item's usage, the
cap on distinct segments, and exactly-once at every crash point. Totals are hand-computed."""

from __future__ import annotations

import time

import pytest
import stripe_shapes
import support

from tally.billing import item_usage
from tally.clock import Clock
from tally.domain import dimensions
from tally.domain.catalog import MeteredItem, SegmentCondition
from tally.domain.records import Meter
from tally.store import usage
from tally.store.usage import write

HOUR = 3600
EVENTS = "/v1/billing/meter_events"


def _meter(api, name: str, keys: list[str] | None = None, formula: str = "sum") -> dict:
    body: dict = {"display_name": name, "event_name": name, "default_aggregation": {"formula": formula}}
    if keys is not None:
        body["dimension_payload_keys"] = keys
    resp = api.post("/v1/billing/meters", body)
    assert resp.status == 200, resp.text
    return resp.json


def _send(api, name: str, cus: str, value: int, ts: int, **dims: str) -> support.Response:
    payload = {"stripe_customer_id": cus, "value": str(value), **dims}
    return api.post(EVENTS, {"event_name": name, "payload": payload, "timestamp": ts})


def _summaries(api, meter: dict, cus: str, start: int, end: int, **extra) -> list[dict]:
    resp = api.get(
        f"/v1/billing/meters/{meter['id']}/event_summaries",
        {"customer": cus, "start_time": start, "end_time": end, **extra},
    )
    assert resp.status == 200, resp.text
    for row in resp.json["data"]:
        assert stripe_shapes.problems(row) == [], row
    return resp.json["data"]


@pytest.fixture
def base() -> int:
    return int(time.time()) // HOUR * HOUR - 5 * HOUR


def test_a_meter_declares_up_to_three_dimensions_shown_on_it_and_immutable(api):
    meter = _meter(api, "dims_shown", ["model", "region", "tier"])
    assert meter["dimension_payload_keys"] == ["model", "region", "tier"]
    assert stripe_shapes.problems(meter) == []
    got = api.get(f"/v1/billing/meters/{meter['id']}").json
    assert got["dimension_payload_keys"] == ["model", "region", "tier"]
    # immutable: an update naming it is refused and changes nothing
    resp = api.post(f"/v1/billing/meters/{meter['id']}", {"dimension_payload_keys": ["model"]})
    support.assert_stripe_error(resp.status, resp.json, 400)
    assert api.get(f"/v1/billing/meters/{meter['id']}").json["dimension_payload_keys"] == [
        "model",
        "region",
        "tier",
    ]
    # a meter without dimensions shows no such field (as Stripe's GA meter)
    assert "dimension_payload_keys" not in _meter(api, "dims_none")


def test_usage_is_kept_per_segment_and_summaries_filter_and_group(api, base):
    # GIVEN a sum meter over (model, region) and events for two models, one without region
    meter = _meter(api, "tokens", ["model", "region"])
    cus = api.post("/v1/customers", {"name": "AI"}).json["id"]
    sent = [
        (100, base + 10, {"model": "small", "region": "eu"}),
        (250, base + 70, {"model": "small", "region": "us"}),
        (40, base + HOUR + 5, {"model": "large", "region": "eu"}),
        (7, base + HOUR + 6, {"model": "large"}),  # no region: "no value"
        (3, base + 2 * HOUR, {"model": "small", "region": "eu"}),
    ]
    for value, ts, dims in sent:
        assert _send(api, "tokens", cus, value, ts, **dims).status == 200
    start, end = base, base + 3 * HOUR
    # THEN the meter-level total is unchanged: 100 + 250 + 40 + 7 + 3 = 400
    assert [s["aggregated_value"] for s in _summaries(api, meter, cus, start, end)] == [400]
    # filtered: model=small → 100 + 250 + 3 = 353; model=large & region=eu → 40
    assert [
        s["aggregated_value"]
        for s in _summaries(api, meter, cus, start, end, **{"dimension_filters[model]": "small"})
    ] == [353]
    two = {"dimension_filters[model]": "large", "dimension_filters[region]": "eu"}
    assert [s["aggregated_value"] for s in _summaries(api, meter, cus, start, end, **two)] == [40]
    # an empty filter value selects the segments without a value: large without region → 7
    assert [
        s["aggregated_value"]
        for s in _summaries(api, meter, cus, start, end, **{"dimension_filters[region]": ""})
    ] == [7]
    # grouped by model: large 47, small 353, one row each with its dimensions
    rows = _summaries(api, meter, cus, start, end, **{"dimension_group_by_keys[]": "model"})
    assert [(r["dimensions"], r["aggregated_value"]) for r in rows] == [
        ({"model": "large"}, 47),
        ({"model": "small"}, 353),
    ]
    assert len({r["id"] for r in rows}) == 2
    # grouped by region per hour, newest hour first; the no-region group has no key
    rows = _summaries(
        api,
        meter,
        cus,
        start,
        end,
        **{"dimension_group_by_keys[]": "region", "value_grouping_window": "hour"},
    )
    got = [(r["start_time"] - base, r["dimensions"], r["aggregated_value"]) for r in rows]
    assert got == [
        (2 * HOUR, {}, 0),
        (2 * HOUR, {"region": "eu"}, 3),
        (2 * HOUR, {"region": "us"}, 0),
        (HOUR, {}, 7),
        (HOUR, {"region": "eu"}, 40),
        (HOUR, {"region": "us"}, 0),
        (0, {}, 0),
        (0, {"region": "eu"}, 100),
        (0, {"region": "us"}, 250),
    ]
    # grouped by both, filtered by model=small: (small, eu) 103, (small, us) 250
    rows = _summaries(
        api,
        meter,
        cus,
        start,
        end,
        **{
            "dimension_group_by_keys[0]": "model",
            "dimension_group_by_keys[1]": "region",
            "dimension_filters[model]": "small",
        },
    )
    assert [(r["dimensions"], r["aggregated_value"]) for r in rows] == [
        ({"model": "small", "region": "eu"}, 103),
        ({"model": "small", "region": "us"}, 250),
    ]


def test_the_stored_event_keeps_its_dimension_values_and_a_cancel_corrects_its_segment(api, base):
    meter = _meter(api, "cancel_dims", ["model"])
    cus = api.post("/v1/customers", {"name": "C"}).json["id"]
    ts = int(time.time()) - 120
    body = {
        "event_name": "cancel_dims",
        "identifier": "cx-1",
        "timestamp": ts,
        "payload": {"stripe_customer_id": cus, "value": "9", "model": "m1"},
    }
    resp = api.post(EVENTS, body)
    assert resp.status == 200 and resp.json["payload"]["model"] == "m1"
    assert _send(api, "cancel_dims", cus, 5, ts, model="m1").status == 200
    window = (ts // 60 * 60 - HOUR, ts // 60 * 60 + 120)
    by_model = {"dimension_filters[model]": "m1"}
    assert _summaries(api, meter, cus, *window, **by_model)[0]["aggregated_value"] == 14
    adj = api.post(
        "/v1/billing/meter_event_adjustments",
        {"event_name": "cancel_dims", "type": "cancel", "cancel": {"identifier": "cx-1"}},
    )
    assert adj.status == 200, adj.text
    assert _summaries(api, meter, cus, *window, **by_model)[0]["aggregated_value"] == 5
    assert _summaries(api, meter, cus, *window)[0]["aggregated_value"] == 5


def test_a_metered_items_usage_sums_the_segments_matching_all_its_conditions(api, account, base):
    meter_json = _meter(api, "item_usage", ["model", "region"])
    cus = api.post("/v1/customers", {"name": "I"}).json["id"]
    for value, ts, dims in [
        (10, base + 1, {"model": "a", "region": "eu"}),
        (20, base + 2, {"model": "a", "region": "us"}),
        (300, base + HOUR + 2, {"model": "b", "region": "eu"}),
        (4000, base + 2 * HOUR, {"model": "a"}),
    ]:
        assert _send(api, "item_usage", cus, value, ts, **dims).status == 200
    from tally.billing import meters

    meter: Meter = meters.retrieve(account.id, meter_json["id"], Clock(base + 3 * HOUR))

    def item(*conditions: tuple[str, str]) -> MeteredItem:
        return MeteredItem(
            id="bli_x",
            created=base,
            livemode=False,
            display_name="x",
            meter=meter.id,
            meter_segment_conditions=tuple(SegmentCondition(d, v) for d, v in conditions),
        )

    def used(it: MeteredItem, start: int, end: int) -> int:
        return item_usage.metered_item_usage(account.id, it, meter, cus, start, end)

    end = base + 3 * HOUR
    assert used(item(), base, end) == 4330  # the whole meter
    assert used(item(("model", "a")), base, end) == 4030  # 10 + 20 + 4000
    assert used(item(("model", "a"), ("region", "eu")), base, end) == 10
    assert used(item(("region", "eu")), base, end) == 310
    assert used(item(("model", "a")), base, base + 2) == 10  # [start, end) to the second
    assert used(item(("model", "c")), base, end) == 0
    # O(hours): reading a segment over 3 hours touches a few items, whatever the events
    usage.STATS.reset()
    used(item(("model", "b")), base, end)
    assert usage.STATS.items_read <= 2 + 3 + 1  # the segment list (3 items) + the segment's hour items


def test_a_new_segment_past_the_cap_is_a_400_naming_the_meter_and_the_cap_and_is_not_stored(
    api, monkeypatch, base
):
    monkeypatch.setattr(dimensions, "MAX_SEGMENTS", 3)
    meter = _meter(api, "capped", ["model"])
    cus = api.post("/v1/customers", {"name": "Cap"}).json["id"]
    for i in range(3):
        assert _send(api, "capped", cus, 1, base + i, model=f"m{i}").status == 200
    # a known segment is still accepted
    assert _send(api, "capped", cus, 1, base + 5, model="m0").status == 200
    resp = _send(api, "capped", cus, 50, base + 6, model="m3")
    support.assert_stripe_error(resp.status, resp.json, 400)
    assert meter["id"] in resp.json["error"]["message"] and "3" in resp.json["error"]["message"]
    assert _summaries(api, meter, cus, base, base + HOUR)[0]["aggregated_value"] == 4
    # the stream: the over-cap event is rejected by index, the others stored
    other = api.post("/v1/customers", {"name": "Cap2"}).json["id"]
    events = [
        {
            "event_name": "capped",
            "identifier": f"cap-{i}",
            "payload": {"stripe_customer_id": other, "value": "1", "model": f"x{i}"},
        }
        for i in range(5)
    ]
    resp = api.post("/v2/billing/meter_event_stream", json={"events": events})
    assert resp.status == 200, resp.text
    now = int(time.time())
    total = _summaries(api, meter, other, (now - HOUR) // 60 * 60, (now // 60 + 10) * 60)[0][
        "aggregated_value"
    ]
    assert total == 3


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_crash_at_each_transaction_then_a_retry_counts_each_event_once(api, monkeypatch, base, k):
    # Crash points of an event of a meter with dimensions: (1) the segment registration, (2) the
    # usage transaction (events + meter buckets + segment buckets), (3) after it (the answer lost).
    meter = _meter(api, "crashy", ["model"])
    cus = api.post("/v1/customers", {"name": "Crash"}).json["id"]
    real = write.transact
    calls = {"n": 0}

    def failing(actions, units):
        calls["n"] += 1
        if calls["n"] == k:
            raise ConnectionError("Lambda died")
        return real(actions, units)

    body = {
        "event_name": "crashy",
        "identifier": "crash-1",
        "timestamp": base + 30,
        "payload": {"stripe_customer_id": cus, "value": "17", "model": "m"},
    }
    monkeypatch.setattr(write, "transact", failing)
    monkeypatch.setattr("tally.store.usage.segments.transact", failing)
    first = api.post(EVENTS, body)
    monkeypatch.undo()
    assert first.status == (200 if k == 3 else 500), first.text
    if k == 3:
        assert calls["n"] == 2  # registration + usage: there is no third transaction
    retry = api.post(EVENTS, body)
    assert retry.status == 200, retry.text
    assert _summaries(api, meter, cus, base, base + HOUR)[0]["aggregated_value"] == 17
    grouped = _summaries(api, meter, cus, base, base + HOUR, **{"dimension_group_by_keys[]": "model"})
    assert [(r["dimensions"], r["aggregated_value"]) for r in grouped] == [({"model": "m"}, 17)]


def test_write_units_with_and_without_dimensions(api, base, monkeypatch):
    # A meter without dimensions pays 3 WRU for a v1 event (issue 15: its Put, then the
    # aggregator's hour and second items, 1 each: test_usage_costs); with dimensions, the
    # segment's hour and second items add 2 WRU, and a new segment's registration 4 (its item and
    # the count, one transaction) once. (The stream checkpoint, 1 WRU per 10 s, is held off.)
    from tally.store.usage import catchup

    monkeypatch.setattr(catchup, "save", lambda *args: None)  # the checkpoint, held off
    _meter(api, "cost_plain")
    _meter(api, "cost_dims", ["model"])
    cus = api.post("/v1/customers", {"name": "Cost"}).json["id"]
    usage.STATS.reset()
    assert _send(api, "cost_plain", cus, 1, base + 1).status == 200
    assert usage.STATS.write_units == 3 and usage.STATS.read_units == 0
    usage.STATS.reset()
    assert _send(api, "cost_dims", cus, 1, base + 1, model="a").status == 200
    assert usage.STATS.write_units == 3 + 2 + 4
    usage.STATS.reset()
    assert _send(api, "cost_dims", cus, 1, base + 2, model="a").status == 200
    assert usage.STATS.write_units == 3 + 2
    assert usage.STATS.read_units == 1  # the segment's item and the count: eventually consistent
    # a stream batch of 100 events over 2 segments in one minute: 100 Puts (1 WRU each), then one
    # aggregation: the meter's hour and second (2) and each segment's hour and second (4), + segment
    # "b"'s registration (4) = 110: 1.10 per event (2.28 when each event's Put was transactional)
    events = [
        {
            "event_name": "cost_dims",
            "identifier": f"c-{i}",
            "timestamp": base + 600 + i % 30,
            "payload": {"stripe_customer_id": cus, "value": "1", "model": "ab"[i % 2]},
        }
        for i in range(100)
    ]
    from datetime import UTC, datetime

    for e in events:
        e["timestamp"] = datetime.fromtimestamp(e["timestamp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    usage.STATS.reset()
    resp = api.post("/v2/billing/meter_event_stream", json={"events": events})
    assert resp.status == 200, resp.text
    assert usage.STATS.write_units == 100 + 6 + 4


def test_a_v2_metered_item_on_a_meter_with_dimensions_bills_its_segment(api, account, base):
    # GIVEN a meter with dimensions and a metered item per model, created through the v2 API
    meter_json = _meter(api, "v2_items", ["model"])
    cus = api.post("/v1/customers", {"name": "V2"}).json["id"]
    made = {}
    for model in ("alpha", "beta"):
        resp = api.post(
            "/v2/billing/metered_items",
            json={
                "display_name": model,
                "meter": meter_json["id"],
                "meter_segment_conditions": [{"dimension": "model", "value": model}],
                "invoice_presentation_dimensions": ["model"],
            },
        )
        assert resp.status == 200, resp.text
        made[model] = resp.json["id"]
    # a condition on a dimension the meter does not declare is refused
    bad = api.post(
        "/v2/billing/metered_items",
        json={
            "display_name": "x",
            "meter": meter_json["id"],
            "meter_segment_conditions": [{"dimension": "region", "value": "eu"}],
        },
    )
    support.assert_stripe_error(bad.status, bad.json, 400)
    for value, ts, model in [
        (1000, base + 1, "alpha"),
        (2500, base + HOUR, "beta"),
        (1, base + HOUR + 1, "alpha"),
    ]:
        assert _send(api, "v2_items", cus, value, ts, model=model).status == 200
    from tally.billing import billable_items, meters

    clock = Clock(base + 3 * HOUR)
    meter = meters.retrieve(account.id, meter_json["id"], clock)
    # THEN each item's usage is its segment's: alpha 1000 + 1, beta 2500
    for model, expected in (("alpha", 1001), ("beta", 2500)):
        item = billable_items.retrieve(account.id, made[model], MeteredItem, clock)
        assert item_usage.metered_item_usage(account.id, item, meter, cus, base, base + 2 * HOUR) == expected


def test_a_last_meter_keeps_each_segments_latest_value(api, base):
    meter = _meter(api, "seats_dims", ["plan"], formula="last")
    cus = api.post("/v1/customers", {"name": "L"}).json["id"]
    for value, ts, plan in [
        (5, base + 10, "pro"),
        (9, base + 20, "team"),
        (3, base + 30, "pro"),
        (8, base + 25, "pro"),
    ]:
        assert _send(api, "seats_dims", cus, value, ts, plan=plan).status == 200
    rows = _summaries(api, meter, cus, base, base + HOUR, **{"dimension_group_by_keys[]": "plan"})
    # pro: latest by timestamp is 3 (base + 30); team: 9; the meter: 3 (its latest event)
    assert [(r["dimensions"]["plan"], r["aggregated_value"]) for r in rows] == [("pro", 3), ("team", 9)]
    assert _summaries(api, meter, cus, base, base + HOUR)[0]["aggregated_value"] == 3


def test_registration_races_a_concurrent_request_and_the_cap(api, account):
    # GIVEN a segment registered by another request, and a reader that missed it (a stale read)
    from tally.store.usage import segments

    acct, meter_id, cus = account.id, "mtr_race", "cus_race"
    assert segments.ensure(acct, meter_id, {cus: {"a": ("A",)}}, 2) == set()
    # WHEN it registers "a" again believing the count is 0: the Put's condition fails, "a" is
    # known, nothing is refused and the count is not bumped twice
    assert segments._register(acct, meter_id, cus, {"a": ("A",)}, 0, 2) == set()
    assert segments._count_now(segments.UsageKeys.segments(acct, meter_id, cus)) == 1
    # AND with the cap of 2 reached meanwhile, a stale count lets it try: the count's condition
    # fails, the count is read, and only what fits is registered
    assert segments.ensure(acct, meter_id, {cus: {"b": ("B",)}}, 2) == set()
    assert segments._register(acct, meter_id, cus, {"c": ("C",), "d": ("D",)}, 0, 2) == {"c", "d"}
    assert sorted(s.values for s in segments.listed(acct, meter_id, cus)) == [("A",), ("B",)]


@pytest.mark.parametrize("how", ["crash", "busy"])
def test_a_batch_failing_at_every_transaction_boundary_then_retried_counts_each_event_once(
    api, monkeypatch, base, how
):
    # The pattern of test_meter_event_retries.py, on a meter with dimensions: 100 events over two
    # hours and three segments (registrations + several usage transactions); transaction k fails
    # (k past the last: the answer is lost), the client retries the same body and key.
    # Each round has its own customer, so its segments are new: the registration is transaction 1.
    meter = _meter(api, "batchy", ["model"])
    from datetime import UTC, datetime

    def batch(tag: str, cus: str) -> list[dict]:
        return [
            {
                "event_name": "batchy",
                "identifier": f"{tag}-{i}",
                "timestamp": datetime.fromtimestamp(base + (i % 2) * HOUR + i, UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "payload": {"stripe_customer_id": cus, "value": str(i + 1), "model": "xyz"[i % 3]},
            }
            for i in range(100)
        ]

    expected = {m: sum(i + 1 for i in range(100) if "xyz"[i % 3] == m) for m in "xyz"}
    real = write.transact
    count = {"n": 0}

    def counting(actions, units):
        count["n"] += 1
        return real(actions, units)

    monkeypatch.setattr(write, "transact", counting)
    monkeypatch.setattr("tally.store.usage.segments.transact", counting)
    assert (
        api.post(
            "/v2/billing/meter_event_stream",
            json={"events": batch("probe", api.post("/v1/customers", {"name": "P"}).json["id"])},
        ).status
        == 200
    )
    monkeypatch.undo()
    transactions = count["n"]
    assert transactions >= 3  # the registration, then at least two usage transactions
    # Each event is one write since issue 15 (a registration, then 100 Puts): the boundaries tried
    # are the registration, the first Puts, the middle, the last ones and past the last (the
    # answer is lost) — all 102 took minutes per parameter set.
    boundaries = sorted({1, 2, 3, transactions // 2, transactions - 1, transactions, transactions + 1})
    for k in boundaries:
        cus = api.post("/v1/customers", {"name": f"B{k}"}).json["id"]
        calls = {"n": 0}

        def failing(actions, units, k=k, calls=calls):
            calls["n"] += 1
            if calls["n"] == k or (how == "busy" and calls["n"] > k):
                if how == "crash":
                    raise ConnectionError("Lambda died mid-batch")
                return []
            return real(actions, units)

        monkeypatch.setattr(write, "transact", failing)
        monkeypatch.setattr("tally.store.usage.segments.transact", failing)
        monkeypatch.setattr(write.time, "sleep", lambda s: None)
        monkeypatch.setattr("tally.store.usage.segments.time.sleep", lambda s: None)
        events, headers = batch(f"k{k}", cus), {"Idempotency-Key": f"dims-{k}-{how}"}
        first = api.post("/v2/billing/meter_event_stream", json={"events": events}, headers=headers)
        monkeypatch.undo()
        if k > transactions:
            assert first.status == 200, first.text
        retry = api.post("/v2/billing/meter_event_stream", json={"events": events}, headers=headers)
        assert retry.status == 200, retry.text
        rows = _summaries(api, meter, cus, base, base + 2 * HOUR, **{"dimension_group_by_keys[]": "model"})
        assert {r["dimensions"]["model"]: r["aggregated_value"] for r in rows} == expected, k
        assert _summaries(api, meter, cus, base, base + 2 * HOUR)[0]["aggregated_value"] == 5050


def test_segments_always_add_up_to_the_meter(api, base):
    # A property over random events (duplicates and cancels included): for any minute-aligned
    # window, the rows grouped by every dimension sum to the meter-level total, and a filter on
    # one value equals the hand-summed events of that value.
    import random

    rng = random.Random(14)
    meter = _meter(api, "prop_dims", ["model", "region"])
    cus = api.post("/v1/customers", {"name": "Prop"}).json["id"]
    now = int(time.time())
    sent: dict[str, tuple[int, int, dict]] = {}
    for _ in range(60):
        ident = f"p-{rng.randint(0, 45)}"  # some identifiers repeat: duplicates count once
        ts = now - rng.randint(60, 4 * HOUR)
        dims = {"model": rng.choice("ab")} | (
            {"region": rng.choice(["eu", "us"])} if rng.random() < 0.7 else {}
        )
        value = rng.randint(-5, 100)
        body = {
            "event_name": "prop_dims",
            "identifier": ident,
            "timestamp": ts,
            "payload": {"stripe_customer_id": cus, "value": str(value), **dims},
        }
        assert api.post(EVENTS, body).status == 200
        sent.setdefault(ident, (value, ts, dims))
    for ident in rng.sample(sorted(sent), 5):  # cancel a few
        resp = api.post(
            "/v1/billing/meter_event_adjustments",
            {"event_name": "prop_dims", "type": "cancel", "cancel": {"identifier": ident}},
        )
        assert resp.status == 200, resp.text
        del sent[ident]
    for _ in range(6):
        lo = (now - rng.randint(0, 5 * HOUR)) // 60 * 60
        hi = lo + rng.randint(1, 300) * 60
        whole = _summaries(api, meter, cus, lo, hi)[0]["aggregated_value"]
        grouped = _summaries(
            api,
            meter,
            cus,
            lo,
            hi,
            **{"dimension_group_by_keys[0]": "model", "dimension_group_by_keys[1]": "region"},
        )
        assert sum(r["aggregated_value"] for r in grouped) == whole
        expected_a = sum(v for v, ts, d in sent.values() if lo <= ts < hi and d["model"] == "a")
        assert (
            _summaries(api, meter, cus, lo, hi, **{"dimension_filters[model]": "a"})[0]["aggregated_value"]
            == expected_a
        )
        assert whole == sum(v for v, ts, d in sent.values() if lo <= ts < hi)
