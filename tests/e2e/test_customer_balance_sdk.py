"""The customer balance through the official `stripe` SDK on the local server (issue 12, point 3):
`customers.balance_transactions` create, retrieve, update, list, and `customer.balance`."""

from __future__ import annotations

import threading

import pytest
import requests
import stripe
import support

pytestmark = pytest.mark.e2e


def test_balance_transactions_through_the_sdk(client: stripe.StripeClient) -> None:
    # GIVEN a customer
    customer = client.v1.customers.create({"name": "Jenny Rosen"})
    # WHEN a 5.00 credit is added through the SDK
    txn = client.v1.customers.balance_transactions.create(
        customer.id, {"amount": -500, "currency": "usd", "description": "Goodwill"}
    )
    # THEN the SDK reads Stripe's object, and the customer's balance and currency follow
    assert isinstance(txn, stripe.CustomerBalanceTransaction)
    assert (txn.amount, txn.ending_balance, txn.type, txn.currency) == (-500, -500, "adjustment", "usd")
    again = client.v1.customers.retrieve(customer.id)
    assert (again.balance, again.currency) == (-500, "usd")
    # AND it is retrieved, updated (description, metadata) and listed
    assert client.v1.customers.balance_transactions.retrieve(customer.id, txn.id).id == txn.id
    changed = client.v1.customers.balance_transactions.update(
        customer.id, txn.id, {"metadata": {"ticket": "7"}}
    )
    assert changed.metadata["ticket"] == "7" and changed.description == "Goodwill"
    listed = client.v1.customers.balance_transactions.list(customer.id)
    assert [t.id for t in listed.data] == [txn.id]
    # AND another currency is refused as Stripe refuses it
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.balance_transactions.create(customer.id, {"amount": -1, "currency": "eur"})
    assert raised.value.param == "currency"


def test_concurrent_adjustments_each_count_once(local_server: support.LocalServer, e2e_key: str) -> None:
    # GIVEN a customer on the local server (moto served one request at a time, the gateway concurrent)
    auth = (e2e_key, "")
    url = local_server.url
    customer = requests.post(f"{url}/v1/customers", data={"name": "Busy"}, auth=auth, timeout=30).json()
    ledger = f"{url}/v1/customers/{customer['id']}/balance_transactions"
    failures: list[str] = []
    credit = {"amount": -100, "currency": "usd"}

    def adjust() -> None:
        for _ in range(3):
            for _attempt in range(20):  # a 409 (the balance moved under us) is retried, as the SDKs do
                answer = requests.post(ledger, data=credit, auth=auth, timeout=30)
                if answer.status_code != 409:
                    break
            if answer.status_code != 200:
                failures.append(answer.text)

    # WHEN 8 clients each add three credits of 1.00 at once
    threads = [threading.Thread(target=adjust) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN every one counted exactly once: the balance is −2,400 and the 24 entries' ending balances
    #      are −100, −200, …, −2,400 (a lost or doubled update would repeat or skip one)
    assert failures == []
    shown = requests.get(f"{url}/v1/customers/{customer['id']}", auth=auth, timeout=30).json()
    assert shown["balance"] == -2400
    entries = requests.get(ledger, params={"limit": 100}, auth=auth, timeout=30).json()["data"]
    assert sorted(t["ending_balance"] for t in entries) == [-100 * n for n in range(24, 0, -1)]
