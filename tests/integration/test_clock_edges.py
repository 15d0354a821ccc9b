"""Test clocks at their edges (issue 12, point 4): an advance always ends, deleting a clock stops
its work, a subscription may end anywhere (`cancel_at` in a later period), and a clock has one
"now" for accepting usage, cancel windows and settlement.

Hand-computed amounts. The clock starts 15 Jan 2031 00:00 UTC (years from the wall clock, so
anything that used the wall clock would show). Seats: 1,000 (10.00 USD) a month, licensed, in
advance; tokens: 4 cents per 100 (rounded up), metered, in arrears.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

CLOCKS = "/v1/test_helpers/test_clocks"
EVENT = "edge_tokens"
DAY, HOUR = 86_400, 3_600
HANG_SECONDS = 60  # a worker still running after this is a hang (the fixed advance takes ~1 s)


def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


T0 = _at(2031, 1, 15)
FEB_1, FEB_15, MAR_1, MAR_15, APR_15 = (
    _at(2031, 2, 1),
    _at(2031, 2, 15),
    _at(2031, 3, 1),
    _at(2031, 3, 15),
    _at(2031, 4, 15),
)


def ok(response: support.Response, status: int = 200) -> Any:
    assert response.status == status, response.text
    return response.json


def refused(response: support.Response, status: int = 400, **expected: Any) -> dict[str, Any]:
    return support.assert_stripe_error(response.status, response.json, status, **expected)


def _clock(api: support.Api, frozen: int = T0) -> tuple[str, str]:
    """A clock and a customer on it."""
    clock = ok(api.post(CLOCKS, {"frozen_time": frozen}))["id"]
    customer = ok(api.post("/v1/customers", {"name": "Edge", "test_clock": clock}))["id"]
    return clock, customer


def _seats(api: support.Api) -> str:
    price = api.post(
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 1000,
            "product_data": {"name": "Seats"},
            "recurring": {"interval": "month"},
        },
    )
    return str(ok(price)["id"])


def _tokens(api: support.Api) -> str:
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "Tokens", "event_name": EVENT, "default_aggregation": {"formula": "sum"}},
        )
    )
    price = api.post(
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 4,
            "transform_quantity": {"divide_by": 100, "round": "up"},
            "product_data": {"name": "Tokens"},
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
        },
    )
    return str(ok(price)["id"])


def _subscribe(api: support.Api, customer: str, *prices: str, **extra: Any) -> dict[str, Any]:
    body = {"customer": customer, "items": [{"price": p} for p in prices], **extra}
    return dict(ok(api.post("/v1/subscriptions", body)))


def _event(api: support.Api, customer: str, value: int, timestamp: int | None = None, **extra: Any) -> Any:
    body: dict[str, Any] = {"event_name": EVENT, "payload": {"stripe_customer_id": customer, "value": str(value)}}
    if timestamp is not None:
        body["timestamp"] = timestamp
    return api.post("/v1/billing/meter_events", {**body, **extra})


def _invoices(api: support.Api, subscription: str) -> list[dict[str, Any]]:
    """The subscription's invoices after its creation invoice, oldest first."""
    data = ok(api.get("/v1/invoices", {"subscription": subscription, "limit": 100}))["data"][::-1]
    return [i for i in data if i["billing_reason"] != "subscription_create"]


def _drain_or_hang(api: support.Api) -> int:
    """Run the queued workers in a thread; a worker still running after HANG_SECONDS fails the test
    (the thread is a daemon: it cannot keep the test run alive). Returns how many deliveries."""
    failure: list[BaseException] = []
    delivered: list[int] = []

    def work() -> None:
        try:
            delivered.append(api.functions.drain())
        except BaseException as exc:  # reported by the test's thread
            failure.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(HANG_SECONDS)
    assert not worker.is_alive(), f"the advance's worker is still running after {HANG_SECONDS} s: it hangs"
    assert not failure, failure
    return delivered[0]


def _advanced(api: support.Api, clock: str, to: int) -> dict[str, Any]:
    answer = ok(api.post(f"{CLOCKS}/{clock}/advance", {"frozen_time": to}))
    assert answer["status"] == "advancing", answer
    _drain_or_hang(api)
    return dict(ok(api.get(f"{CLOCKS}/{clock}")))


