"""`POST /v1/subscriptions/{id}`: fields, item changes and Stripe's prorations, through the API.

Every subscription here starts on 2025-03-10 00:00 UTC, so its first period is
[Mar 10, Apr 10) = 31 days = 2,678,400 s; a change on Mar 20 00:00 leaves 21 days = 1,814,400 s.
Proration amounts are hand-computed: amount × remaining / period, rounded once, half-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import support
import time_machine
from test_subscriptions_preview import Catalog, Clock, ok, ts

from tally.billing import cycles, subscription_changes
from tally.clock import Clock as TallyClock

MAR_10, MAR_20, APR_10 = ts(2025, 3, 10), ts(2025, 3, 20), ts(2025, 4, 10)


@pytest.fixture
def clock() -> Iterator[Clock]:
    import datetime as dt

    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


def update(catalog: Catalog, sub: dict[str, Any], **params: Any) -> support.Response:
    return catalog.api.post(f"/v1/subscriptions/{sub['id']}", params)


def lines_of(invoice: dict[str, Any]) -> list[tuple[str, int, int, bool, tuple[int, int]]]:
    return [
        (
            ln["description"],
            ln["quantity"],
            ln["amount"],
            ln["parent"]["subscription_item_details"]["proration"],
            (ln["period"]["start"], ln["period"]["end"]),
        )
        for ln in invoice["lines"]["data"]
    ]


def seats_subscription(catalog: Catalog, quantity: int = 2) -> tuple[dict[str, Any], dict[str, Any]]:
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    return customer, catalog.subscribe(customer, {"price": seats["id"], "quantity": quantity})


def after_creation(catalog: Catalog, sub: dict[str, Any]) -> list[dict[str, Any]]:
    """The subscription's invoices after the one its creation issued (newest first)."""
    found = ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"]}))["data"]
    return [i for i in found if i["billing_reason"] != "subscription_create"]


# -- fields ---------------------------------------------------------------------------------------
def test_metadata_description_and_cancel_at_period_end(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a subscription
    _, sub = seats_subscription(catalog)
    # WHEN its description, metadata and cancel_at_period_end are updated
    clock.at(MAR_20)
    got = ok(
        update(catalog, sub, description="Team plan", metadata={"tier": "gold"}, cancel_at_period_end="true")
    )
    # THEN the answer and a retrieve show them, cancel_at is the period end
    assert (got["description"], got["metadata"], got["cancel_at_period_end"]) == (
        "Team plan",
        {"tier": "gold"},
        True,
    )
    assert got["cancel_at"] == APR_10 and got["status"] == "active"
    assert ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}")) == got
    # AND the event log has customer.subscription.updated with the previous values
    event = ok(catalog.api.get("/v1/events", {"type": "customer.subscription.updated"}))["data"][0]
    assert event["data"]["previous_attributes"] == {
        "description": None,
        "metadata": {},
        "cancel_at": None,
        "cancel_at_period_end": False,
    }
    # AND no proration is pending, and the preview is the final invoice: no seats in advance
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert (lines_of(preview), preview["total"]) == ([], 0)


# -- licensed prorations --------------------------------------------------------------------------
def test_quantity_change_prorates_to_the_next_invoice(catalog: Catalog, clock: Clock) -> None:
    # GIVEN 2 seats at 10.00 from Mar 10
    _, sub = seats_subscription(catalog)
    item = sub["items"]["data"][0]
    # WHEN the quantity becomes 5 on Mar 20 (21 of 31 days left)
    clock.at(MAR_20)
    got = ok(update(catalog, sub, items=[{"id": item["id"], "quantity": 5}]))
    assert got["items"]["data"][0]["quantity"] == 5
    # THEN the next invoice credits 2000 × 21/31 = 1354.84 → -1355, charges 5000 × 21/31 = 3387.10
    #      → 3387 for [Mar 20, Apr 10), then bills 5 seats for the next period
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert lines_of(preview) == [
        ("Unused time on 2 × Seats after 20 Mar 2025", 2, -1355, True, (MAR_20, APR_10)),
        ("Remaining time on 5 × Seats after 20 Mar 2025", 5, 3387, True, (MAR_20, APR_10)),
        ("5 × Seats", 5, 5000, False, (APR_10, ts(2025, 5, 10))),
    ]
    assert preview["total"] == -1355 + 3387 + 5000
    # AND the event's previous_attributes hold the old items
    event = ok(catalog.api.get("/v1/events", {"type": "customer.subscription.updated"}))["data"][0]
    assert event["data"]["previous_attributes"]["items"]["data"][0]["quantity"] == 2


