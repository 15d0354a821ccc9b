"""Test clocks through the API: a customer's month (and more) on a frozen clock, billed by
`advance` through the same close path as the schedule, exactly once. An advance answers
`advancing` at once; its worker (AdvanceTestClockFunction, fed by `functions.drain()`) bills and
sets the clock `ready` (`support.advance_clock` does both, as a Stripe user polling would).

The plan is the seed walkthrough's price: 0.04 USD per 100 tokens, rounded up (unit_amount 4 cents,
transform_quantity divide_by 100, round up), metered monthly. The clock starts 15 Jan 2031 00:00
UTC — years away from the wall clock, so anything that used the wall clock would show. The
subscription's creation invoice (`subscription_create`, 0 for a metered price, paid at once) is
stamped with the clock's time; `_invoices` lists the ones the advances bill.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import support

from tally.billing import cycles
from tally.clock import Clock

pytestmark = pytest.mark.usefixtures("moto_tables")

CLOCKS = "/v1/test_helpers/test_clocks"
EVENT = "walkthrough_tokens"


def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


T0 = _at(2031, 1, 15)
JAN_20 = _at(2031, 1, 20)
FEB_15, MAR_15, APR_15 = _at(2031, 2, 15), _at(2031, 3, 15), _at(2031, 4, 15)
HOUR = 3600
# The keys of Stripe's test_helpers.test_clock, as Stripe's documented fixture has them
STRIPE_TEST_CLOCK = (
    "created",
    "deletes_after",
    "frozen_time",
    "id",
    "livemode",
    "name",
    "object",
    "status",
    "status_details",
)


def ok(response: support.Response, status: int = 200) -> Any:
    assert response.status == status, response.text
    return response.json


def refused(response: support.Response, **expected: Any) -> dict[str, Any]:
    """A 400 in Stripe's error envelope (with `code`/`param` as expected)."""
    return support.assert_stripe_error(response.status, response.json, 400, **expected)


def _setup(api: support.Api) -> dict[str, str]:
    """A clock at T0, a customer on it, the walkthrough meter and price, and a subscription."""
    clock = ok(api.post(CLOCKS, {"frozen_time": T0, "name": "walkthrough"}))
    customer = ok(api.post("/v1/customers", {"name": "Alpaca AI", "test_clock": clock["id"]}))
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "Tokens", "event_name": EVENT, "default_aggregation": {"formula": "sum"}},
        )
    )
    product = ok(api.post("/v1/products", {"name": "Tokens"}))
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "product": product["id"],
                "unit_amount": 4,
                "transform_quantity": {"divide_by": 100, "round": "up"},
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
            },
        )
    )
    sub = ok(api.post("/v1/subscriptions", {"customer": customer["id"], "items": [{"price": price["id"]}]}))
    return {"clock": clock["id"], "customer": customer["id"], "subscription": sub["id"], "price": price["id"]}


def _event(api: support.Api, customer: str, value: int, timestamp: int | None = None) -> support.Response:
    body: dict[str, Any] = {
        "event_name": EVENT,
        "payload": {"stripe_customer_id": customer, "value": str(value)},
    }
    if timestamp is not None:
        body["timestamp"] = timestamp
    return api.post("/v1/billing/meter_events", body)


def _advance(api: support.Api, clock: str, to: int, **kwargs: Any) -> support.Response:
    """Only the request: the clock answers `advancing`, nothing is billed until the worker runs."""
    return api.post(f"{CLOCKS}/{clock}/advance", {"frozen_time": to}, **kwargs)


def _advanced(api: support.Api, clock: str, to: int) -> dict[str, Any]:
    """The advance and its worker: the clock as retrieved once the queue is drained."""
    return support.advance_clock(api, api.functions, clock, to)


def _all(api: support.Api, subscription: str) -> list[dict[str, Any]]:
    """The subscription's invoices, oldest first."""
    return ok(api.get("/v1/invoices", {"subscription": subscription, "limit": 100}))["data"][::-1]


def _invoices(api: support.Api, subscription: str) -> list[dict[str, Any]]:
    """The subscription's invoices after its creation invoice, oldest first."""
    return [i for i in _all(api, subscription) if i["billing_reason"] != "subscription_create"]


def _first_month(api: support.Api) -> dict[str, str]:
    """The setup, with 1,201 tokens used in the first period (Jan 15 → Feb 15)."""
    ids = _setup(api)
    assert ok(_event(api, ids["customer"], 150))["timestamp"] == T0  # defaults to the clock's time
    assert _advanced(api, ids["clock"], JAN_20)["status"] == "ready"
    assert ok(_event(api, ids["customer"], 1_000))["timestamp"] == JAN_20
    assert ok(_event(api, ids["customer"], 51, JAN_20 - HOUR))["timestamp"] == JAN_20 - HOUR
    return ids


