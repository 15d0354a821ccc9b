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
JAN_20, MAY_15 = _at(2031, 1, 20), _at(2031, 5, 15)
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
    body: dict[str, Any] = {
        "event_name": EVENT,
        "payload": {"stripe_customer_id": customer, "value": str(value)},
    }
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
    from tally.billing import cycles, test_clocks

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
    error = refused(
        api.post(f"{CLOCKS}/{clock}/advance", {"frozen_time": FEB_15}), code="test_clock_advancing"
    )
    assert error["type"] == "invalid_request_error" and "advancing" in error["message"]
    _drain_or_hang(api)
    assert ok(api.get(f"{CLOCKS}/{clock}"))["frozen_time"] == FEB_1


# -- one "now" per clock ----------------------------------------------------------------------------
def _per_token(api: support.Api) -> str:
    """A metered price of 1 cent per token (so an invoice's amounts add up to its tokens)."""
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
            "unit_amount": 1,
            "product_data": {"name": "Tokens"},
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
        },
    )
    return str(ok(price)["id"])


def _billed(api: support.Api, subscription: str) -> int:
    """Every amount the subscription's invoices billed (1 cent per token: the tokens billed)."""
    return sum(ln["amount"] for inv in _invoices(api, subscription) for ln in inv["lines"]["data"])


def _during_the_last_step(monkeypatch: pytest.MonkeyPatch, at: int, send: Any) -> None:
    """Call `send()` inside the advance's worker, right after its finalization at `at` (the clock is
    still `advancing`): a request arriving while the worker runs."""
    from tally.billing import lifecycle

    real = lifecycle.advance_due

    def finalize_then_send(account, invoice_id, clock, **kwargs):
        done = real(account, invoice_id, clock, **kwargs)
        if clock.now == at:
            send()
        return done

    monkeypatch.setattr(lifecycle, "advance_due", finalize_then_send)


def test_usage_sent_while_a_clock_advances_is_billed_or_refused_never_lost(api, monkeypatch):
    # GIVEN tokens at 1 cent on a clock at Jan 15, 100 used at once; the clock moved to Mar 20
    clock, customer = _clock(api)
    sub = _subscribe(api, customer, _per_token(api))
    ok(_event(api, customer, 100))
    _advanced(api, clock, MAR_15)
    _advanced(api, clock, MAR_15 + 5 * DAY)
    # WHEN the clock advances to Apr 15 + 1 h, and while its worker runs — after it finalized the
    # Mar 15 → Apr 15 invoice, which settles the Jan 15 → Feb 15 period (36 days past its end) —
    # usage arrives: stamped Feb 14 (34 days before the clock's old time), Mar 14, and unstamped
    answers: dict[str, support.Response] = {}

    def send() -> None:
        answers["feb_14"] = _event(api, customer, 7, FEB_15 - DAY)
        answers["mar_14"] = _event(api, customer, 11, MAR_15 - DAY)
        answers["now"] = _event(api, customer, 13)

    _during_the_last_step(monkeypatch, APR_15 + HOUR, send)
    assert _advanced(api, clock, APR_15 + HOUR)["status"] == "ready"
    monkeypatch.undo()
    # THEN each request ran at the time the clock advances to: Feb 14 is more than 35 days before
    # it (refused, so never lost); Mar 14 is accepted, and so is the unstamped one, at Apr 15 + 1 h
    refused(answers["feb_14"], param="timestamp")
    assert ok(answers["mar_14"])["timestamp"] == MAR_15 - DAY
    assert ok(answers["now"])["timestamp"] == APR_15 + HOUR
    # AND once the clock moves on, every accepted token is billed exactly once: 100 + 11 + 13
    _advanced(api, clock, MAY_15 + HOUR)
    assert _billed(api, sub["id"]) == 124


