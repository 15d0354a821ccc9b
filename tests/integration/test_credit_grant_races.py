"""Billing credits under crashes and races (issue 13 points 1 and 3): every write of a grant is one
transaction (create; expire; void; each grant's recorded expiry), so a crash in it writes nothing
and the retry writes it once; concurrent writers are serialized by version checks and conditional
debits, so the limit of unused grants holds and no credit is counted twice.

Crash points (docs/API.md, "Billing credits: grants and ledger"): create — T1 (grant + event, its
`credits_granted` entry + events, its remaining credits, the customer's grant list); expire / void
— T1 (grant + event, the entry taking what is left, the list); a recorded expiry — one transaction
per grant (the grant marked, the entry, the debit, the list)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import support
import time_machine
from test_credit_grants import GRANTS, MAR_10, grant, ledger, summary
from test_subscriptions_preview import Catalog, Clock, ok

from tally.billing import credit_grants, credit_ledger
from tally.clock import Clock as TallyClock
from tally.domain.credits import MAX_UNUSED_GRANTS
from tally.store import credits as store

DAY = 86_400


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


def _grant_ids(catalog: Catalog, customer: str) -> list[str]:
    return [g["id"] for g in ok(catalog.api.get(GRANTS, {"customer": customer, "limit": 100}))["data"]]


def _event_count(account: str, kind: str) -> int:
    return sum(1 for e in support.stored_events(account) if e["type"] == kind)


# -- crash injection -------------------------------------------------------------------------------
def test_a_crash_in_creating_a_grant_writes_nothing_and_the_retry_writes_it_once(
    catalog: Catalog, clock: Clock
) -> None:
    customer = catalog.customer()
    params: dict[str, Any] = {
        "customer": customer["id"],
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 1000}},
        "applicability_config": {"scope": {"price_type": "metered"}},
    }
    # WHEN the process dies in the create's one transaction
    with support.TransactionCrash(at=1):
        assert catalog.api.post(GRANTS, params).status == 500
    # THEN no grant, no ledger entry, no balance, an untouched list, no event
    assert _grant_ids(catalog, customer["id"]) == [] and ledger(catalog.api, customer["id"]) == []
    assert store.index(catalog.api.account.id, customer["id"]).version == 0
    assert _event_count(catalog.api.account.id, "billing.credit_grant.created") == 0
    # WHEN retried with an Idempotency-Key, twice THEN one grant, granted once
    first = catalog.api.post(GRANTS, params, headers={"Idempotency-Key": "grant-1"})
    again = catalog.api.post(GRANTS, params, headers={"Idempotency-Key": "grant-1"})
    assert first.json == again.json and _grant_ids(catalog, customer["id"]) == [first.json["id"]]
    assert summary(catalog.api, customer["id"]) == [("usd", 1000, 1000)]
    assert ledger(catalog.api, customer["id"]) == [("credit", "credits_granted", 1000, MAR_10)]


@pytest.mark.parametrize("action", ["expire", "void"])
def test_a_crash_in_expire_or_void_writes_nothing_and_the_retry_counts_once(
    catalog: Catalog, clock: Clock, action: str
) -> None:
    customer = catalog.customer()
    g = grant(catalog.api, customer["id"], 1000)
    clock.at(MAR_10 + 60)
    with support.TransactionCrash(at=1):
        assert catalog.api.post(f"{GRANTS}/{g['id']}/{action}").status == 500
    # THEN the grant is as it was, its credits all there
    assert ok(catalog.api.get(f"{GRANTS}/{g['id']}")) == g
    assert summary(catalog.api, customer["id"]) == [("usd", 1000, 1000)]
    # WHEN retried (and repeated) THEN one debit of 1000
    ok(catalog.api.post(f"{GRANTS}/{g['id']}/{action}"))
    assert catalog.api.post(f"{GRANTS}/{g['id']}/{action}").status == 400
    kind = "credits_expired" if action == "expire" else "credits_voided"
    assert ledger(catalog.api, customer["id"]) == [
        ("credit", "credits_granted", 1000, MAR_10),
        ("debit", kind, 1000, MAR_10 + 60),
    ]
    assert _event_count(catalog.api.account.id, "billing.credit_grant.updated") == 1


def test_a_crash_between_two_recorded_expiries_records_each_once(catalog: Catalog, clock: Clock) -> None:
    # GIVEN two grants expiring on day 1 and day 2
    customer = catalog.customer()
    grant(catalog.api, customer["id"], 100, expires_at=MAR_10 + DAY)
    grant(catalog.api, customer["id"], 200, expires_at=MAR_10 + 2 * DAY)
    account = catalog.api.account.id
    at = TallyClock.at(MAR_10 + 3 * DAY)
    # WHEN recording dies in the second grant's transaction
    with support.TransactionCrash(at=2), pytest.raises(support.InjectedCrash):
        credit_ledger.record_expiries(account, customer["id"], at)
    # THEN the first grant's expiry is recorded, the second's not (reads at the wall clock, Mar 10,
    # record nothing themselves)
    assert [e[2:] for e in ledger(catalog.api, customer["id"]) if e[1] == "credits_expired"] == [
        (100, MAR_10 + DAY)
    ]
    # WHEN retried, twice THEN the second is recorded once, the first not again
    assert [e.amount for e in credit_ledger.record_expiries(account, customer["id"], at)] == [200]
    assert credit_ledger.record_expiries(account, customer["id"], at) == []
    assert sorted(e[2:] for e in ledger(catalog.api, customer["id"]) if e[1] == "credits_expired") == [
        (100, MAR_10 + DAY),
        (200, MAR_10 + 2 * DAY),
    ]
    assert _event_count(account, "billing.credit_balance_transaction.created") == 4


def test_a_crash_in_the_schedules_expiry_is_retried_by_the_queue(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    from test_billing_cycles import close

    customer = catalog.customer()
    grant(catalog.api, customer["id"], 100, expires_at=MAR_10 + DAY)
    clock.at(MAR_10 + DAY + 60)
    close(functions, MAR_10 + DAY + 60)
    with support.TransactionCrash(at=1):
        functions.drain()  # the first delivery dies; SQS redelivers it and it succeeds
    assert [e for e in ledger(catalog.api, customer["id"]) if e[1] == "credits_expired"] == [
        ("debit", "credits_expired", 100, MAR_10 + DAY)
    ]


# -- races ---------------------------------------------------------------------------------------------
def _racing(monkeypatch: pytest.MonkeyPatch, other: Any) -> None:
    """Run `other()` once, right after the next read of a customer's grant list: a concurrent
    writer commits between this writer's read and its transaction."""
    real = store.index
    fired = []

    def index(account: str, customer: str) -> store.Index:
        read = real(account, customer)
        if not fired:
            fired.append(True)
            other()
        return read

    monkeypatch.setattr(store, "index", index)