# -- create, retrieve, list -----------------------------------------------------------------------
def test_a_clock_is_created_retrieved_and_listed(api, other_account):
    # WHEN a clock is created THEN Stripe's test_clock object, ready at its frozen time
    clock = ok(api.post(CLOCKS, {"frozen_time": T0, "name": "Q1"}))
    assert set(clock) == set(STRIPE_TEST_CLOCK)
    assert clock["id"].startswith("clock_") and clock["object"] == "test_helpers.test_clock"
    assert (clock["frozen_time"], clock["name"], clock["status"]) == (T0, "Q1", "ready")
    assert clock["deletes_after"] == clock["created"] + 30 * 86400
    # AND it is retrieved and listed by its account only
    assert ok(api.get(f"{CLOCKS}/{clock['id']}")) == clock
    assert [c["id"] for c in ok(api.get(CLOCKS))["data"]] == [clock["id"]]
    assert api.as_(other_account).get(f"{CLOCKS}/{clock['id']}").status == 404
    assert ok(api.as_(other_account).get(CLOCKS))["data"] == []


def test_a_customer_and_its_subscription_start_at_the_clock_time(api):
    # GIVEN a clock at T0 WHEN a customer on it subscribes
    ids = _setup(api)
    # THEN both were created at the frozen time, and name their clock
    customer = ok(api.get(f"/v1/customers/{ids['customer']}"))
    assert (customer["created"], customer["test_clock"]) == (T0, ids["clock"])
    sub = ok(api.get(f"/v1/subscriptions/{ids['subscription']}"))
    assert (sub["start_date"], sub["billing_cycle_anchor"], sub["test_clock"]) == (T0, T0, ids["clock"])


def test_usage_is_validated_against_the_clock_time(api):
    # GIVEN a customer on a clock frozen in 2031
    ids = _setup(api)
    # WHEN events are stamped with the wall clock's time (years before the frozen time) or 36
    # days before the frozen time THEN they are too old for the clock (Stripe's 35-day window)
    for too_old in (int(time.time()), T0 - 36 * 86400):
        refused(_event(api, ids["customer"], 5, too_old), param="timestamp")
    # AND 10 minutes past the frozen time is too new; 35 days before it is accepted
    refused(_event(api, ids["customer"], 5, T0 + 600), param="timestamp")
    assert ok(_event(api, ids["customer"], 5, T0 - 35 * 86400 + 60))["timestamp"] == T0 - 35 * 86400 + 60


# -- advance: the month -----------------------------------------------------------------------------
def test_advancing_a_month_bills_the_period_once(api):
    # GIVEN 1,201 tokens used from Jan 15 to Feb 15 on the clock
    ids = _first_month(api)
    assert _invoices(api, ids["subscription"]) == []
    # AND its creation invoice, at the clock's time: 0 (a metered price), paid, the first number
    (first,) = _all(api, ids["subscription"])
    assert (first["billing_reason"], first["status"], first["total"]) == ("subscription_create", "paid", 0)
    assert (first["created"], first["status_transitions"]["paid_at"]) == (T0, T0)
    assert first["number"].endswith("-0001")
    # WHEN the clock advances past the period's end
    answer = ok(_advance(api, ids["clock"], FEB_15 + HOUR))
    # THEN the request answers at once, as Stripe: advancing, with its target, nothing billed yet
    assert (answer["status"], answer["frozen_time"]) == ("advancing", JAN_20)
    assert answer["status_details"] == {"advancing": {"target_frozen_time": FEB_15 + HOUR}}
    assert ok(api.get(f"{CLOCKS}/{ids['clock']}")) == answer
    assert _invoices(api, ids["subscription"]) == []
    # WHEN its worker runs (the queue is drained)
    api.functions.drain()
    clock = ok(api.get(f"{CLOCKS}/{ids['clock']}"))
    # THEN it is ready at the new time, with one invoice: ceil(1,201 / 100) = 13 × 4 = 52 cents,
    # finalized as the schedule would at the end of its 1-hour grace period
    assert (clock["status"], clock["frozen_time"], clock["status_details"]) == ("ready", FEB_15 + HOUR, {})
    (inv,) = _invoices(api, ids["subscription"])
    assert (inv["status"], inv["billing_reason"]) == ("open", "subscription_cycle")
    assert inv["number"].endswith("-0002") and inv["status_transitions"]["finalized_at"] == FEB_15 + HOUR
    assert (inv["period_start"], inv["period_end"], inv["created"]) == (T0, FEB_15, FEB_15)
    (line,) = inv["lines"]["data"]
    assert (line["quantity"], line["amount"]) == (13, 52)
    assert inv["total"] == inv["amount_due"] == 52
    # AND the subscription is shown in its period at the clock's time
    sub = ok(api.get(f"/v1/subscriptions/{ids['subscription']}"))
    assert (sub["current_period_start"], sub["current_period_end"]) == (FEB_15, MAR_15)
    # AND the clock's events: created, advancing and ready twice (Jan 20, then Feb 15)
    types = [e["type"] for e in support.stored_events(api.account.id) if e["type"].startswith("test_helpers")]
    assert sorted(types) == sorted(
        ["test_helpers.test_clock.created"]
        + ["test_helpers.test_clock.advancing"] * 2
        + ["test_helpers.test_clock.ready"] * 2
    )