def test_proration_date_prorates_to_the_second(catalog: Catalog, clock: Clock) -> None:
    # GIVEN 2 seats at 10.00
    _, sub = seats_subscription(catalog)
    item = sub["items"]["data"][0]
    # WHEN the quantity becomes 5 with proration_date Mar 20 12:00:01 (1,771,199 s of 2,678,400 left)
    clock.at(ts(2025, 3, 21))
    at = MAR_20 + 12 * 3600 + 1
    ok(update(catalog, sub, items=[{"id": item["id"], "quantity": 5}], proration_date=at))
    # THEN credit 2000 × 1771199/2678400 = 1322.58 → -1323; charge 5000 × … = 3306.45 → 3306
    got = lines_of(ok(catalog.preview(subscription=sub["id"])))[:2]
    assert [(q, a, p) for _, q, a, _, p in got] == [(2, -1323, (at, APR_10)), (5, 3306, (at, APR_10))]


def test_price_change_add_and_remove_items(catalog: Catalog, clock: Clock) -> None:
    # GIVEN 2 seats at 10.00 and a support item at 5.00
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    support_price = catalog.price("Support", unit_amount=500)
    sub = catalog.subscribe(customer, {"price": seats["id"], "quantity": 2}, {"price": support_price["id"]})
    seat_item, support_item = sub["items"]["data"]
    pro = catalog.price("Seats Pro", unit_amount=1500)
    addon = catalog.price("Addon", unit_amount=3100)
    # WHEN on Mar 20 the seats move to Seats Pro, support is removed and an addon added
    clock.at(MAR_20)
    got = ok(
        update(
            catalog,
            sub,
            items=[
                {"id": seat_item["id"], "price": pro["id"]},
                {"id": support_item["id"], "deleted": "true"},
                {"price": addon["id"]},
            ],
        )
    )
    # THEN the items are the seats at the new price (quantity kept) and the addon
    assert [(i["price"]["id"], i.get("quantity")) for i in got["items"]["data"]] == [
        (pro["id"], 2),
        (addon["id"], 1),
    ]
    assert got["items"]["data"][0]["id"] == seat_item["id"]
    # AND the prorations: -2000×21/31 → -1355, -500×21/31 = -338.71 → -339,
    #     +3000×21/31 = 2032.26 → 2032, +3100×21/31 = 2100
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert [(d, a) for d, _, a, prorated, _ in lines_of(preview) if prorated] == [
        ("Unused time on 2 × Seats after 20 Mar 2025", -1355),
        ("Unused time on 1 × Support after 20 Mar 2025", -339),
        ("Remaining time on 2 × Seats Pro after 20 Mar 2025", 2032),
        ("Remaining time on 1 × Addon after 20 Mar 2025", 2100),
    ]
    assert preview["total"] == -1355 - 339 + 2032 + 2100 + 3000 + 3100
    # AND the removed item is gone, the added one is found
    assert catalog.api.get(f"/v1/subscription_items/{support_item['id']}").status == 404
    added = got["items"]["data"][1]["id"]
    assert ok(catalog.api.get(f"/v1/subscription_items/{added}"))["subscription"] == sub["id"]


def test_proration_behavior_none(catalog: Catalog, clock: Clock) -> None:
    _, sub = seats_subscription(catalog)
    clock.at(MAR_20)
    ok(
        update(
            catalog,
            sub,
            items=[{"id": sub["items"]["data"][0]["id"], "quantity": 5}],
            proration_behavior="none",
        )
    )
    assert lines_of(ok(catalog.preview(subscription=sub["id"]))) == [
        ("5 × Seats", 5, 5000, False, (APR_10, ts(2025, 5, 10)))
    ]


