"""`DELETE /v1/subscriptions/{id}` with `invoice_now` / `prorate`, and trials, through the API.

Same calendar as tests/integration/test_subscription_updates.py: subscriptions start on 2025-03-10
00:00 UTC, first period [Mar 10, Apr 10) = 2,678,400 s; Mar 20 leaves 21 of 31 days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import support
import time_machine
from test_subscription_updates import APR_10, MAR_10, MAR_20, hybrid, lines_of, seats_subscription, update
from test_subscriptions_preview import Catalog, Clock, ok, ts

from tally.billing import cancellations, cycles
from tally.clock import Clock as TallyClock


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


# -- DELETE with invoice_now / prorate ---------------------------------------------------------------
def after_creation(catalog: Catalog, sub: dict[str, Any]) -> list[dict[str, Any]]:
    """The subscription's invoices after the one its creation issued (newest first)."""
    found = ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"]}))["data"]
    return [i for i in found if i["billing_reason"] != "subscription_create"]


def cancel(catalog: Catalog, sub: dict[str, Any], query: str = "") -> support.Response:
    return catalog.api.request("DELETE", f"/v1/subscriptions/{sub['id']}", query=query)


def test_cancel_with_invoice_now_and_prorate(catalog: Catalog, clock: Clock) -> None:
    # GIVEN 3 seats at 10.00 and tokens at 2 each; 40 tokens on Mar 15
    customer, meter, sub = hybrid(catalog)
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 40)
    # WHEN it is canceled on Mar 20 with invoice_now and prorate
    clock.at(MAR_20)
    got = ok(cancel(catalog, sub, "invoice_now=true&prorate=true"))
    # THEN it is canceled, and one final invoice bills the usage to date, 40 × 2 = 80 over
    #      [Mar 10, Mar 20), and credits the unused seats: -3000 × 21/31 = -2032.26 → -2032
    assert (got["status"], got["canceled_at"]) == ("canceled", MAR_20)
    invoices = after_creation(catalog, sub)
    assert len(invoices) == 1
    inv = invoices[0]
    assert (inv["billing_reason"], inv["period_start"], inv["period_end"]) == (
        "subscription_update",
        MAR_10,
        MAR_20,
    )
    assert sorted((q, a, prorated, p) for _, q, a, prorated, p in lines_of(inv)) == [
        (3, -2032, True, (MAR_20, APR_10)),
        (40, 80, False, (MAR_10, MAR_20)),
    ]
    assert (inv["total"], inv["amount_due"]) == (80 - 2032, 0)
    # AND a second DELETE is refused: no second final invoice
    assert cancel(catalog, sub, "invoice_now=true").status == 400
    assert len(after_creation(catalog, sub)) == 1


def test_cancel_with_invoice_now_bills_pending_prorations(catalog: Catalog, clock: Clock) -> None:
    # GIVEN 2 seats changed to 5 on Mar 20 (pending: -1355, +3387)
    _, sub = seats_subscription(catalog)
    clock.at(MAR_20)
    ok(update(catalog, sub, items=[{"id": sub["items"]["data"][0]["id"], "quantity": 5}]))
    # WHEN it is canceled the same instant with invoice_now (no prorate)
    ok(cancel(catalog, sub, "invoice_now=true"))
    # THEN the final invoice bills the pending prorations, and nothing else
    inv = after_creation(catalog, sub)[0]
    assert [a for _, _, a, _, _ in lines_of(inv)] == [-1355, 3387]


def test_cancel_prorate_without_invoice_now_is_refused(catalog: Catalog, clock: Clock) -> None:
    _, sub = seats_subscription(catalog)
    refused = cancel(catalog, sub, "prorate=true")
    support.assert_stripe_error(refused.status, refused.json, 400, param="prorate")
    assert ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}")) == sub