def test_advancing_two_more_months_bills_each_period_in_order(api):
    # GIVEN the first month billed, and 250 tokens used right after it
    ids = _first_month(api)
    _advanced(api, ids["clock"], FEB_15 + HOUR)
    ok(_event(api, ids["customer"], 250))
    # WHEN the clock advances two months at once (Stripe's furthest: two intervals)
    clock = _advanced(api, ids["clock"], APR_15 + HOUR)
    # THEN two more invoices, in period order: 250 tokens → ceil(2.5) = 3 × 4 = 12 cents, then 0
    assert clock["status"] == "ready"
    invoices = _invoices(api, ids["subscription"])
    assert [(i["period_start"], i["period_end"], i["total"]) for i in invoices] == [
        (T0, FEB_15, 52),
        (FEB_15, MAR_15, 12),
        (MAR_15, APR_15, 0),
    ]
    assert [i["created"] for i in invoices] == [FEB_15, MAR_15, APR_15]


def test_the_wall_clock_schedule_never_bills_a_test_clock_subscription(api):
    # GIVEN a subscription on a clock whose first period ends Feb 15 2031
    ids = _first_month(api)
    # WHEN the schedule runs long after (wall-clock time far in the future)
    due = [m for m in cycles.due_messages(Clock.at(_at(2040, 1, 1))) if m["account"] == api.account.id]
    # THEN nothing of it is due: only its clock's advance bills it
    assert due == []
    assert _invoices(api, ids["subscription"]) == []


# -- exactly once ---------------------------------------------------------------------------------
def test_a_retried_advance_bills_nothing_twice(api):
    # GIVEN a month advanced and billed
    ids = _first_month(api)
    ok(_advance(api, ids["clock"], FEB_15 + HOUR, headers={"Idempotency-Key": "adv-1"}))
    api.functions.drain()
    # WHEN the same advance is sent again, with its Idempotency-Key and without
    replay = _advance(api, ids["clock"], FEB_15 + HOUR, headers={"Idempotency-Key": "adv-1"})
    assert replay.status == 200 and replay.header("Idempotent-Replayed") == "true"
    again = _advance(api, ids["clock"], FEB_15 + HOUR)
    api.functions.drain()
    # THEN the plain retry is refused (the clock is already there) and still one invoice
    refused(again, param="frozen_time")
    assert len(_invoices(api, ids["subscription"])) == 1


def _send_again(api: support.Api, clock: str, to: int, times: int = 1) -> None:
    """Duplicate deliveries: the advance's message sent again, as a standard queue may deliver it."""
    from tally.billing import test_clocks
    from tally.settings import settings
    from tally.store import queues

    message = test_clocks.advance_message(api.account.id, clock, to)
    queues.send([message] * times, settings().test_clock_queue_url)


def _billed_twice_over(api: support.Api, ids: dict[str, str]) -> None:
    """The two-month advance's invoices: each period billed once, finalized once, the zero paid."""
    invoices = _invoices(api, ids["subscription"])
    assert [(i["period_start"], i["total"], i["status"]) for i in invoices] == [
        (T0, 52, "open"),
        (FEB_15, 0, "paid"),
    ]
    assert sorted(i["number"][-4:] for i in invoices) == ["0002", "0003"]  # 0001: the creation's


