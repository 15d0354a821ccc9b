"""The invoice a subscription's creation issues (Stripe's `billing_reason: subscription_create`,
`tally.billing.first_invoices`): what it bills, that it is finalized at once, and that it is
written exactly once with the subscription (one transaction; a crash leaves nothing; an
Idempotency-Key replays).

Every subscription here is created on 2025-03-10 00:00 UTC: its first period is [Mar 10, Apr 10)
(31 days). Amounts are hand-computed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import support
import time_machine
from test_subscriptions_preview import Catalog, Clock, ok, ts

from tally.billing import cycles, subscription_creation, subscriptions
from tally.clock import Clock as TallyClock
from tally.store import transactions

MAR_10, MAR_15, MAR_20, APR_10 = ts(2025, 3, 10), ts(2025, 3, 15), ts(2025, 3, 20), ts(2025, 4, 10)
MAY_10 = ts(2025, 5, 10)


@pytest.fixture
def clock() -> Iterator[Clock]:
    import datetime as dt

    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


def invoices_of(catalog: Catalog, sub: dict[str, Any]) -> list[dict[str, Any]]:
    return ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"], "limit": 100}))["data"]


def lines(invoice: dict[str, Any]) -> list[tuple[str, int, int, bool, tuple[int, int]]]:
    return sorted(
        (
            ln["description"],
            ln["quantity"],
            ln["amount"],
            ln["parent"]["subscription_item_details"]["proration"],
            (ln["period"]["start"], ln["period"]["end"]),
        )
        for ln in invoice["lines"]["data"]
    )


def events_about(account: str, object_id: str) -> list[str]:
    """The types of the events whose object is `object_id`, oldest first."""
    return [
        e["type"] for e in reversed(support.stored_events(account)) if e["data"]["object"]["id"] == object_id
    ]


def hybrid(catalog: Catalog) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """3 seats at 10.00 and tokens at 2 each."""
    customer = catalog.customer()
    meter = catalog.meter()
    seats = catalog.price("Seats", unit_amount=1000)
    tokens = catalog.metered("Tokens", meter, unit_amount=2)
    sub = catalog.subscribe(customer, {"price": seats["id"], "quantity": 3}, {"price": tokens["id"]})
    return customer, meter, sub


def test_a_licensed_plan_is_billed_for_its_first_period_at_creation(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # WHEN a customer subscribes to 3 seats at 10.00 and tokens at 2 each
    customer, meter, sub = hybrid(catalog)
    # THEN one invoice exists: 3 × 1000 = 3000 for [Mar 10, Apr 10) in advance, the tokens' 0 line
    (first,) = invoices_of(catalog, sub)
    assert lines(first) == [
        ("0 × Tokens", 0, 0, False, (MAR_10, MAR_10)),
        ("3 × Seats", 3, 3000, False, (MAR_10, APR_10)),
    ]
    # AND it is finalized at once: open, numbered from the customer, created and finalized now
    assert (first["billing_reason"], first["status"], first["number"]) == (
        "subscription_create",
        "open",
        f"{customer['invoice_prefix']}-0001",
    )
    assert (first["total"], first["amount_due"], first["amount_remaining"], first["amount_paid"]) == (
        3000,
        3000,
        3000,
        0,
    )
    assert (first["created"], first["period_start"], first["period_end"]) == (MAR_10, MAR_10, MAR_10)
    assert first["status_transitions"]["finalized_at"] == MAR_10 and first["auto_advance"] is True
    assert first["automatically_finalizes_at"] is None
    assert ok(catalog.api.get(f"/v1/customers/{customer['id']}"))["next_invoice_sequence"] == 2
    # AND its events are written with the subscription's: created (a draft), then finalized
    assert events_about(account.id, first["id"]) == ["invoice.created", "invoice.finalized"]
    created = next(
        e
        for e in support.stored_events(account.id)
        if e["type"] == "invoice.created" and e["data"]["object"]["id"] == first["id"]
    )
    assert (created["data"]["object"]["status"], created["data"]["object"]["number"]) == ("draft", None)
    assert "customer.subscription.created" in events_about(account.id, sub["id"])
    assert events_about(account.id, customer["id"])[-1] == "customer.updated"  # its sequence moved
    # WHEN 40 tokens are used on Mar 15, and the invoice previewed on Mar 20
    clock.at(MAR_15)
    catalog.usage(meter, customer, 40)
    clock.at(MAR_20)
    preview = ok(catalog.preview(subscription=sub["id"]))
    # THEN the next close bills the tokens of period 1 (40 × 2 = 80) and the seats for period 2 in
    #      advance (3000): 3080, as the preview showed it; the first period's seats are not billed again
    billed = cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(APR_10))
    assert billed.outcome == "billed" and billed.invoice is not None
    cycle = ok(catalog.api.get(f"/v1/invoices/{billed.invoice.id}"))
    assert lines(cycle) == [
        ("3 × Seats", 3, 3000, False, (APR_10, MAY_10)),
        ("40 × Tokens", 40, 80, False, (MAR_10, APR_10)),
    ]
    assert lines(preview) == lines(cycle) and preview["total"] == cycle["total"] == 3080
    assert len(invoices_of(catalog, sub)) == 2


def test_a_metered_only_subscription_gets_a_zero_invoice_paid_at_once(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # WHEN a customer subscribes to a metered price only
    customer, meter = catalog.customer(), catalog.meter()
    tokens = catalog.metered("Tokens", meter, unit_amount=2)
    sub = catalog.subscribe(customer, {"price": tokens["id"]})
    # THEN its creation invoice is 0 (Stripe's classic mode: a 0 line per metered item), paid when
    #      it was finalized, with invoice.created, invoice.finalized and invoice.paid
    (first,) = invoices_of(catalog, sub)
    assert lines(first) == [("0 × Tokens", 0, 0, False, (MAR_10, MAR_10))]
    assert (first["status"], first["total"], first["amount_paid"], first["amount_remaining"]) == (
        "paid",
        0,
        0,
        0,
    )
    assert first["status_transitions"]["paid_at"] == first["status_transitions"]["finalized_at"] == MAR_10
    assert first["number"] == f"{customer['invoice_prefix']}-0001"
    assert events_about(account.id, first["id"]) == ["invoice.created", "invoice.finalized", "invoice.paid"]


def test_a_future_anchor_bills_the_time_up_to_it(catalog: Catalog, clock: Clock) -> None:
    # WHEN 3 seats at 10.00 are subscribed with the billing cycle anchored on Apr 1
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    apr_1 = ts(2025, 4, 1)
    sub = catalog.subscribe(customer, {"price": seats["id"], "quantity": 3}, billing_cycle_anchor=apr_1)
    # THEN the creation invoice bills [Mar 10, Apr 1) prorated over the month ending at the anchor,
    #      [Mar 1, Apr 1) = 31 days: 3000 × 22/31 = 2129.03 → 2129
    (first,) = invoices_of(catalog, sub)
    assert lines(first) == [("Remaining time on 3 × Seats after 10 Mar 2025", 3, 2129, True, (MAR_10, apr_1))]
    assert (first["total"], first["status"]) == (2129, "open")


def test_a_trial_gets_a_zero_invoice(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    sub = catalog.subscribe(customer, {"price": seats["id"], "quantity": 2}, trial_end=ts(2025, 3, 17))
    (first,) = invoices_of(catalog, sub)
    assert lines(first) == [("Trial period for Seats", 2, 0, False, (MAR_10, ts(2025, 3, 17)))]
    assert (first["total"], first["status"]) == (0, "paid")


def test_a_crash_in_the_create_transaction_writes_nothing_and_the_retry_creates_once(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN a customer and a seats price
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    spec = subscriptions.ItemSpec(seats["id"], "items[0][price]", quantity=3)
    before = len(support.stored_events(account.id))
    # WHEN the process dies at the create's one transaction (subscription, item claims, invoice,
    #      its claim, customer sequence, events)
    with support.TransactionCrash(at=1) as crash, pytest.raises(support.InjectedCrash):
        subscription_creation.create(account.id, customer["id"], [spec], TallyClock(MAR_10))
    assert crash.calls == 1
    # THEN nothing was written: no subscription, no invoice, no event, the sequence not taken
    assert (
        ok(catalog.api.get("/v1/subscriptions", {"customer": customer["id"], "status": "all"}))["data"] == []
    )
    assert ok(catalog.api.get("/v1/invoices", {"customer": customer["id"]}))["data"] == []
    assert len(support.stored_events(account.id)) == before
    assert ok(catalog.api.get(f"/v1/customers/{customer['id']}"))["next_invoice_sequence"] == 1
    # AND the retry creates it once, with its invoice numbered 0001
    shown = subscription_creation.create(account.id, customer["id"], [spec], TallyClock(MAR_10))
    (first,) = ok(catalog.api.get("/v1/invoices", {"customer": customer["id"]}))["data"]
    assert (first["subscription"], first["total"], first["number"]) == (
        shown.subscription.id,
        3000,
        f"{customer['invoice_prefix']}-0001",
    )


def test_a_retried_create_with_the_same_idempotency_key_replays(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    body = {"customer": customer["id"], "items": [{"price": seats["id"], "quantity": 3}]}
    key = {"Idempotency-Key": "first-invoice-1"}
    one = ok(catalog.api.post("/v1/subscriptions", body, headers=key))
    two = ok(catalog.api.post("/v1/subscriptions", body, headers=key))
    assert one == two
    subs = ok(catalog.api.get("/v1/subscriptions", {"customer": customer["id"], "status": "all"}))["data"]
    assert [s["id"] for s in subs] == [one["id"]]
    (first,) = ok(catalog.api.get("/v1/invoices", {"customer": customer["id"]}))["data"]
    assert first["total"] == 3000
    assert ok(catalog.api.get(f"/v1/customers/{customer['id']}"))["next_invoice_sequence"] == 2


def test_a_customer_changed_during_the_create_is_read_again(
    catalog: Catalog, clock: Clock, account: support.Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a customer updated between the create's read and its write (its version moved)
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    real = transactions.commit
    calls = []

    def racing(acct: str, writes: Any, at: Any, aux: Any = ()) -> None:
        calls.append(1)
        if len(calls) == 1:
            ok(catalog.api.post(f"/v1/customers/{customer['id']}", {"metadata": {"tier": "gold"}}))
        real(acct, writes, at, aux)

    monkeypatch.setattr(transactions, "commit", racing)
    spec = subscriptions.ItemSpec(seats["id"], "items[0][price]", quantity=1)
    # WHEN the subscription is created THEN the version check refused the first write; the retry
    #      read the customer again and numbered the invoice from it, once
    shown = subscription_creation.create(account.id, customer["id"], [spec], TallyClock(MAR_10))
    monkeypatch.undo()
    assert len(calls) >= 3  # the update, the refused create, the retried create
    got = ok(catalog.api.get(f"/v1/customers/{customer['id']}"))
    assert (got["metadata"], got["next_invoice_sequence"]) == ({"tier": "gold"}, 2)
    (first,) = ok(catalog.api.get("/v1/invoices", {"customer": customer["id"]}))["data"]
    assert (first["subscription"], first["number"]) == (
        shown.subscription.id,
        f"{customer['invoice_prefix']}-0001",
    )


def test_twenty_items_fit_in_the_create_transaction(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    customer = catalog.customer()
    items = [{"price": catalog.price(f"Seat {i}", unit_amount=100 + i)["id"]} for i in range(20)]
    sub = catalog.subscribe(customer, *items)
    (first,) = invoices_of(catalog, sub)
    assert first["total"] == sum(100 + i for i in range(20)) == 2190
    assert len(first["lines"]["data"]) == 20


def test_latest_invoice_names_each_invoice_of_the_subscription_in_turn(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    def latest() -> str | None:
        return ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}"))["latest_invoice"]

    # GIVEN the hybrid plan, created on Mar 10: latest_invoice is its creation invoice
    _, _, sub = hybrid(catalog)
    (first,) = invoices_of(catalog, sub)
    assert sub["latest_invoice"] == first["id"] == latest()
    # WHEN the period closes on Apr 10 THEN it is the cycle invoice
    billed = cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(APR_10))
    assert billed.invoice is not None and latest() == billed.invoice.id
    # WHEN the seats go to 4 with always_invoice on Apr 20 THEN it is that update's invoice
    clock.at(ts(2025, 4, 20))
    seats = next(i for i in sub["items"]["data"] if i["price"]["unit_amount"] == 1000)
    updated = ok(
        catalog.api.post(
            f"/v1/subscriptions/{sub['id']}",
            {"items": [{"id": seats["id"], "quantity": 4}], "proration_behavior": "always_invoice"},
        )
    )
    newest = invoices_of(catalog, sub)[0]
    assert newest["billing_reason"] == "subscription_update"
    assert updated["latest_invoice"] == newest["id"] == latest()
    # WHEN it is canceled with invoice_now on Apr 25 THEN it is the final invoice
    clock.at(ts(2025, 4, 25))
    canceled = ok(catalog.api.request("DELETE", f"/v1/subscriptions/{sub['id']}", query="invoice_now=true"))
    final = invoices_of(catalog, sub)[0]
    assert final["id"] not in (first["id"], billed.invoice.id, newest["id"])
    assert canceled["latest_invoice"] == final["id"] == latest()
    # AND the subscription.updated event of the close says what latest_invoice was before
    updates = [
        e
        for e in support.stored_events(account.id)
        if e["type"] == "customer.subscription.updated" and e["data"]["object"]["id"] == sub["id"]
    ]
    assert any(e["data"]["previous_attributes"].get("latest_invoice") == first["id"] for e in updates)
