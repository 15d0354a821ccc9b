"""Deleting a customer cancels its subscriptions (as Stripe does), then deletes the customer.

Crash points (`tally.billing.customers.delete`): with more active subscriptions than fit in the
customer's transaction, subscriptions are canceled in transactions of their own first and the
customer is deleted last. A crash after any of those transactions leaves the customer with fewer
active subscriptions (each change with its event); a retry of the DELETE finishes the job. Each
crash point is injected below (`support.TransactionCrash`), then the DELETE is retried.
"""

from __future__ import annotations

from typing import Any

import pytest
import support

from tally.billing import customers


def ok(response: support.Response, status: int = 200) -> dict[str, Any]:
    assert response.status == status, response.text
    return response.json


def _price(api: support.Api) -> str:
    return ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 100,
                "recurring": {"interval": "month"},
                "product_data": {"name": "Seat"},
            },
        )
    )["id"]


def _customer_with_subscriptions(api: support.Api, n: int) -> tuple[str, list[str]]:
    customer = ok(api.post("/v1/customers", {"name": "Leaving"}))["id"]
    price = _price(api)
    subs = [
        ok(api.post("/v1/subscriptions", {"customer": customer, "items": [{"price": price}]}))["id"]
        for _ in range(n)
    ]
    return customer, subs


def _events(api: support.Api, kind: str) -> list[dict[str, Any]]:
    return [e for e in support.stored_events(api.account.id) if e["type"] == kind]


def _assert_all_canceled(api: support.Api, customer: str, subs: list[str]) -> None:
    for sub in subs:
        shown = ok(api.get(f"/v1/subscriptions/{sub}"))
        assert shown["status"] == "canceled", shown
        assert shown["cancellation_details"]["reason"] == "cancellation_requested"
        assert shown["canceled_at"] is not None and shown["ended_at"] is not None
    deleted = [e["data"]["object"]["id"] for e in _events(api, "customer.subscription.deleted")]
    assert sorted(deleted) == sorted(subs)  # one event per subscription, none twice
    assert all(
        e["data"]["object"]["status"] == "canceled" for e in _events(api, "customer.subscription.deleted")
    )
    assert api.get(f"/v1/customers/{customer}").status == 404
    assert len(_events(api, "customer.deleted")) == 1


def test_deleting_a_customer_cancels_its_subscriptions(api):
    # GIVEN a customer with two active subscriptions, one of another customer, one already canceled
    customer, subs = _customer_with_subscriptions(api, 3)
    ok(api.delete(f"/v1/subscriptions/{subs[2]}"))
    _, other_subs = _customer_with_subscriptions(api, 1)
    # WHEN the customer is deleted
    assert ok(api.delete(f"/v1/customers/{customer}")) == {
        "id": customer,
        "object": "customer",
        "deleted": True,
    }
    # THEN its subscriptions are canceled with Stripe's reason and one event each, the customer is gone
    _assert_all_canceled(api, customer, subs)
    # AND the other customer's subscription is untouched
    assert ok(api.get(f"/v1/subscriptions/{other_subs[0]}"))["status"] == "active"


def test_a_preview_of_a_deleted_customers_subscription_has_no_upcoming_invoice(api):
    # GIVEN a subscription whose customer was deleted
    customer, subs = _customer_with_subscriptions(api, 1)
    ok(api.delete(f"/v1/customers/{customer}"))
    # WHEN its invoice is previewed by subscription
    response = api.post("/v1/invoices/create_preview", {"subscription": subs[0]})
    # THEN there is no upcoming invoice (not an error about a `customer` param that was never sent)
    error = support.assert_stripe_error(response.status, response.json, 400, code="invoice_upcoming_none")
    assert error.get("param") is None


def test_a_preview_of_an_active_subscription_whose_customer_is_gone_has_no_upcoming_invoice(api):
    # GIVEN an active subscription whose customer was deleted before deletes canceled subscriptions
    # (written straight to the store, as older data may hold)
    from tally.billing import changes
    from tally.clock import Clock
    from tally.domain.records import Customer
    from tally.store import objects

    customer, subs = _customer_with_subscriptions(api, 1)
    stored = objects.load(api.account.id, customer, Customer, Clock.system())
    objects.delete(
        api.account.id, stored, changes.created(stored.record, "customer.deleted", {}), Clock.system()
    )
    # WHEN its invoice is previewed by subscription
    response = api.post("/v1/invoices/create_preview", {"subscription": subs[0]})
    # THEN 400 invoice_upcoming_none, naming no param
    error = support.assert_stripe_error(response.status, response.json, 400, code="invoice_upcoming_none")
    assert error.get("param") is None


def test_as_many_subscriptions_as_fit_go_in_the_customers_own_transaction(api):
    # GIVEN a customer with as many active subscriptions as fit beside it in one transaction
    customer, subs = _customer_with_subscriptions(api, customers.SUBSCRIPTIONS_WITH_CUSTOMER)
    # WHEN it is deleted, counting the transactions
    with support.TransactionCrash(at=0) as counted:
        ok(api.delete(f"/v1/customers/{customer}"))
    # THEN one transaction did everything
    assert counted.calls == 1
    _assert_all_canceled(api, customer, subs)