def test_duplicate_messages_bill_each_period_once(api):
    # GIVEN the first month used, and a two-month advance whose message is delivered three times
    ids = _first_month(api)
    ok(_advance(api, ids["clock"], MAR_15 + HOUR))
    _send_again(api, ids["clock"], MAR_15 + HOUR, times=2)
    # WHEN the worker takes them all, and once more after the clock is ready
    api.functions.drain()
    _send_again(api, ids["clock"], MAR_15 + HOUR)
    api.functions.drain()
    # THEN the clock is ready and each period was billed once
    clock = ok(api.get(f"{CLOCKS}/{ids['clock']}"))
    assert (clock["status"], clock["frozen_time"]) == ("ready", MAR_15 + HOUR)
    _billed_twice_over(api, ids)
    ready = [e for e in support.stored_events(api.account.id) if e["type"] == "test_helpers.test_clock.ready"]
    assert len(ready) == 2  # Jan 20, Mar 15 + 1 h


def test_the_same_advance_sent_while_advancing_resends_it_and_another_is_refused(api):
    # GIVEN an advance accepted but not yet run (and no other message waiting)
    ids = _first_month(api)
    api.functions.drain()
    ok(_advance(api, ids["clock"], FEB_15 + HOUR))
    # WHEN another frozen_time is asked THEN Stripe's 400, and the clock is unchanged
    error = refused(_advance(api, ids["clock"], FEB_15 + 2 * HOUR))
    assert "advancing" in error["message"]
    # AND a customer cannot join it meanwhile
    refused(api.post("/v1/customers", {"name": "late", "test_clock": ids["clock"]}), param="test_clock")
    # WHEN the same advance is sent again THEN it answers advancing (its message is sent again)
    assert ok(_advance(api, ids["clock"], FEB_15 + HOUR))["status"] == "advancing"
    assert api.functions.drain() == 2
    # AND the worker billed the period once
    assert ok(api.get(f"{CLOCKS}/{ids['clock']}"))["status"] == "ready"
    assert len(_invoices(api, ids["subscription"])) == 1


def test_an_advance_whose_message_is_lost_is_restarted_by_sending_it_again(api):
    # GIVEN the request died after recording the target, before sending its message
    ids = _first_month(api)
    api.functions.drain()  # no other message waiting
    from tally.store import queues

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(queues, "send", lambda *a, **k: (_ for _ in ()).throw(queues.NotSent("injected")))
        assert _advance(api, ids["clock"], FEB_15 + HOUR).status == 500
    assert api.functions.drain() == 0
    assert ok(api.get(f"{CLOCKS}/{ids['clock']}"))["status"] == "advancing"
    # WHEN the same advance is sent again THEN it finishes
    assert _advanced(api, ids["clock"], FEB_15 + HOUR)["status"] == "ready"
    assert len(_invoices(api, ids["subscription"])) == 1


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4, 5, 6, 7])
def test_an_advance_that_crashes_resumes_and_bills_each_period_once(api, crash_at):
    # GIVEN the first month used; the two-month advance takes 7 transactions: the clock →
    # advancing (the request), then in the worker: the Feb 15 period, its finalization at
    # Feb 15 + 1 h, the Mar 15 period, its finalization and (a zero total) its payment at
    # Mar 15 + 1 h, the clock → ready
    ids = _first_month(api)
    # WHEN the process dies at one of them (the request, or the worker: SQS then redelivers)
    with support.TransactionCrash(at=crash_at) as crash:
        answer = _advance(api, ids["clock"], MAR_15 + HOUR)
        assert answer.status == (500 if crash_at == 1 else 200)
        api.functions.drain()
    assert crash.calls == (1 if crash_at == 1 else 8)  # a crashed one, then the 7 that count
    if crash_at == 1:  # nothing was recorded: the clock is ready where it was; send it again
        assert ok(api.get(f"{CLOCKS}/{ids['clock']}"))["frozen_time"] == JAN_20
        _advanced(api, ids["clock"], MAR_15 + HOUR)
    # THEN it finished: ready, each period billed once, finalized once (one number each), the
    # zero invoice paid
    clock = ok(api.get(f"{CLOCKS}/{ids['clock']}"))
    assert (clock["status"], clock["frozen_time"]) == ("ready", MAR_15 + HOUR)
    _billed_twice_over(api, ids)


def test_a_two_month_advance_takes_seven_transactions(api):
    # GIVEN the first month used WHEN the clock advances two months, counting transactions
    ids = _first_month(api)
    with support.TransactionCrash(at=0) as counted:
        _advanced(api, ids["clock"], MAR_15 + HOUR)
    # THEN the crash points above cover every one of them
    assert counted.calls == 7