def test_usage_from_a_request_that_read_the_clock_before_its_advance_is_billed(api, monkeypatch):
    # GIVEN tokens at 1 cent on a clock at Jan 15, 100 used at once; the clock moved to Mar 20
    from tally.billing import clocks
    from tally.clock import Clock

    clock, customer = _clock(api)
    sub = _subscribe(api, customer, _per_token(api))
    ok(_event(api, customer, 100))
    _advanced(api, clock, MAR_15)
    _advanced(api, clock, MAR_15 + 5 * DAY)
    # WHEN the clock advances to Apr 15 + 1 h, and a request that read the clock just before
    # (still at Mar 20) stores 7 tokens stamped Feb 14 only after the worker's last finalization
    answers: dict[str, support.Response] = {}

    def send_stale() -> None:
        with pytest.MonkeyPatch.context() as stale:
            stale.setattr(clocks, "frozen", lambda *a, **k: Clock.at(MAR_15 + 5 * DAY))
            answers["stale"] = _event(api, customer, 7, FEB_15 - DAY)

    _during_the_last_step(monkeypatch, APR_15 + HOUR, send_stale)
    _advanced(api, clock, APR_15 + HOUR)
    monkeypatch.undo()
    assert ok(answers["stale"])["timestamp"] == FEB_15 - DAY
    # THEN its period [Jan 15, Feb 15) was not settled by that advance (36 days past its end, but
    # not past the clock's time when the advance began): the next advance bills the 7 as a true-up
    _advanced(api, clock, MAY_15 + HOUR)
    assert _billed(api, sub["id"]) == 107


def test_a_cancel_runs_on_the_clock_time_so_an_accepted_cancel_is_credited(api):
    # GIVEN tokens at 1 cent on a clock at Jan 15; 500 used Jan 20 (received then, clock time)
    clock, customer = _clock(api)
    sub = _subscribe(api, customer, _per_token(api))
    _advanced(api, clock, JAN_20)
    old = ok(_event(api, customer, 500, identifier="old-500"))
    assert old["timestamp"] == JAN_20
    # AND 300 used on Feb 14 at 23:00; the clock then closes the period (Feb 15 + 2 h)
    _advanced(api, clock, FEB_15 - HOUR)
    ok(_event(api, customer, 300, identifier="late-300"))
    _advanced(api, clock, FEB_15 + 2 * HOUR)
    cancel = "/v1/billing/meter_event_adjustments"
    # WHEN the Jan 20 event is cancelled (26 days after its receipt on the clock, seconds after it
    # on the wall clock) THEN refused: the 24 h window runs on the clock's time, as settlement does
    refused(
        api.post(cancel, {"event_name": EVENT, "cancel": {"identifier": "old-500"}}),
        param="cancel[identifier]",
    )
    # WHEN the Feb 14 event is cancelled 3 h after its receipt on the clock THEN accepted
    assert (
        ok(api.post(cancel, {"event_name": EVENT, "cancel": {"identifier": "late-300"}}))["status"]
        == "complete"
    )
    # AND credited: the next invoice carries −300 for the finalized period, so 500 in all
    _advanced(api, clock, MAR_15 + HOUR)
    assert _billed(api, sub["id"]) == 500


def test_while_a_clock_advances_its_subscriptions_and_invoices_do_not_change(api):
    # GIVEN a seat subscription on a clock whose advance is accepted but not yet run
    clock, customer = _clock(api)
    sub = _subscribe(api, customer, _seats(api), _per_token(api))
    first = ok(api.get("/v1/invoices", {"subscription": sub["id"]}))["data"][0]["id"]
    api.functions.drain()
    ok(api.post(f"{CLOCKS}/{clock}/advance", {"frozen_time": FEB_1}))
    # WHEN its subscription is updated or canceled, a new one created, or its invoice changed
    # THEN 400 test_clock_advancing, and nothing changed
    attempts = [
        api.post(f"/v1/subscriptions/{sub['id']}", {"metadata": {"k": "v"}}),
        api.delete(f"/v1/subscriptions/{sub['id']}"),
        api.post("/v1/subscriptions", {"customer": customer, "items": [{"price": _seats(api)}]}),
        api.post(f"/v1/invoices/{first}", {"metadata": {"k": "v"}}),
    ]
    for answer in attempts:
        error = refused(answer, code="test_clock_advancing")
        assert "advancing" in error["message"]
    shown = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (shown["status"], shown["metadata"]) == ("active", {})
    # AND usage is accepted at the time the clock advances to
    assert ok(_event(api, customer, 5))["timestamp"] == FEB_1
    # AND once it is ready, changes are taken again, at its time
    _drain_or_hang(api)
    assert ok(api.delete(f"/v1/subscriptions/{sub['id']}"))["canceled_at"] == FEB_1


