"""Billing credits through the official `stripe` SDK on the local server (issue 13 points 1 and 3):
grants (create, retrieve, list, modify, expire, void), the balance summary and the ledger, in
both the module-level style (`stripe.billing.CreditGrant.create`) and `StripeClient`."""

from __future__ import annotations

import time

import pytest
import stripe

pytestmark = pytest.mark.e2e


def test_grant_balance_and_ledger_with_the_module_level_sdk(local_server, e2e_key, monkeypatch) -> None:
    monkeypatch.setattr(stripe, "api_key", e2e_key)
    monkeypatch.setattr(stripe, "api_base", local_server.url)
    customer = stripe.Customer.create(name="Credits")
    # WHEN 10.00 USD of promotional credits are granted
    grant = stripe.billing.CreditGrant.create(
        customer=customer.id,
        amount={"type": "monetary", "monetary": {"currency": "usd", "value": 1000}},
        applicability_config={"scope": {"price_type": "metered"}},
        category="promotional",
        name="Welcome credits",
    )
    # THEN the SDK reads Stripe's billing.credit_grant
    assert isinstance(grant, stripe.billing.CreditGrant)
    assert grant.amount.monetary is not None and grant.amount.monetary.value == 1000
    assert (grant.category, grant.priority, grant.applicability_config.scope.price_type) == (
        "promotional",
        50,
        "metered",
    )
    # AND the balance summary shows 10.00 available and in the ledger
    summary = stripe.billing.CreditBalanceSummary.retrieve(
        customer=customer.id,
        filter={"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}},
    )
    assert isinstance(summary, stripe.billing.CreditBalanceSummary)
    (balance,) = summary.balances
    assert balance.available_balance.monetary is not None and balance.available_balance.monetary.value == 1000
    assert balance.ledger_balance.monetary is not None and balance.ledger_balance.monetary.currency == "usd"
    # AND the ledger holds the grant's credits_granted entry
    ledger = stripe.billing.CreditBalanceTransaction.list(customer=customer.id)
    (entry,) = ledger.data
    assert isinstance(entry, stripe.billing.CreditBalanceTransaction)
    assert entry.type == "credit" and entry.credit is not None and entry.credit.type == "credits_granted"
    assert entry.credit_grant == grant.id
    assert stripe.billing.CreditBalanceTransaction.retrieve(entry.id).id == entry.id


def test_grant_lifecycle_with_stripe_client(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "Lifecycle"})
    usd = {"type": "monetary", "monetary": {"currency": "usd", "value": 500}}
    scope = {"scope": {"price_type": "metered"}}
    first = client.v1.billing.credit_grants.create(
        {"customer": customer.id, "amount": usd, "applicability_config": scope}
    )
    second = client.v1.billing.credit_grants.create(
        {"customer": customer.id, "amount": usd, "applicability_config": scope, "priority": 0}
    )
    later = int(time.time()) + 86_400
    changed = client.v1.billing.credit_grants.update(first.id, {"expires_at": later, "metadata": {"k": "v"}})
    assert (changed.expires_at, changed.metadata["k"]) == (later, "v")
    listed = client.v1.billing.credit_grants.list({"customer": customer.id})
    assert {g.id for g in listed.data} == {first.id, second.id}
    expired = client.v1.billing.credit_grants.expire(first.id)
    assert expired.expires_at is not None and expired.expires_at <= int(time.time()) + 5
    voided = client.v1.billing.credit_grants.void_grant(second.id)
    assert voided.voided_at is not None
    kinds = [
        (t.credit or t.debit).type  # type: ignore[union-attr]
        for t in client.v1.billing.credit_balance_transactions.list({"customer": customer.id}).data
    ]
    assert sorted(kinds) == ["credits_expired", "credits_granted", "credits_granted", "credits_voided"]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.billing.credit_grants.void_grant(second.id)
    assert raised.value.http_status == 400


def test_concurrent_grants_stop_exactly_at_the_limit(local_server, e2e_key) -> None:
    import threading

    import requests

    from tally.domain.credits import MAX_UNUSED_GRANTS

    # GIVEN a customer on the local server (moto served one request at a time, the gateway concurrent)
    auth = (e2e_key, "")
    url = local_server.url
    customer = requests.post(f"{url}/v1/customers", data={"name": "Busy"}, auth=auth, timeout=30).json()
    body = {
        "customer": customer["id"],
        "amount[type]": "monetary",
        "amount[monetary][currency]": "usd",
        "amount[monetary][value]": "100",
        "applicability_config[scope][price_type]": "metered",
    }
    statuses: list[int] = []

    def create() -> None:
        for _ in range(4):
            for _attempt in range(20):  # a 409 (the grant list moved under us) is retried, as the SDKs do
                answer = requests.post(f"{url}/v1/billing/credit_grants", data=body, auth=auth, timeout=30)
                if answer.status_code != 409:
                    break
            statuses.append(answer.status_code)

    # WHEN 8 clients each try 4 grants at once (32 > the limit of 20 unused grants)
    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN exactly 20 were granted, the others refused with 400, and the balance shows 20 × 1.00
    assert sorted(statuses) == [200] * MAX_UNUSED_GRANTS + [400] * (32 - MAX_UNUSED_GRANTS)
    summary = requests.get(
        f"{url}/v1/billing/credit_balance_summary",
        params={
            "customer": customer["id"],
            "filter[type]": "applicability_scope",
            "filter[applicability_scope][price_type]": "metered",
        },
        auth=auth,
        timeout=30,
    ).json()
    assert summary["balances"][0]["ledger_balance"]["monetary"]["value"] == 100 * MAX_UNUSED_GRANTS
