"""The customer balance through the official `stripe` SDK on the local server (issue 12, point 3):
`customers.balance_transactions` create, retrieve, update, list, and `customer.balance`."""

from __future__ import annotations

import pytest
import stripe

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