def test_always_invoice_bills_the_prorations_now(catalog: Catalog, clock: Clock) -> None:
    # GIVEN 2 seats, and a pending proration from an earlier change (2 → 3 on Mar 20: -1355, +2032)
    _, sub = seats_subscription(catalog)
    item = sub["items"]["data"][0]["id"]
    clock.at(MAR_20)
    ok(update(catalog, sub, items=[{"id": item, "quantity": 3}]))
    # WHEN on Mar 20 the quantity becomes 5 with always_invoice
    ok(update(catalog, sub, items=[{"id": item, "quantity": 5}], proration_behavior="always_invoice"))
    # THEN one invoice billing_reason subscription_update holds every pending proration:
    #      -1355, +3000×21/31 = 2032.26 → 2032, -2032, +3387
    invoices = after_creation(catalog, sub)
    assert len(invoices) == 1
    inv = invoices[0]
    assert (inv["billing_reason"], inv["status"], inv["created"]) == ("subscription_update", "draft", MAR_20)
    assert [a for _, _, a, _, _ in lines_of(inv)] == [-1355, 2032, -2032, 3387]
    assert inv["total"] == 2032
    # AND nothing is pending any more: the next invoice is the plain renewal
    assert lines_of(ok(catalog.preview(subscription=sub["id"]))) == [
        ("5 × Seats", 5, 5000, False, (APR_10, ts(2025, 5, 10)))
    ]
    # AND the event log has the invoice's invoice.created
    created = ok(catalog.api.get("/v1/events", {"type": "invoice.created"}))["data"]
    assert created[0]["data"]["object"]["id"] == inv["id"]
    assert [e["data"]["object"]["billing_reason"] for e in created][1:] == ["subscription_create"]


def test_the_period_close_bills_pending_prorations_exactly_once(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN a quantity change 2 → 5 on Mar 20 (pending: -1355, +3387)
    _, sub = seats_subscription(catalog)
    clock.at(MAR_20)
    ok(update(catalog, sub, items=[{"id": sub["items"]["data"][0]["id"], "quantity": 5}]))
    # WHEN the period [Mar 10, Apr 10) is closed (twice: a duplicate delivery)
    first = cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(APR_10))
    again = cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(APR_10))
    # THEN its invoice has the prorations and the renewal, once
    assert (first.outcome, again.outcome) == ("billed", "already_billed")
    assert first.invoice is not None
    assert [(ln.amount, ln.proration) for ln in first.invoice.lines] == [
        (-1355, True),
        (3387, True),
        (5000, False),
    ]
    # AND the next period's preview no longer has them, nor after another update prunes them
    clock.at(ts(2025, 4, 15))
    ok(update(catalog, sub, metadata={"k": "v"}))
    assert [a for _, _, a, _, _ in lines_of(ok(catalog.preview(subscription=sub["id"])))] == [5000]