def test_an_advance_writes_the_reminders_the_schedule_would(api):
    # GIVEN a seat subscription on a clock at Jan 15 WHEN the clock advances past Feb 14
    clock, customer = _clock(api)
    sub = _subscribe(api, customer, _seats(api))
    _advanced(api, clock, FEB_15 - HOUR)
    # THEN `invoice.upcoming` was written once, a day before the renewal, for this subscription
    upcoming = [e for e in support.stored_events(api.account.id) if e["type"] == "invoice.upcoming"]
    assert [(e["created"], e["data"]["object"]["subscription"]) for e in upcoming] == [
        (FEB_15 - DAY, sub["id"])
    ]


# -- cancel_at anywhere ------------------------------------------------------------------------------
def test_a_cancel_at_in_a_later_period_renews_into_a_cut_period_on_a_clock(api):
    # GIVEN a 10.00 seat and tokens (4 cents per 100) on a clock at Jan 15, set to end on Mar 1:
    # beyond its current period [Jan 15, Feb 15) (once refused)
    clock, customer = _clock(api)
    sub = _subscribe(api, customer, _seats(api), _tokens(api))
    got = ok(api.post(f"/v1/subscriptions/{sub['id']}", {"cancel_at": MAR_1}))
    assert (got["cancel_at"], got["status"], got["cancel_at_period_end"]) == (MAR_1, "active", False)
    ok(_event(api, customer, 150))
    # WHEN the clock advances two months
    assert _advanced(api, clock, MAR_15)["status"] == "ready"
    # THEN Feb 15 renewed into [Feb 15, Mar 1) only: tokens ceil(1.5) × 4 = 8, and the seat for
    # 14 of the period's 28 days, 1,000 × 14 / 28 = 500; Mar 1 ended it with a final invoice
    renewal, final = _invoices(api, sub["id"])
    assert (renewal["period_start"], renewal["period_end"], renewal["total"]) == (T0, FEB_15, 508)
    seat = [ln for ln in renewal["lines"]["data"] if ln["amount"] == 500]
    assert [(ln["period"]["start"], ln["period"]["end"]) for ln in seat] == [(FEB_15, MAR_1)]
    assert (final["period_start"], final["period_end"], final["total"]) == (FEB_15, MAR_1, 0)
    ended = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (ended["status"], ended["ended_at"]) == ("canceled", MAR_1)


@pytest.fixture
def wall() -> Any:
    """The wall clock frozen at 2025-03-10 00:00 UTC, moved by the test (time_machine)."""
    import time_machine
    from test_subscriptions_preview import Clock

    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


def test_a_cancel_at_in_a_later_period_in_real_time_bills_the_cut_period_and_ends(api, wall):
    # GIVEN 3 seats at 10.00 and tokens at 2 each from Mar 10 2025; 40 tokens on Mar 15
    from test_subscription_updates import APR_10, MAR_20, hybrid, lines_of, update
    from test_subscriptions_preview import Catalog, ts

    from tally.billing import cycles
    from tally.clock import Clock

    catalog = Catalog(api)
    customer, meter, sub = hybrid(catalog)
    wall.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 40)
    apr_25, may_10 = ts(2025, 4, 25), ts(2025, 5, 10)
    # WHEN on Mar 20 it is set to end on Apr 25, in the next period [Apr 10, May 10)
    wall.at(MAR_20)
    got = ok(update(catalog, sub, cancel_at=apr_25))
    assert (got["cancel_at"], got["status"]) == (apr_25, "active")
    # THEN nothing is credited now; the preview renews the seats for [Apr 10, Apr 25) only:
    # 3,000 × 15 / 30 days = 1,500; 40 tokens = 80
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert sorted((q, a, p) for _, q, a, _, p in lines_of(preview)) == [
        (3, 1500, (APR_10, apr_25)),
        (40, 80, (ts(2025, 3, 10), APR_10)),
    ]
    # WHEN the close runs at Apr 10 THEN it bills that same invoice
    billed = cycles.bill_period(api.account.id, sub["id"], APR_10, Clock(APR_10 + 30))
    assert billed.invoice is not None and billed.invoice.total == 1580
    # AND 10 tokens on Apr 20; the close at Apr 25 ends it: the final invoice bills 10 × 2 = 20
    wall.at(ts(2025, 4, 20))
    catalog.usage(meter, customer, 10)
    final = cycles.bill_period(api.account.id, sub["id"], apr_25, Clock(apr_25 + 30))
    assert final.invoice is not None
    assert (final.invoice.period_start, final.invoice.period_end, final.invoice.total) == (APR_10, apr_25, 20)
    shown = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (shown["status"], shown["ended_at"]) == ("canceled", apr_25)
    assert may_10 > apr_25