def test_a_crash_in_the_cancel_transaction_writes_nothing(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN a subscription with usage
    customer, meter, sub = hybrid(catalog)
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 40)
    # WHEN the process dies at the cancel's one transaction (subscription, invoice, two events)
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        cancellations.cancel(account.id, sub["id"], TallyClock(MAR_20), invoice_now=True)
    # THEN nothing was written, and the retry cancels with one invoice
    assert ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "active"
    assert after_creation(catalog, sub) == []
    _, invoice = cancellations.cancel(account.id, sub["id"], TallyClock(MAR_20), invoice_now=True)
    assert invoice is not None and invoice.total == 80
    assert len(after_creation(catalog, sub)) == 1


# -- trials -----------------------------------------------------------------------------------------
def test_trial_then_active(catalog: Catalog, clock: Clock, account: support.Account) -> None:
    # GIVEN 2 seats at 10.00 and tokens at 2 each, with a 14-day trial from Mar 10 (to Mar 24)
    customer = catalog.customer()
    meter = catalog.meter()
    seats = catalog.price("Seats", unit_amount=1000)
    tokens = catalog.metered("Tokens", meter, unit_amount=2)
    mar_24 = ts(2025, 3, 24)
    sub = catalog.subscribe(
        customer, {"price": seats["id"], "quantity": 2}, {"price": tokens["id"]}, trial_period_days=14
    )
    # THEN it is trialing over [Mar 10, Mar 24), anchored at the trial end
    assert (sub["status"], sub["trial_start"], sub["trial_end"]) == ("trialing", MAR_10, mar_24)
    assert (sub["current_period_start"], sub["current_period_end"], sub["billing_cycle_anchor"]) == (
        MAR_10,
        mar_24,
        mar_24,
    )
    # WHEN 100 tokens are used during the trial and the seats go 2 → 5 on Mar 20
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 100)
    clock.at(MAR_20)
    ok(update(catalog, sub, items=[{"id": sub["items"]["data"][0]["id"], "quantity": 5}]))
    # THEN the invoice closing the trial bills no usage and no proration, and 5 seats in advance
    #      for [Mar 24, Apr 24): 5000
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert [(q, a, p) for _, q, a, _, p in lines_of(preview)] == [
        (5, 5000, (mar_24, ts(2025, 4, 24))),
        (0, 0, (MAR_10, mar_24)),
    ]
    # AND the close at Mar 24 bills that, and the subscription is active from then
    billed = cycles.bill_period(account.id, sub["id"], mar_24, TallyClock(mar_24))
    assert billed.invoice is not None and billed.invoice.total == 5000
    clock.at(ts(2025, 3, 25))
    now = ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (now["status"], now["current_period_start"], now["current_period_end"]) == (
        "active",
        mar_24,
        ts(2025, 4, 24),
    )
    event = ok(catalog.api.get("/v1/events", {"type": "customer.subscription.updated"}))["data"][0]
    assert event["data"]["previous_attributes"]["status"] == "trialing"


def test_trial_end_timestamp(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    sub = catalog.subscribe(customer, {"price": seats["id"]}, trial_end=MAR_20 + 1)
    assert (sub["status"], sub["trial_end"], sub["current_period_end"]) == (
        "trialing",
        MAR_20 + 1,
        MAR_20 + 1,
    )


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"trial_end": MAR_10 - 1}, "trial_end"),
        ({"trial_end": MAR_10 + 731 * 86400}, "trial_end"),
        ({"trial_period_days": 731}, "trial_period_days"),
        ({"trial_period_days": 0}, "trial_period_days"),
        ({"trial_period_days": 7, "trial_end": MAR_20}, "trial_period_days"),
        ({"trial_period_days": 7, "billing_cycle_anchor": MAR_20}, "trial_period_days"),
    ],
)
def test_bad_trials_create_nothing(
    catalog: Catalog, clock: Clock, fields: dict[str, Any], param: str
) -> None:
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    refused = catalog.api.post(
        "/v1/subscriptions", {"customer": customer["id"], "items": [{"price": seats["id"]}], **fields}
    )
    support.assert_stripe_error(refused.status, refused.json, 400, param=param)
    assert ok(catalog.api.get("/v1/subscriptions", {"customer": customer["id"]}))["data"] == []