def test_an_advance_that_keeps_failing_leaves_the_clock_internal_failure(api, monkeypatch):
    # GIVEN billing that fails every time (a bug, say)
    from tally.billing import cycles as billing_cycles
    from tally.billing import test_clocks

    ids = _first_month(api)

    def broken(*args, **kwargs):
        raise RuntimeError("injected: billing is broken")

    api.functions.drain()  # no other message waiting
    monkeypatch.setattr(billing_cycles, "bill_period", broken)
    # WHEN the clock advances past the period's end and the worker tries every attempt
    ok(_advance(api, ids["clock"], FEB_15 + HOUR))
    assert api.functions.drain() == test_clocks.ADVANCE_ATTEMPTS
    # THEN the clock is internal_failure (Stripe's status) where it was, and nothing is billed
    clock = ok(api.get(f"{CLOCKS}/{ids['clock']}"))
    assert (clock["status"], clock["frozen_time"], clock["status_details"]) == (
        "internal_failure",
        JAN_20,
        {},
    )
    assert _invoices(api, ids["subscription"]) == []
    types = [e["type"] for e in support.stored_events(api.account.id)]
    assert "test_helpers.test_clock.internal_failure" in types
    # AND it cannot advance any more (Stripe: "Future requests to advance time will fail"), but
    # it can be deleted
    monkeypatch.undo()
    refused(_advance(api, ids["clock"], FEB_15 + HOUR))
    assert ok(api.delete(f"{CLOCKS}/{ids['clock']}"))["deleted"] is True


# -- limits ---------------------------------------------------------------------------------------
def test_advance_limits_are_refused_and_change_nothing(api):
    # GIVEN a monthly subscription on a clock at T0 (Jan 15)
    ids = _setup(api)
    before = ok(api.get(f"{CLOCKS}/{ids['clock']}"))
    # WHEN advanced backwards, to the same time, or past two intervals (Mar 15 + 1 s)
    for to in (T0 - 1, T0, MAR_15 + 1):
        # THEN 400 naming frozen_time, and the clock is unchanged
        refused(_advance(api, ids["clock"], to), param="frozen_time")
        assert ok(api.get(f"{CLOCKS}/{ids['clock']}")) == before
    # AND exactly two intervals is allowed
    assert _advanced(api, ids["clock"], MAR_15)["frozen_time"] == MAR_15
    assert len(_invoices(api, ids["subscription"])) == 2


def test_a_clock_without_subscriptions_advances_at_most_two_years(api):
    clock = ok(api.post(CLOCKS, {"frozen_time": T0}))
    refused(_advance(api, clock["id"], _at(2033, 1, 15) + 1), param="frozen_time")
    assert _advanced(api, clock["id"], _at(2033, 1, 15))["frozen_time"] == _at(2033, 1, 15)


def test_a_clock_holds_at_most_three_customers(api):
    # GIVEN a clock with 3 customers
    clock = ok(api.post(CLOCKS, {"frozen_time": T0}))
    for n in range(3):
        ok(api.post("/v1/customers", {"name": f"c{n}", "test_clock": clock["id"]}))
    before = ok(api.get("/v1/customers", {"limit": 100}))["data"]
    # WHEN a fourth joins THEN 400 naming test_clock, and no customer is created
    refused(api.post("/v1/customers", {"name": "c3", "test_clock": clock["id"]}), param="test_clock")
    # AND an unknown clock is a missing resource
    refused(
        api.post("/v1/customers", {"name": "x", "test_clock": "clock_nope"}),
        code="resource_missing",
        param="test_clock",
    )
    assert ok(api.get("/v1/customers", {"limit": 100}))["data"] == before