# -- metered items --------------------------------------------------------------------------------
def test_metered_price_switch_bills_usage_before_it_at_the_old_price(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a metered item at 2 per token, 100 tokens on Mar 15
    customer = catalog.customer()
    meter = catalog.meter()
    old = catalog.metered("Tokens", meter, unit_amount=2)
    new = catalog.metered("Tokens v2", meter, unit_amount=3)
    sub = catalog.subscribe(customer, {"price": old["id"]})
    clock.at(ts(2025, 3, 15))
    catalog.usage(meter, customer, 100)
    # WHEN the item switches to 3 per token on Mar 20, then 50 tokens come on Mar 25
    clock.at(MAR_20)
    got = ok(update(catalog, sub, items=[{"id": sub["items"]["data"][0]["id"], "price": new["id"]}]))
    assert got["items"]["data"][0]["price"]["id"] == new["id"] and "quantity" not in got["items"]["data"][0]
    clock.at(ts(2025, 3, 25))
    catalog.usage(meter, customer, 50)
    # THEN the invoice bills 100 × 2 over [Mar 10, Mar 20) and 50 × 3 for the period
    clock.at(ts(2025, 4, 1))
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert [(q, a, p) for _, q, a, _, p in lines_of(preview)] == [
        (100, 200, (MAR_10, MAR_20)),
        (50, 150, (MAR_10, APR_10)),
    ]


# -- bad input changes nothing --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"items": [{"id": "si_nope", "quantity": 3}]}, "items[0][id]", "parameter_invalid"),
        ({"items": [{"quantity": 3}]}, "items[0][price]", "parameter_missing"),
        ({"items": [{"id": "{item}", "deleted": "true"}]}, "items", "parameter_invalid"),
        ({"items": [{"id": "{item}", "quantity": -1}]}, "items[0][quantity]", None),
        ({"proration_behavior": "sometimes"}, "proration_behavior", None),
        ({"proration_date": ts(2025, 3, 1), "metadata": {"k": "v"}}, "proration_date", "parameter_invalid"),
        ({"items": [{"price": "{eur}"}]}, "items[1][price]", "parameter_invalid"),
        ({"items": [{"price": "price_nope"}]}, "items[0][price]", "resource_missing"),
        ({"cancel_at_period_end": "maybe"}, "cancel_at_period_end", "parameter_invalid_boolean"),
    ],
)
def test_bad_updates_change_nothing(
    catalog: Catalog, clock: Clock, params: dict[str, Any], param: str, code: str | None
) -> None:
    # GIVEN a subscription
    _, sub = seats_subscription(catalog)
    eur = catalog.price("Euro seats", currency="eur", unit_amount=900)
    clock.at(MAR_20)
    for ch in params.get("items", []):
        for k, v in list(ch.items()):
            ch[k] = {"{item}": sub["items"]["data"][0]["id"], "{eur}": eur["id"]}.get(v, v)
    # WHEN an invalid update is sent
    response = update(catalog, sub, **params)
    # THEN a Stripe error names the param and the subscription is as it was
    assert response.status == 400, response.text
    assert response.json["error"]["param"] == param
    if code is not None:
        assert response.json["error"]["code"] == code
    assert ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}")) == sub


def test_a_canceled_subscription_takes_only_metadata(catalog: Catalog, clock: Clock) -> None:
    _, sub = seats_subscription(catalog)
    ok(catalog.api.delete(f"/v1/subscriptions/{sub['id']}"))
    refused = update(catalog, sub, cancel_at_period_end="true")
    support.assert_stripe_error(refused.status, refused.json, 400, param="id")
    assert ok(update(catalog, sub, metadata={"k": "v"}))["metadata"] == {"k": "v"}


def test_a_crash_in_the_update_transaction_writes_nothing(
    catalog: Catalog, clock: Clock, account: support.Account
) -> None:
    # GIVEN 2 seats, updated with always_invoice (one transaction: subscription, item claims,
    #       invoice, their events)
    _, sub = seats_subscription(catalog)
    clock.at(MAR_20)
    upd = subscription_changes.Update(
        items=[
            subscription_changes.ItemChange(
                "items[0]", sub["items"]["data"][0]["id"], quantity=5, quantity_given=True
            )
        ],
        proration_behavior="always_invoice",
    )
    # WHEN the process dies at that transaction
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        subscription_changes.update(account.id, sub["id"], upd, TallyClock(MAR_20))
    # THEN nothing was written: no invoice, the subscription is unchanged
    assert after_creation(catalog, sub) == []
    assert ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}")) == sub
    # AND the retry does it once
    done = subscription_changes.update(account.id, sub["id"], upd, TallyClock(MAR_20))
    assert done.invoice is not None and done.invoice.total == -1355 + 3387
    assert len(after_creation(catalog, sub)) == 1


def hybrid(catalog: Catalog) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """3 seats at 10.00 and tokens at 2 each, from Mar 10; 40 tokens on Mar 15."""
    customer = catalog.customer()
    meter = catalog.meter()
    seats = catalog.price("Seats", unit_amount=1000)
    tokens = catalog.metered("Tokens", meter, unit_amount=2)
    sub = catalog.subscribe(customer, {"price": seats["id"], "quantity": 3}, {"price": tokens["id"]})
    return customer, meter, sub