def test_clearing_a_cancel_at_after_the_cut_renewal_charges_the_rest_back(api, wall):
    # GIVEN 3 seats at 10.00 from Mar 10 2025, set to end Apr 25, renewed on Apr 10 for
    # [Apr 10, Apr 25) only (1,500)
    from test_subscription_updates import APR_10, MAR_20, hybrid, lines_of, update
    from test_subscriptions_preview import Catalog, ts

    from tally.billing import cycles
    from tally.clock import Clock

    catalog = Catalog(api)
    _, _, sub = hybrid(catalog)
    apr_25, may_10 = ts(2025, 4, 25), ts(2025, 5, 10)
    wall.at(MAR_20)
    ok(update(catalog, sub, cancel_at=apr_25))
    cycles.bill_period(api.account.id, sub["id"], APR_10, Clock(APR_10 + 30))
    # WHEN on Apr 20 cancel_at is cleared
    wall.at(ts(2025, 4, 20))
    got = ok(update(catalog, sub, cancel_at=""))
    assert (got["cancel_at"], got["status"]) == (None, "active")
    # THEN the time it had not billed, [Apr 25, May 10), is charged: 3,000 × 15 / 30 = 1,500
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert [(q, a, p) for _, q, a, prorated, p in lines_of(preview) if prorated] == [
        (3, 1500, (apr_25, may_10))
    ]


def _ending_clock(api: support.Api) -> tuple[str, str]:
    """A clock at Jan 15 whose 10.00 seat subscription is set to end Feb 1 (inside its period)."""
    clock, customer = _clock(api)
    sub = _subscribe(api, customer, _seats(api))
    ok(api.post(f"/v1/subscriptions/{sub['id']}", {"cancel_at": FEB_1}))
    api.functions.drain()
    return clock, sub["id"]


def test_an_advance_ending_a_subscription_that_crashes_anywhere_resumes_and_bills_once(api):
    # GIVEN the advance past a cancel_at, counting its transactions (the request, the final close,
    # whatever finalizes it, the clock → ready)
    clock, _ = _ending_clock(api)
    with support.TransactionCrash(at=0) as counted:
        _advanced(api, clock, FEB_15 + HOUR)
    assert counted.calls >= 3
    for crash_at in range(1, counted.calls + 1):
        # WHEN the same advance dies at each of them (the request, or the worker: redelivered)
        clock, sub = _ending_clock(api)
        with support.TransactionCrash(at=crash_at):
            answer = api.post(f"{CLOCKS}/{clock}/advance", {"frozen_time": FEB_15 + HOUR})
            assert answer.status == (500 if crash_at == 1 else 200), crash_at
            _drain_or_hang(api)
        if crash_at == 1:  # nothing was recorded: send it again
            _advanced(api, clock, FEB_15 + HOUR)
        # THEN it finished: ready, the subscription ended once, one final invoice of −452
        assert ok(api.get(f"{CLOCKS}/{clock}"))["status"] == "ready", crash_at
        assert ok(api.get(f"/v1/subscriptions/{sub}"))["status"] == "canceled"
        assert [i["total"] for i in _invoices(api, sub)] == [-452], crash_at


def test_an_advance_writes_trial_will_end_three_days_before_a_trial_ends(api):
    # GIVEN a seat subscription on a clock at Jan 15 with a 7-day trial (ends Jan 22)
    clock, customer = _clock(api)
    sub = _subscribe(api, customer, _seats(api), trial_period_days=7)
    # WHEN the clock advances past Jan 19 (3 days before the trial ends), and past its end
    _advanced(api, clock, T0 + 5 * DAY)
    _advanced(api, clock, T0 + 8 * DAY)
    # THEN `customer.subscription.trial_will_end` was written once, at Jan 19 on the clock
    found = [
        e
        for e in support.stored_events(api.account.id)
        if e["type"] == "customer.subscription.trial_will_end"
    ]
    assert [(e["created"], e["data"]["object"]["id"]) for e in found] == [(T0 + 4 * DAY, sub["id"])]
    # AND the trial's close billed the first paid period in advance: 1,000
    assert [i["total"] for i in _invoices(api, sub["id"])] == [1000]