def test_concurrent_creates_never_pass_the_limit_of_unused_grants(
    catalog: Catalog, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a customer one grant short of the limit (a depleted or voided grant does not count)
    customer = catalog.customer()
    voided = grant(catalog.api, customer["id"], 1)
    ok(catalog.api.post(f"{GRANTS}/{voided['id']}/void"))
    for _ in range(MAX_UNUSED_GRANTS - 1):
        grant(catalog.api, customer["id"], 1)
    # WHEN two creates race: the other commits between this one's read and its transaction
    _racing(monkeypatch, lambda: grant(catalog.api, customer["id"], 1))
    late = catalog.api.post(
        GRANTS,
        {
            "customer": customer["id"],
            "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 1}},
            "applicability_config": {"scope": {"price_type": "metered"}},
        },
    )
    # THEN the later one re-counts and is refused: exactly the limit
    assert late.status == 400 and late.json["error"]["code"] == "credit_grant_limit_exceeded"
    assert summary(catalog.api, customer["id"]) == [("usd", MAX_UNUSED_GRANTS, MAX_UNUSED_GRANTS)]


def test_an_expiry_recorded_by_two_writers_at_once_counts_once(
    catalog: Catalog, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = catalog.customer()
    grant(catalog.api, customer["id"], 100, expires_at=MAR_10 + DAY)
    account = catalog.api.account.id
    at = TallyClock.at(MAR_10 + DAY)
    other: list[Any] = []
    _racing(monkeypatch, lambda: other.extend(credit_ledger.record_expiries(account, customer["id"], at)))
    mine = credit_ledger.record_expiries(account, customer["id"], at)
    assert len(other) + len(mine) == 1
    monkeypatch.undo()
    assert [e for e in ledger(catalog.api, customer["id"]) if e[1] == "credits_expired"] == [
        ("debit", "credits_expired", 100, MAR_10 + DAY)
    ]
    assert _event_count(account, "v1.billing.credit_balance_transaction.created") == 2


def test_void_racing_an_application_never_loses_the_applied_credits(
    catalog: Catalog, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tally.domain.credits import APPLIED
    from tally.store import transactions

    customer = catalog.customer()
    g = grant(catalog.api, customer["id"], 1000)
    account = catalog.api.account.id

    def apply() -> None:
        (b,) = credit_ledger.grants_of(account, customer["id"], TallyClock.at(MAR_10))
        e = credit_ledger.entry(
            b.grant, APPLIED, 300, effective_at=MAR_10, now=MAR_10, about=("in_1", "il_1")
        )
        transactions.commit(account, [credit_ledger.ledger_write(e)], TallyClock.at(MAR_10))

    # WHEN an invoice applies 3.00 between the void's read and its transaction
    _racing(monkeypatch, apply)
    refused = catalog.api.post(f"{GRANTS}/{g['id']}/void")
    # THEN the void re-reads, finds the grant applied, and refuses: 7.00 left, nothing voided
    assert refused.status == 400 and "unapplied" in refused.json["error"]["message"]
    monkeypatch.undo()
    assert summary(catalog.api, customer["id"]) == [("usd", 700, 700)]
    assert credit_grants.retrieve(account, g["id"], TallyClock.at(MAR_10)).voided_at is None


# -- cost ---------------------------------------------------------------------------------------------
def test_reading_a_customers_grants_costs_three_requests_whatever_its_history(
    catalog: Catalog, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collections import Counter

    from botocore.client import BaseClient

    # GIVEN a customer with 5 live grants and 5 ended ones (voided, expired)
    customer = catalog.customer()
    for i in range(10):
        g = grant(catalog.api, customer["id"], 100 + i)
        if i % 2:
            ok(catalog.api.post(f"{GRANTS}/{g['id']}/{'void' if i % 4 == 1 else 'expire'}"))
    seen: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(client: Any, operation: str, params: Any) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            seen[operation] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    # WHEN the finalization code reads the customer's grants with what is left of each
    found = credit_ledger.grants_of(catalog.api.account.id, customer["id"], TallyClock.at(MAR_10))
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    # THEN the 5 live ones, from the grant list, the grants and their remaining credits: 3 requests
    assert sorted(b.remaining for b in found) == [100, 102, 104, 106, 108]
    assert seen == {"GetItem": 1, "BatchGetItem": 2}


def test_a_grant_costs_one_transaction_and_five_reads(
    catalog: Catalog, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collections import Counter

    from botocore.client import BaseClient

    customer = catalog.customer()
    grant(catalog.api, customer["id"], 100)  # the customer's list exists (and the key is warm)
    seen: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(client: Any, operation: str, params: Any) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            seen[operation] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    grant(catalog.api, customer["id"], 200)
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    # the API key, the customer (named, then its clock), the grant list, its grants and their
    # remaining credits; then one TransactWriteItems
    assert seen == {"GetItem": 3, "BatchGetItem": 2, "TransactWriteItems": 1}