# -- delete ---------------------------------------------------------------------------------------
def test_deleting_a_clock_deletes_its_customers_and_their_objects(api):
    # GIVEN a clock with a subscribed customer billed for two months, and a customer not on it
    ids = _first_month(api)
    _advanced(api, ids["clock"], MAR_15 + HOUR)
    invoices = [i["id"] for i in _invoices(api, ids["subscription"])]
    assert len(invoices) == 2
    item = ok(api.get(f"/v1/subscriptions/{ids['subscription']}"))["items"]["data"][0]["id"]
    other = ok(api.post("/v1/customers", {"name": "not on the clock"}))
    # WHEN the clock is deleted
    answer = ok(api.delete(f"{CLOCKS}/{ids['clock']}"))
    # THEN Stripe's deleted object; the clock, its customer, subscription (and its item) and
    # invoices are gone, from retrieves and lists
    assert answer == {"id": ids["clock"], "object": "test_helpers.test_clock", "deleted": True}
    assert api.get(f"{CLOCKS}/{ids['clock']}").status == 404
    assert api.get(f"/v1/customers/{ids['customer']}").status == 404
    assert api.get(f"/v1/subscriptions/{ids['subscription']}").status == 404
    assert api.get(f"/v1/subscription_items/{item}").status == 404
    assert [api.get(f"/v1/invoices/{i}").status for i in invoices] == [404, 404]
    assert ok(api.get("/v1/invoices", {"customer": ids["customer"]}))["data"] == []
    assert ok(api.get("/v1/subscriptions", {"status": "all"}))["data"] == []
    assert ok(api.get(f"/v1/customers/{other['id']}"))["id"] == other["id"]
    assert ok(api.get(CLOCKS))["data"] == []
    # AND the events say so as Stripe's would: the subscription ended, the customer and the clock
    # were deleted
    types = [e["type"] for e in support.stored_events(api.account.id)]
    for wanted in ("customer.subscription.deleted", "customer.deleted", "test_helpers.test_clock.deleted"):
        assert types.count(wanted) == 1, (wanted, types)


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4])
def test_a_clock_delete_with_objects_that_crashes_is_finished_by_a_retry(api, crash_at):
    # GIVEN a clock whose customer has a subscription and two invoices; its delete takes 4
    # transactions: the customer (with its subscription's cancel), the invoices, the
    # subscription, the clock
    ids = _first_month(api)
    _advanced(api, ids["clock"], MAR_15 + HOUR)
    invoices = [i["id"] for i in _invoices(api, ids["subscription"])]
    # WHEN the delete dies at one of them
    with support.TransactionCrash(at=crash_at):
        assert api.delete(f"{CLOCKS}/{ids['clock']}").status == 500
    # THEN a retry finishes it: everything is gone
    ok(api.delete(f"{CLOCKS}/{ids['clock']}"))
    assert api.get(f"{CLOCKS}/{ids['clock']}").status == 404
    assert api.get(f"/v1/customers/{ids['customer']}").status == 404
    assert api.get(f"/v1/subscriptions/{ids['subscription']}").status == 404
    assert [api.get(f"/v1/invoices/{i}").status for i in invoices] == [404, 404]


def test_a_clock_delete_takes_four_transactions_for_one_subscribed_customer(api):
    ids = _first_month(api)
    _advanced(api, ids["clock"], MAR_15 + HOUR)
    with support.TransactionCrash(at=0) as counted:
        ok(api.delete(f"{CLOCKS}/{ids['clock']}"))
    assert counted.calls == 4


def test_many_invoices_are_removed_in_transactions_of_at_most_100_actions(api, monkeypatch):
    # GIVEN a clock whose customer has a daily subscription billed for 120 days (120 invoices)
    from tally.store import transactions

    clock = ok(api.post(CLOCKS, {"frozen_time": T0}))
    customer = ok(api.post("/v1/customers", {"name": "daily", "test_clock": clock["id"]}))
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 5,
                "product_data": {"name": "Daily"},
                "recurring": {"interval": "day"},
            },
        )
    )
    sub = ok(api.post("/v1/subscriptions", {"customer": customer["id"], "items": [{"price": price["id"]}]}))
    for day in range(2, 121, 2):
        assert _advanced(api, clock["id"], T0 + day * 86400)["status"] == "ready"
    assert len(ok(api.get("/v1/invoices", {"customer": customer["id"], "limit": 100}))["data"]) == 100
    # WHEN the clock is deleted, counting each transaction's actions
    sizes: list[int] = []
    real = transactions.commit

    def commit(account, writes, clock):
        sizes.append(sum(transactions.actions(w) for w in writes))
        return real(account, writes, clock)

    monkeypatch.setattr(transactions, "commit", commit)
    ok(api.delete(f"{CLOCKS}/{clock['id']}"))
    # THEN every transaction stayed within DynamoDB's 100 actions, and everything is gone
    assert sizes and max(sizes) <= 100 and len(sizes) > 2, sizes
    assert ok(api.get("/v1/invoices", {"customer": customer["id"]}))["data"] == []
    assert api.get(f"/v1/subscriptions/{sub['id']}").status == 404