# -- an advance always ends -----------------------------------------------------------------------
def test_an_advance_past_a_cancel_at_inside_the_period_ends_and_bills_the_final_invoice(api):
    # GIVEN a 10.00 monthly seat on a clock at Jan 15, set to end on Feb 1 (inside its period)
    clock, customer = _clock(api)
    sub = _subscribe(api, customer, _seats(api))
    updated = ok(api.post(f"/v1/subscriptions/{sub['id']}", {"cancel_at": FEB_1}))
    assert updated["cancel_at"] == FEB_1
    # WHEN the clock advances past Feb 1 (and past the period's end)
    after = _advanced(api, clock, FEB_15 + HOUR)
    # THEN the advance ends: the clock is ready there
    assert (after["status"], after["frozen_time"]) == ("ready", FEB_15 + HOUR)
    # AND the subscription ended at Feb 1 with its final invoice [Jan 15, Feb 1): no seat in
    # advance, the unused time [Feb 1, Feb 15) credited: 1,000 × 14 / 31 days = 451.6 → −452
    ended = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (ended["status"], ended["ended_at"]) == ("canceled", FEB_1)
    (final,) = _invoices(api, sub["id"])
    assert (final["period_start"], final["period_end"]) == (T0, FEB_1)
    assert [ln["amount"] for ln in final["lines"]["data"]] == [-452]
    assert final["total"] == -452  # (its finalization: the `invoicing` point, not this one)


def test_an_advance_that_cannot_make_progress_ends_in_internal_failure_with_a_logged_reason(
    api, monkeypatch, caplog
):
    # GIVEN a subscription whose period close never moves it on (a bug, say: billing answers
    # "nothing to do" for ever)
    from tally.billing import cycles
    from tally.billing import test_clocks

    clock, customer = _clock(api)
    _subscribe(api, customer, _seats(api))
    api.functions.drain()
    monkeypatch.setattr(cycles, "bill_period", lambda *a, **k: cycles.Billed("not_due"))
    # WHEN the clock advances past two period ends
    ok(api.post(f"{CLOCKS}/{clock}/advance", {"frozen_time": MAR_15}))
    with caplog.at_level("ERROR"):
        _drain_or_hang(api)
    # THEN the advance ends at once (no redelivery: retrying cannot help) in internal_failure,
    # where the clock was, with the reason logged
    after = ok(api.get(f"{CLOCKS}/{clock}"))
    assert (after["status"], after["frozen_time"]) == ("internal_failure", T0)
    logged = [r for r in caplog.records if "no progress" in r.getMessage()]
    assert logged, [r.getMessage() for r in caplog.records]
    assert test_clocks.MAX_STEPS >= 1


def test_deleting_a_clock_while_it_advances_stops_its_worker(api, monkeypatch):
    # GIVEN a two-month advance whose clock is deleted while the worker takes its first step
    from tally.billing import cycles

    clock, customer = _clock(api)
    sub = _subscribe(api, customer, _seats(api))
    api.functions.drain()
    real, calls = cycles.bill_period, []

    def bill_and_delete(account, subscription_id, period_end, at):
        calls.append(at.now)
        done = real(account, subscription_id, period_end, at)
        if len(calls) == 1:
            ok(api.delete(f"{CLOCKS}/{clock}"))
        return done

    monkeypatch.setattr(cycles, "bill_period", bill_and_delete)
    ok(api.post(f"{CLOCKS}/{clock}/advance", {"frozen_time": MAR_15}))
    deliveries = _drain_or_hang(api)
    # THEN the worker stopped after that step, as done: nothing after the delete (its first step is
    # the Feb 14 reminder; no reminder or close after it), no failure and so no redelivery
    assert calls == [FEB_15 - DAY]
    assert deliveries == 1
    assert api.get(f"{CLOCKS}/{clock}").status == 404
    assert api.get(f"/v1/subscriptions/{sub['id']}").status == 404


def test_advancing_while_advancing_answers_a_400_with_a_code(api):
    clock, customer = _clock(api)
    _subscribe(api, customer, _seats(api))
    api.functions.drain()
    ok(api.post(f"{CLOCKS}/{clock}/advance", {"frozen_time": FEB_1}))
    error = refused(api.post(f"{CLOCKS}/{clock}/advance", {"frozen_time": FEB_15}), code="test_clock_advancing")
    assert error["type"] == "invalid_request_error" and "advancing" in error["message"]
    _drain_or_hang(api)
    assert ok(api.get(f"{CLOCKS}/{clock}"))["frozen_time"] == FEB_1