def test_one_subscription_more_than_fits_takes_a_second_transaction(api):
    # GIVEN one active subscription more than fit beside the customer (every change counted with
    # its list-filter entries and its event's, so no transaction passes DynamoDB's 100 actions)
    customer, subs = _customer_with_subscriptions(api, customers.SUBSCRIPTIONS_WITH_CUSTOMER + 1)
    # WHEN it is deleted
    with support.TransactionCrash(at=0) as counted:
        ok(api.delete(f"/v1/customers/{customer}"))
    # THEN two transactions did it
    assert counted.calls == 2
    _assert_all_canceled(api, customer, subs)


@pytest.fixture
def small_batches(monkeypatch):
    """Transactions of 2 subscriptions, so 5 subscriptions take three transactions."""
    monkeypatch.setattr(customers, "SUBSCRIPTIONS_WITH_CUSTOMER", 2)
    monkeypatch.setattr(customers, "SUBSCRIPTIONS_PER_TRANSACTION", 2)


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_a_crash_at_each_transaction_then_a_retry_finishes_the_delete(api, small_batches, crash_at):
    # GIVEN a customer with 5 active subscriptions: 2 + 2 canceled alone, then 1 with the customer
    customer, subs = _customer_with_subscriptions(api, 5)
    # WHEN the delete crashes at transaction `crash_at`
    with support.TransactionCrash(at=crash_at) as crash:
        failed = api.delete(f"/v1/customers/{customer}")
    assert failed.status == 500 and crash.calls == crash_at
    # THEN the customer is still there, with fewer active subscriptions, each canceled one with its event
    assert ok(api.get(f"/v1/customers/{customer}"))["id"] == customer
    active = ok(api.get("/v1/subscriptions", {"customer": customer, "limit": 100}))["data"]
    assert len(active) == 5 - 2 * (crash_at - 1)
    assert len(_events(api, "customer.subscription.deleted")) == 2 * (crash_at - 1)
    assert _events(api, "customer.deleted") == []
    # WHEN the DELETE is retried THEN it finishes: every subscription canceled once, customer gone
    ok(api.delete(f"/v1/customers/{customer}"))
    _assert_all_canceled(api, customer, subs)


def test_a_subscription_created_during_the_delete_is_not_left_active(api, monkeypatch):
    # GIVEN a customer with one subscription, and another subscription created for it right after
    # the delete listed the customer's subscriptions
    customer, subs = _customer_with_subscriptions(api, 1)
    price = _price(api)
    real = customers.subscriptions.of_customer
    late: list[str] = []

    def listed_then_a_create(account, customer_id, clock):
        found = real(account, customer_id, clock)
        if not late:
            late.append(
                ok(api.post("/v1/subscriptions", {"customer": customer, "items": [{"price": price}]}))["id"]
            )
        return found

    monkeypatch.setattr(customers.subscriptions, "of_customer", listed_then_a_create)
    # WHEN the customer is deleted THEN the delete answers 409 and changes nothing
    raced = api.delete(f"/v1/customers/{customer}")
    support.assert_stripe_error(raced.status, raced.json, 409)
    assert ok(api.get(f"/v1/subscriptions/{subs[0]}"))["status"] == "active"
    # WHEN retried THEN both subscriptions are canceled and the customer is gone
    ok(api.delete(f"/v1/customers/{customer}"))
    _assert_all_canceled(api, customer, subs + late)


def test_a_subscription_create_for_a_customer_deleted_meanwhile_fails(api, monkeypatch):
    # GIVEN a customer deleted after a subscription create read it but before it wrote
    from tally.billing import subscription_creation
    from tally.clock import Clock

    customer = ok(api.post("/v1/customers", {"name": "Leaving"}))["id"]
    price = _price(api)
    real = subscription_creation._check_together

    def then_deleted(prices):
        real(prices)
        customers.delete(api.account.id, customer, Clock.system())

    monkeypatch.setattr(subscription_creation, "_check_together", then_deleted)
    # WHEN the subscription is written THEN 400 resource_missing customer, and nothing is stored
    response = api.post("/v1/subscriptions", {"customer": customer, "items": [{"price": price}]})
    support.assert_stripe_error(
        response.status, response.json, 400, code="resource_missing", param="customer"
    )
    assert _events(api, "customer.subscription.created") == []


def test_a_lagging_index_makes_the_delete_retryable_not_incomplete(api, monkeypatch):
    # GIVEN a customer with a subscription the (eventually consistent) index does not show yet
    customer, subs = _customer_with_subscriptions(api, 1)
    monkeypatch.setattr(customers.subscriptions, "of_customer", lambda *args: [])
    # WHEN it is deleted THEN 409 (retry) and nothing changes
    response = api.delete(f"/v1/customers/{customer}")
    support.assert_stripe_error(response.status, response.json, 409)
    assert ok(api.get(f"/v1/subscriptions/{subs[0]}"))["status"] == "active"
    assert ok(api.get(f"/v1/customers/{customer}"))["id"] == customer