def test_a_clock_delete_that_crashes_is_finished_by_a_retry(api):
    # GIVEN a clock with two customers WHEN its delete dies after the first customer's delete
    clock = ok(api.post(CLOCKS, {"frozen_time": T0}))
    customers = [
        ok(api.post("/v1/customers", {"name": f"c{n}", "test_clock": clock["id"]}))["id"] for n in range(2)
    ]
    with support.TransactionCrash(at=2):
        assert api.delete(f"{CLOCKS}/{clock['id']}").status == 500
    assert api.get(f"/v1/customers/{customers[0]}").status == 404
    assert ok(api.get(f"{CLOCKS}/{clock['id']}"))["id"] == clock["id"]
    # WHEN retried THEN everything is gone
    ok(api.delete(f"{CLOCKS}/{clock['id']}"))
    assert [api.get(f"/v1/customers/{c}").status for c in customers] == [404, 404]
    assert api.get(f"{CLOCKS}/{clock['id']}").status == 404


def test_a_subscription_on_a_clock_is_updated_and_canceled_at_the_clocks_time(api):
    # GIVEN a subscription created on a test clock frozen in 2030
    frozen = 1_900_000_000
    clock = api.post("/v1/test_helpers/test_clocks", {"frozen_time": frozen}).json
    customer = api.post("/v1/customers", {"name": "C", "test_clock": clock["id"]}).json
    product = api.post("/v1/products", {"name": "Seats"}).json
    price = api.post(
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 1000,
            "product": product["id"],
            "recurring": {"interval": "month"},
        },
    ).json
    sub = api.post("/v1/subscriptions", {"customer": customer["id"], "items": [{"price": price["id"]}]}).json
    # WHEN it is updated and then canceled through the API (at today's wall-clock time)
    updated = api.post(f"/v1/subscriptions/{sub['id']}", {"metadata": {"k": "v"}})
    canceled = api.delete(f"/v1/subscriptions/{sub['id']}")
    # THEN both happen at the clock's frozen time, not the wall clock's
    assert updated.status == 200, updated.text
    assert canceled.status == 200, canceled.text
    assert canceled.json["canceled_at"] == frozen
    assert canceled.json["current_period_start"] == frozen


def test_an_advance_inside_the_grace_period_drafts_and_the_next_one_finalizes_with_late_usage(api):
    # GIVEN 1,201 tokens used in the first month on the clock
    ids = _first_month(api)
    # WHEN the clock advances one minute past the period's end
    _advanced(api, ids["clock"], FEB_15 + 60)
    # THEN the invoice is a draft (its grace period runs until FEB_15 + 1 h)
    (inv,) = _invoices(api, ids["subscription"])
    assert (inv["status"], inv["total"]) == ("draft", 52)
    # WHEN late usage for the ended period arrives in the grace period (100 tokens at Feb 14)
    ok(_event(api, ids["customer"], 100, FEB_15 - 86400))
    # AND the clock advances past the grace period
    _advanced(api, ids["clock"], FEB_15 + 2 * HOUR)
    # THEN the invoice is finalized with the late usage: ceil(1,301 / 100) = 14 × 4 = 56 cents
    (inv,) = _invoices(api, ids["subscription"])
    assert (inv["status"], inv["total"]) == ("open", 56)
    assert inv["status_transitions"]["finalized_at"] == FEB_15 + HOUR


# -- test_clock on subscriptions and invoices ----------------------------------------------------------
def test_subscriptions_are_listed_by_test_clock_and_invoices_name_their_clock(api):
    # GIVEN a subscription on a clock, a subscription on another clock and one without a clock
    ids = _first_month(api)
    other_clock = ok(api.post(CLOCKS, {"frozen_time": T0}))["id"]
    other_customer = ok(api.post("/v1/customers", {"name": "B", "test_clock": other_clock}))["id"]
    other_sub = ok(
        api.post("/v1/subscriptions", {"customer": other_customer, "items": [{"price": ids["price"]}]})
    )
    other = {"clock": other_clock, "customer": other_customer, "subscription": other_sub["id"]}
    plain_customer = ok(api.post("/v1/customers", {"name": "no clock"}))
    plain = ok(
        api.post("/v1/subscriptions", {"customer": plain_customer["id"], "items": [{"price": ids["price"]}]})
    )
    assert plain["test_clock"] is None
    # WHEN subscriptions are listed by test_clock THEN only that clock's
    listed = ok(api.get("/v1/subscriptions", {"test_clock": ids["clock"]}))["data"]
    assert [s["id"] for s in listed] == [ids["subscription"]]
    assert [s["test_clock"] for s in listed] == [ids["clock"]]
    assert [s["id"] for s in ok(api.get("/v1/subscriptions", {"test_clock": other["clock"]}))["data"]] == [
        other["subscription"]
    ]
    assert ok(api.get("/v1/subscriptions", {"test_clock": "clock_nope"}))["data"] == []
    # AND with customer too (both must match)
    both = {"test_clock": ids["clock"], "customer": other["customer"]}
    assert ok(api.get("/v1/subscriptions", both))["data"] == []
    # AND a canceled one only with status=canceled
    ok(api.delete(f"/v1/subscriptions/{ids['subscription']}"))
    assert ok(api.get("/v1/subscriptions", {"test_clock": ids["clock"]}))["data"] == []
    canceled = ok(api.get("/v1/subscriptions", {"test_clock": ids["clock"], "status": "canceled"}))["data"]
    assert [s["id"] for s in canceled] == [ids["subscription"]]
    # AND the invoices of a clock's subscription name the clock (Stripe: the clock's id)
    _advanced(api, other["clock"], FEB_15 + HOUR)
    (inv,) = _invoices(api, other["subscription"])
    assert inv["test_clock"] == other["clock"]
    assert ok(api.get(f"/v1/invoices/{inv['id']}"))["test_clock"] == other["clock"]


