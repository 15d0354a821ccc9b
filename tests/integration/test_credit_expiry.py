"""Billing credits, issue 13 point 3: expiry recorded at the expiry instant — by the period close
(the due index), by a test clock's advance, or by the first read after it — once, with its events
once. Calendar: the wall clock starts at 2025-03-10 00:00 UTC (MAR_10)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import support
import time_machine
from test_credit_grants import GRANTS, LEDGER, MAR_10, grant, ledger, summary
from test_subscriptions_preview import Catalog, Clock, ok, ts

DAY = 86_400


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


# -- expiry at the expiry instant ---------------------------------------------------------------------
def test_expiry_is_effective_at_expires_at_and_recorded_once(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    from test_billing_cycles import close

    customer = catalog.customer()
    g = grant(catalog.api, customer["id"], 1000, expires_at=MAR_10 + DAY)
    account = catalog.api.account.id
    # WHEN the schedule runs a minute after the expiry instant
    clock.at(MAR_10 + DAY + 60)
    close(functions, MAR_10 + DAY + 60)
    functions.drain()
    # THEN the ledger holds credits_expired effective at expires_at, written by the schedule
    assert ledger(catalog.api, customer["id"]) == [
        ("credit", "credits_granted", 1000, MAR_10),
        ("debit", "credits_expired", 1000, MAR_10 + DAY),
    ]
    # AND another close, and reads, record nothing more (one entry, its events once)
    close(functions, MAR_10 + DAY + 120)
    functions.drain()
    assert summary(catalog.api, customer["id"]) == []
    assert len(ledger(catalog.api, customer["id"])) == 2
    types = [e["type"] for e in support.stored_events(account)]
    assert types.count("billing.credit_balance_transaction.created") == 2
    assert types.count("v1.billing.credit_balance_transaction.created") == 2
    assert ok(catalog.api.get(f"{GRANTS}/{g['id']}"))["expires_at"] == MAR_10 + DAY


def test_a_read_after_expiry_sees_it_even_before_the_schedule(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    grant(catalog.api, customer["id"], 1000, expires_at=MAR_10 + DAY)
    clock.at(MAR_10 + DAY - 1)
    assert summary(catalog.api, customer["id"]) == [("usd", 1000, 1000)]
    clock.at(MAR_10 + DAY)
    assert summary(catalog.api, customer["id"]) == []
    assert ledger(catalog.api, customer["id"])[-1] == ("debit", "credits_expired", 1000, MAR_10 + DAY)


def test_grants_on_a_test_clock_expire_as_it_advances(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN a customer on a test clock at Jan 1 2025 with a grant expiring on Jan 20
    jan_1, jan_20 = ts(2025, 1, 1), ts(2025, 1, 20)
    tc = ok(catalog.api.post("/v1/test_helpers/test_clocks", {"frozen_time": jan_1}))
    customer = catalog.customer(test_clock=tc["id"])
    g = grant(catalog.api, customer["id"], 800, expires_at=jan_20)
    assert (g["created"], g["effective_at"], g["test_clock"]) == (jan_1, jan_1, tc["id"])
    # WHEN the clock advances past it
    support.advance_clock(catalog.api, functions, tc["id"], ts(2025, 2, 1))
    # THEN the advance recorded the expiry at its instant (created then, too)
    page = ok(catalog.api.get(LEDGER, {"customer": customer["id"]}))["data"]
    expired = page[0]
    assert (expired["debit"]["type"], expired["effective_at"], expired["created"], expired["test_clock"]) == (
        "credits_expired",
        jan_20,
        jan_20,
        tc["id"],
    )
    assert summary(catalog.api, customer["id"]) == []


def test_moving_or_clearing_the_expiry_moves_the_schedule(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    from test_billing_cycles import close

    customer = catalog.customer()
    moved = grant(catalog.api, customer["id"], 100, expires_at=MAR_10 + DAY)
    cleared = grant(catalog.api, customer["id"], 200, expires_at=MAR_10 + DAY)
    # WHEN one expiry moves to day 3 and the other is cleared (never expires)
    ok(catalog.api.post(f"{GRANTS}/{moved['id']}", {"expires_at": MAR_10 + 3 * DAY}))
    ok(catalog.api.post(f"{GRANTS}/{cleared['id']}", {"expires_at": ""}))
    # THEN the close on day 2 records nothing; on day 3 only the moved one, at its new instant
    close(functions, MAR_10 + 2 * DAY)
    functions.drain()
    assert [e for e in ledger(catalog.api, customer["id"]) if e[1] == "credits_expired"] == []
    close(functions, MAR_10 + 3 * DAY)
    functions.drain()
    assert [e for e in ledger(catalog.api, customer["id"]) if e[1] == "credits_expired"] == [
        ("debit", "credits_expired", 100, MAR_10 + 3 * DAY)
    ]
    assert summary(catalog.api, customer["id"]) == [("usd", 200, 200)]


def test_three_months_of_grants_on_a_test_clock(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN a customer on a test clock at Jan 1 with grants expiring Jan 31, Feb 28 and never
    jan_1, jan_31, feb_28 = ts(2025, 1, 1), ts(2025, 1, 31), ts(2025, 2, 28)
    tc = ok(catalog.api.post("/v1/test_helpers/test_clocks", {"frozen_time": jan_1}))
    customer = catalog.customer(test_clock=tc["id"])
    grant(catalog.api, customer["id"], 100, expires_at=jan_31)
    grant(catalog.api, customer["id"], 200, expires_at=feb_28)
    grant(catalog.api, customer["id"], 400)
    # WHEN the clock advances a month at a time
    support.advance_clock(catalog.api, functions, tc["id"], ts(2025, 2, 1))
    assert summary(catalog.api, customer["id"]) == [("usd", 600, 600)]
    support.advance_clock(catalog.api, functions, tc["id"], ts(2025, 3, 1))
    assert summary(catalog.api, customer["id"]) == [("usd", 400, 400)]
    support.advance_clock(catalog.api, functions, tc["id"], ts(2025, 4, 1))
    # THEN each expiry is recorded once, at its instant, and the never-expiring grant remains
    expired = [e for e in ledger(catalog.api, customer["id"]) if e[1] == "credits_expired"]
    assert expired == [("debit", "credits_expired", 100, jan_31), ("debit", "credits_expired", 200, feb_28)]
    assert summary(catalog.api, customer["id"]) == [("usd", 400, 400)]
    page = ok(catalog.api.get(LEDGER, {"customer": customer["id"]}))["data"]
    assert sorted(t["created"] for t in page if t["debit"]) == [jan_31, feb_28]


def test_grants_of_a_customer_whose_clock_advances_cannot_change(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a customer on a test clock with a grant, the clock advancing (its worker not run)
    tc = ok(catalog.api.post("/v1/test_helpers/test_clocks", {"frozen_time": ts(2025, 1, 1)}))
    customer = catalog.customer(test_clock=tc["id"])
    g = grant(catalog.api, customer["id"], 100)
    ok(catalog.api.post(f"/v1/test_helpers/test_clocks/{tc['id']}/advance", {"frozen_time": ts(2025, 1, 5)}))
    events = len(support.stored_events(catalog.api.account.id))
    # WHEN a grant is created, expired, voided or its expiry moved THEN 400 test_clock_advancing
    params = {
        "customer": customer["id"],
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 1}},
        "applicability_config": {"scope": {"price_type": "metered"}},
    }
    for path, body in [
        (GRANTS, params),
        (f"{GRANTS}/{g['id']}/expire", {}),
        (f"{GRANTS}/{g['id']}/void", {}),
        (f"{GRANTS}/{g['id']}", {"expires_at": ts(2025, 2, 1)}),
    ]:
        answer = catalog.api.post(path, body)
        support.assert_stripe_error(answer.status, answer.json, 400, code="test_clock_advancing")
    # AND nothing changed; metadata alone may still change (no time involved)
    assert len(support.stored_events(catalog.api.account.id)) == events
    assert ok(catalog.api.post(f"{GRANTS}/{g['id']}", {"metadata": {"k": "v"}}))["metadata"] == {"k": "v"}


def test_deleting_a_test_clock_deletes_its_customers_credits(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN a customer on a test clock with a grant that expired and one still live
    tc = ok(catalog.api.post("/v1/test_helpers/test_clocks", {"frozen_time": ts(2025, 1, 1)}))
    customer = catalog.customer(test_clock=tc["id"])
    gone = grant(catalog.api, customer["id"], 100, expires_at=ts(2025, 1, 10))
    live = grant(catalog.api, customer["id"], 200)
    support.advance_clock(catalog.api, functions, tc["id"], ts(2025, 1, 20))
    entries = [t["id"] for t in ok(catalog.api.get(LEDGER, {"customer": customer["id"]}))["data"]]
    assert len(entries) == 3
    # WHEN the clock is deleted, the first attempt dying after the customer's deletion
    with support.TransactionCrash(at=2):
        assert catalog.api.delete(f"/v1/test_helpers/test_clocks/{tc['id']}").status == 500
    ok(catalog.api.delete(f"/v1/test_helpers/test_clocks/{tc['id']}"))
    # THEN its grants and ledger entries are gone, and no expiry stays scheduled
    for path in [f"{GRANTS}/{gone['id']}", f"{GRANTS}/{live['id']}", *(f"{LEDGER}/{i}" for i in entries)]:
        assert catalog.api.get(path).status == 404, path
    from tally.store import credits as store

    account = catalog.api.account.id
    assert store.remaining(account, [gone["id"], live["id"]]) == {}
    assert store.index(account, customer["id"]).version == 0


def test_a_grant_created_after_an_unrecorded_expiry_keeps_it_due(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a grant that expired on day 1, its expiry not yet recorded (no close, no read)
    customer = catalog.customer()
    grant(catalog.api, customer["id"], 100, expires_at=MAR_10 + DAY)
    clock.at(MAR_10 + 2 * DAY)
    # WHEN another grant is created on day 2
    grant(catalog.api, customer["id"], 300)
    # THEN the expiry is still recorded, at its instant, when next read
    assert [e for e in ledger(catalog.api, customer["id"]) if e[1] == "credits_expired"] == [
        ("debit", "credits_expired", 100, MAR_10 + DAY)
    ]
    assert summary(catalog.api, customer["id"]) == [("usd", 300, 300)]
