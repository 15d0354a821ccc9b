"""`POST /v1/subscription_items`, `POST /v1/subscription_items/{id}`, `DELETE
/v1/subscription_items/{id}` (issue 12 point 10): each is one subscription update of one item, so
its prorations are exactly those of `POST /v1/subscriptions/{id}` with `items[0][…]`.

Subscriptions start on 2025-03-10 (period [Mar 10, Apr 10) = 31 days); changes on Mar 20 leave
21 days. Amounts are hand-computed: amount × 21/31, rounded once, half-up.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe_shapes
import support
import time_machine
from test_subscription_updates import (
    APR_10,
    MAR_10,
    MAR_20,
    Catalog,
    Clock,
    after_creation,
    lines_of,
    ok,
    seats_subscription,
    ts,
    update,
)


@pytest.fixture
def clock() -> Iterator[Clock]:
    import datetime as dt

    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


ITEMS = "/v1/subscription_items"


def test_an_item_quantity_change_prorates_as_a_subscription_update_does(
    catalog: Catalog, clock: Clock
) -> None:
    # GIVEN two subscriptions of 2 seats at 10.00
    _, by_item = seats_subscription(catalog)
    _, by_sub = seats_subscription(catalog)
    # WHEN on Mar 20 one item becomes 5 through its own route, the other through the subscription
    clock.at(MAR_20)
    item = ok(catalog.api.post(f"{ITEMS}/{by_item['items']['data'][0]['id']}", {"quantity": 5}))
    ok(update(catalog, by_sub, items=[{"id": by_sub["items"]["data"][0]["id"], "quantity": 5}]))
    # THEN the item answers as Stripe's subscription_item, quantity 5
    assert (item["object"], item["quantity"], item["subscription"]) == ("subscription_item", 5, by_item["id"])
    # AND both next invoices are the same: -2000×21/31 = -1354.84 → -1355, +5000×21/31 = 3387.10 → 3387
    expected = [
        ("Unused time on 2 × Seats after 20 Mar 2025", 2, -1355, True, (MAR_20, APR_10)),
        ("Remaining time on 5 × Seats after 20 Mar 2025", 5, 3387, True, (MAR_20, APR_10)),
        ("5 × Seats", 5, 5000, False, (APR_10, ts(2025, 5, 10))),
    ]
    assert lines_of(ok(catalog.preview(subscription=by_item["id"]))) == expected
    assert lines_of(ok(catalog.preview(subscription=by_sub["id"]))) == expected
    # AND its event is the subscription's customer.subscription.updated
    events = ok(catalog.api.get("/v1/events", {"type": "customer.subscription.updated"}))["data"]
    mine = [e for e in events if e["data"]["object"]["id"] == by_item["id"]]
    assert mine[0]["data"]["previous_attributes"]["items"]["data"][0]["quantity"] == 2


def test_create_switch_price_and_delete_items_with_prorations(catalog: Catalog, clock: Clock) -> None:
    # GIVEN 2 seats at 10.00 and support at 5.00
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    support_price = catalog.price("Support", unit_amount=500)
    sub = catalog.subscribe(customer, {"price": seats["id"], "quantity": 2}, {"price": support_price["id"]})
    seat_item, support_item = sub["items"]["data"]
    pro, addon = catalog.price("Seats Pro", unit_amount=1500), catalog.price("Addon", unit_amount=3100)
    clock.at(MAR_20)
    # WHEN on Mar 20 the seats move to Seats Pro, an addon is added and support deleted
    moved = ok(catalog.api.post(f"{ITEMS}/{seat_item['id']}", {"price": pro["id"]}))
    added = ok(
        catalog.api.post(ITEMS, {"subscription": sub["id"], "price": addon["id"], "metadata": {"k": "v"}})
    )
    deleted = ok(catalog.api.delete(f"{ITEMS}/{support_item['id']}"))
    # THEN the answers: the moved item keeps its quantity, the new one has quantity 1, the deleted stub
    assert (moved["id"], moved["price"]["id"], moved["quantity"]) == (seat_item["id"], pro["id"], 2)
    assert (added["price"]["id"], added["quantity"], added["metadata"]) == (addon["id"], 1, {"k": "v"})
    assert added["id"].startswith("si_") and added["subscription"] == sub["id"]
    assert deleted == {"id": support_item["id"], "object": "subscription_item", "deleted": True}
    assert stripe_shapes.problems(moved) == [] and stripe_shapes.problems(added) == []
    assert catalog.api.get(f"{ITEMS}/{support_item['id']}").status == 404
    shown = ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}"))
    assert [i["id"] for i in shown["items"]["data"]] == [seat_item["id"], added["id"]]
    # AND the prorations, as test_subscription_updates' one-request change has them:
    #     -2000×21/31 → -1355, +3000×21/31 = 2032.26 → 2032, +3100×21/31 = 2100, -500×21/31 → -339
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert [(d, a) for d, _, a, prorated, _ in lines_of(preview) if prorated] == [
        ("Unused time on 2 × Seats after 20 Mar 2025", -1355),
        ("Remaining time on 2 × Seats Pro after 20 Mar 2025", 2032),
        ("Remaining time on 1 × Addon after 20 Mar 2025", 2100),
        ("Unused time on 1 × Support after 20 Mar 2025", -339),
    ]
    assert preview["total"] == -1355 + 2032 + 2100 - 339 + 3000 + 3100


def test_always_invoice_and_none_behave_as_on_the_subscription(catalog: Catalog, clock: Clock) -> None:
    _, sub = seats_subscription(catalog)
    item = sub["items"]["data"][0]["id"]
    clock.at(MAR_20)
    # WHEN 2 → 3 without prorations, then 3 → 5 invoiced now
    ok(catalog.api.post(f"{ITEMS}/{item}", {"quantity": 3, "proration_behavior": "none"}))
    ok(catalog.api.post(f"{ITEMS}/{item}", {"quantity": 5, "proration_behavior": "always_invoice"}))
    # THEN one subscription_update invoice: -3000×21/31 = -2032.26 → -2032, +5000×21/31 → 3387
    (inv,) = after_creation(catalog, sub)
    assert (inv["billing_reason"], inv["created"]) == ("subscription_update", MAR_20)
    assert [a for _, _, a, _, _ in lines_of(inv)] == [-2032, 3387]
    assert ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}"))["latest_invoice"] == inv["id"]


def test_deleting_a_metered_item_bills_its_usage_unless_cleared(catalog: Catalog, clock: Clock) -> None:
    # GIVEN seats and two metered items at 2 per token on different meters, 100 tokens each on Mar 15
    customer = catalog.customer()
    seats = catalog.price("Seats", unit_amount=1000)
    m1, m2 = catalog.meter("tok_kept"), catalog.meter("tok_cleared")
    p1, p2 = catalog.metered("Kept", m1, unit_amount=2), catalog.metered("Cleared", m2, unit_amount=2)
    sub = catalog.subscribe(customer, {"price": seats["id"]}, {"price": p1["id"]}, {"price": p2["id"]})
    _, kept, cleared = sub["items"]["data"]
    clock.at(ts(2025, 3, 15))
    catalog.usage(m1, customer, 100)
    catalog.usage(m2, customer, 100)
    # WHEN on Mar 20 both are deleted, one with clear_usage=true
    clock.at(MAR_20)
    ok(catalog.api.delete(f"{ITEMS}/{kept['id']}"))
    ok(catalog.api.request("DELETE", f"{ITEMS}/{cleared['id']}", query="clear_usage=true"))
    # THEN the next invoice bills the kept item's 100 tokens over [Mar 10, Mar 20) (200), not the other's
    preview = ok(catalog.preview(subscription=sub["id"]))
    assert [(q, a, p) for _, q, a, _, p in lines_of(preview)] == [
        (100, 200, (MAR_10, MAR_20)),
        (1, 1000, (APR_10, ts(2025, 5, 10))),
    ]


def test_item_rules_answer_400_naming_the_items_own_params(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a subscription with one licensed item
    _, sub = seats_subscription(catalog)
    item = sub["items"]["data"][0]["id"]
    eur = catalog.price("Euro seats", currency="eur", unit_amount=900)
    cases = [
        (catalog.api.delete(f"{ITEMS}/{item}"), "id"),  # the last item
        (catalog.api.request("DELETE", f"{ITEMS}/{item}", query="clear_usage=true"), "clear_usage"),
        (catalog.api.post(ITEMS, {"subscription": sub["id"], "price": eur["id"]}), "price"),
        (
            catalog.api.post(
                ITEMS, {"subscription": sub["id"], "price": sub["items"]["data"][0]["price"]["id"]}
            ),
            "price",
        ),
        (catalog.api.post(ITEMS, {"subscription": "sub_nope", "price": eur["id"]}), "subscription"),
    ]
    for response, param in cases:
        support.assert_stripe_error(response.status, response.json, 400, param=param)
    # AND nothing changed
    assert ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}")) == sub


def test_a_crashed_item_create_retried_adds_one_item(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a subscription WHEN the item create's one transaction fails (crash point: the commit)
    _, sub = seats_subscription(catalog)
    addon = catalog.price("Addon", unit_amount=3100)
    clock.at(MAR_20)
    body = {"subscription": sub["id"], "price": addon["id"]}
    with support.TransactionCrash(at=1):
        crashed = catalog.api.post(ITEMS, body, headers={"Idempotency-Key": "add-addon"})
    assert crashed.status == 500
    assert len(ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}"))["items"]["data"]) == 1
    # WHEN retried with the same key THEN one addon, prorated once (+3100×21/31 = 2100)
    added = ok(catalog.api.post(ITEMS, body, headers={"Idempotency-Key": "add-addon"}))
    again = ok(catalog.api.post(ITEMS, body, headers={"Idempotency-Key": "add-addon"}))
    assert again["id"] == added["id"]
    items = ok(catalog.api.get(f"/v1/subscriptions/{sub['id']}"))["items"]["data"]
    assert [i["price"]["id"] for i in items][1:] == [addon["id"]]
    prorated = [a for _, _, a, p, _ in lines_of(ok(catalog.preview(subscription=sub["id"]))) if p]
    assert prorated == [2100]


def test_item_answers_expand_their_price_product(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a subscription WHEN an item is added and updated with expand[]=price.product
    _, sub = seats_subscription(catalog)
    addon = catalog.price("Addon", unit_amount=3100)
    clock.at(MAR_20)
    added = ok(
        catalog.api.post(
            ITEMS, {"subscription": sub["id"], "price": addon["id"], "expand": ["price.product"]}
        )
    )
    updated = ok(
        catalog.api.post(f"{ITEMS}/{added['id']}", {"metadata": {"k": "v"}, "expand": ["price.product"]})
    )
    # THEN the product is expanded, and a path items do not have is 400 before anything changes
    assert added["price"]["product"]["name"] == "Addon" == updated["price"]["product"]["name"]
    bad = catalog.api.post(f"{ITEMS}/{added['id']}", {"quantity": 3, "expand": ["customer"]})
    support.assert_stripe_error(bad.status, bad.json, 400)
    assert ok(catalog.api.get(f"{ITEMS}/{added['id']}"))["quantity"] == 1