# -- deletes_after ------------------------------------------------------------------------------------
def test_an_expired_clock_reads_as_deleted_and_cannot_advance(api):
    # GIVEN a clock (deletes_after = created + 30 days) with a customer
    from tally.billing import test_clocks
    from tally.domain.listing import Window
    from tally.errors import InvalidRequest, NotFound

    clock = ok(api.post(CLOCKS, {"frozen_time": T0}))
    customer = ok(api.post("/v1/customers", {"name": "c", "test_clock": clock["id"]}))
    account, expiry = api.account.id, Clock.at(clock["deletes_after"])
    just_before = Clock.at(clock["deletes_after"] - 1)
    assert test_clocks.retrieve(account, clock["id"], just_before).id == clock["id"]
    # WHEN read, listed, advanced or joined at its deletes_after THEN as if it were deleted
    with pytest.raises(NotFound):
        test_clocks.retrieve(account, clock["id"], expiry)
    assert test_clocks.list_(account, Window(limit=10), expiry).data == []
    with pytest.raises(NotFound):
        test_clocks.advance(account, clock["id"], T0 + 60, expiry)
    with pytest.raises(InvalidRequest) as joined:
        test_clocks.create_customer(account, clock["id"], {"name": "late"}, {}, expiry)
    assert (joined.value.code, joined.value.param) == ("resource_missing", "test_clock")
    # AND nothing changed: the clock still answers before its expiry, unadvanced
    assert ok(api.get(f"{CLOCKS}/{clock['id']}"))["frozen_time"] == T0
    # AND deleting it still removes its customer (the cleanup Stripe does by itself)
    test_clocks.delete(account, clock["id"], expiry)
    assert api.get(f"/v1/customers/{customer['id']}").status == 404


def test_the_worker_takes_a_message_for_a_clock_that_is_gone_as_done(functions):
    # GIVEN the sample message (its account and clock do not exist) WHEN the worker takes it
    from tally_local.gateway import LambdaContext

    event = support.load_event("sqs_advance_test_clock.json")
    answer = functions.handler("AdvanceTestClockFunction")(event, LambdaContext("AdvanceTestClockFunction"))
    # THEN nothing fails (a deleted clock's advance has nothing left to do)
    assert answer == {"batchItemFailures": []}


def test_the_worker_reports_a_malformed_message_as_failed(functions):
    from tally_local.gateway import LambdaContext

    event = support.load_event("sqs_advance_test_clock.json")
    event["Records"][0]["body"] = '{"account": "acct_x"}'
    answer = functions.handler("AdvanceTestClockFunction")(event, LambdaContext("AdvanceTestClockFunction"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_test_clock_expands_on_customers_subscriptions_and_invoices(api):
    # GIVEN a customer on a clock with a billed subscription
    ids = _first_month(api)
    _advanced(api, ids["clock"], FEB_15 + HOUR)
    clock = ok(api.get(f"{CLOCKS}/{ids['clock']}"))
    (inv,) = _invoices(api, ids["subscription"])
    # WHEN each is read with expand[]=test_clock THEN the clock object is embedded, as Stripe
    for path in (f"/v1/customers/{ids['customer']}", f"/v1/subscriptions/{ids['subscription']}"):
        assert ok(api.get(path, {"expand": ["test_clock"]}))["test_clock"] == clock
    assert ok(api.get(f"/v1/invoices/{inv['id']}", {"expand": ["test_clock"]}))["test_clock"] == clock
    listed = ok(api.get("/v1/subscriptions", {"test_clock": ids["clock"], "expand": ["data.test_clock"]}))
    assert [s["test_clock"] for s in listed["data"]] == [clock]
