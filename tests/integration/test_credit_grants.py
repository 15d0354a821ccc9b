"""Billing credits, issue 13 points 1 and 3: credit grants (`/v1/billing/credit_grants`), their
ledger (`/v1/billing/credit_balance_transactions`) and the balance summary
(`/v1/billing/credit_balance_summary`), with their events, expiry at the expiry instant (a test
clock's too) and the functions the finalization code uses (`billing.credit_ledger`).

Calendar: the wall clock starts at 2025-03-10 00:00 UTC (MAR_10)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import stripe_shapes
import support
import time_machine
from test_subscriptions_preview import Catalog, Clock, ok, ts

from tally.billing import credit_ledger
from tally.clock import Clock as TallyClock
from tally.domain.credits import APPLIED, CreditGrant

MAR_10 = ts(2025, 3, 10)
DAY = 86_400
GRANTS = "/v1/billing/credit_grants"
SUMMARY = "/v1/billing/credit_balance_summary"
LEDGER = "/v1/billing/credit_balance_transactions"


def grant(api: support.Api, customer: str, value: int = 1000, **fields: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "customer": customer,
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": value}},
        "applicability_config": {"scope": {"price_type": "metered"}},
        **fields,
    }
    return ok(api.post(GRANTS, params))


def summary(api: support.Api, customer: str, **flt: Any) -> list[tuple[str, int, int]]:
    """(currency, available, ledger) per balance of the summary."""
    f = flt or {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}}
    body = ok(api.get(SUMMARY, {"customer": customer, "filter": f}))
    assert stripe_shapes.problems(body) == []
    return [
        (
            b["ledger_balance"]["monetary"]["currency"],
            b["available_balance"]["monetary"]["value"],
            b["ledger_balance"]["monetary"]["value"],
        )
        for b in body["balances"]
    ]


def ledger(api: support.Api, customer: str, **params: Any) -> list[tuple[str, str, int, int]]:
    """(type, kind, amount, effective_at) of the customer's ledger, oldest first."""
    page = ok(api.get(LEDGER, {"customer": customer, "limit": 100, **params}))
    out = []
    for t in reversed(page["data"]):
        assert stripe_shapes.problems(t) == []
        side = t["credit"] or t["debit"]
        out.append((t["type"], side["type"], side["amount"]["monetary"]["value"], t["effective_at"]))
    return out


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


def test_create_a_grant_in_stripes_shape_with_its_ledger_entry(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a customer
    customer = catalog.customer()
    # WHEN it is granted 10.00 USD of promotional credits, priority 10, expiring in 30 days
    g = grant(
        catalog.api,
        customer["id"],
        1000,
        category="promotional",
        priority=10,
        expires_at=MAR_10 + 30 * DAY,
        name="Welcome",
        metadata={"k": "v"},
    )
    # THEN Stripe's billing.credit_grant comes back and reads back the same
    assert stripe_shapes.problems(g) == []
    assert g["id"].startswith("credgr_") and g["object"] == "billing.credit_grant"
    assert g["amount"] == {"monetary": {"currency": "usd", "value": 1000}, "type": "monetary"}
    assert g["applicability_config"] == {"scope": {"price_type": "metered"}}
    assert (g["category"], g["priority"], g["effective_at"], g["expires_at"]) == (
        "promotional",
        10,
        MAR_10,
        MAR_10 + 30 * DAY,
    )
    assert (g["customer"], g["name"], g["metadata"], g["voided_at"], g["test_clock"]) == (
        customer["id"],
        "Welcome",
        {"k": "v"},
        None,
        None,
    )
    assert ok(catalog.api.get(f"{GRANTS}/{g['id']}")) == g
    # AND the ledger holds its credits_granted entry; the balance is 10.00
    assert ledger(catalog.api, customer["id"]) == [("credit", "credits_granted", 1000, MAR_10)]
    assert summary(catalog.api, customer["id"]) == [("usd", 1000, 1000)]


def test_defaults_paid_priority_50(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    g = grant(catalog.api, customer["id"])
    assert (g["category"], g["priority"], g["expires_at"], g["name"]) == ("paid", 50, None, None)


def test_grants_of_gives_live_grants_with_what_is_left(catalog: Catalog, clock: Clock) -> None:
    # GIVEN two grants of one customer, one of them voided
    customer = catalog.customer()
    a = grant(catalog.api, customer["id"], 700)
    b = grant(catalog.api, customer["id"], 300)
    ok(catalog.api.post(f"{GRANTS}/{b['id']}/void"))
    # WHEN the finalization code asks for the customer's grants
    found = credit_ledger.grants_of(catalog.api.account.id, customer["id"], TallyClock.at(MAR_10))
    # THEN only the live one, with all of it left
    assert [(x.grant.id, x.remaining) for x in found] == [(a["id"], 700)]
    assert isinstance(found[0].grant, CreditGrant)


def test_a_debit_never_spends_more_than_is_left(catalog: Catalog, clock: Clock) -> None:
    # GIVEN a grant of 10.00 and the ledger append function
    from tally.errors import Conflict
    from tally.store import transactions

    customer = catalog.customer()
    g = grant(catalog.api, customer["id"], 1000)
    account = catalog.api.account.id
    (b,) = credit_ledger.grants_of(account, customer["id"], TallyClock.at(MAR_10))
    # WHEN 6.00 is applied to an invoice
    first = credit_ledger.entry(
        b.grant,
        APPLIED,
        600,
        effective_at=MAR_10,
        now=MAR_10,
        invoice="in_1",
        invoice_line_item="il_1",
        about=("in_1", "il_1"),
    )
    transactions.commit(account, [credit_ledger.ledger_write(first)], TallyClock.at(MAR_10))
    # THEN 4.00 is left, and a second invoice taking 6.00 more fails, writing nothing
    second = credit_ledger.entry(
        b.grant,
        APPLIED,
        600,
        effective_at=MAR_10,
        now=MAR_10,
        invoice="in_2",
        invoice_line_item="il_2",
        about=("in_2", "il_2"),
    )
    with pytest.raises(Conflict):
        transactions.commit(account, [credit_ledger.ledger_write(second)], TallyClock.at(MAR_10))
    assert summary(catalog.api, customer["id"]) == [("usd", 400, 400)]
    assert [e[:3] for e in ledger(catalog.api, customer["id"])] == [
        ("credit", "credits_granted", 1000),
        ("debit", "credits_applied", 600),
    ]
    # AND the same entry written twice counts once (its id is derived)
    with pytest.raises(Conflict):
        transactions.commit(account, [credit_ledger.ledger_write(first)], TallyClock.at(MAR_10))
    assert summary(catalog.api, customer["id"]) == [("usd", 400, 400)]
    assert g["id"] == b.grant.id


def _types(account: str, about: str) -> list[str]:
    """Types of the account's events about object `about` (snapshot or thin), oldest first."""
    out = []
    for e in reversed(support.stored_events(account)):
        shown = e["data"]["object"]
        rel = e.get("related_object") or {}
        if shown.get("id") == about or rel.get("id") == about:
            out.append(e["type"])
    return out


# -- list, update, expire, void, events -----------------------------------------------------------
def test_list_by_customer_newest_first(catalog: Catalog, clock: Clock) -> None:
    alice, bob = catalog.customer(), catalog.customer()
    a1 = grant(catalog.api, alice["id"], 100)
    clock.at(MAR_10 + 1)
    a2 = grant(catalog.api, alice["id"], 200)
    b1 = grant(catalog.api, bob["id"], 300)
    page = ok(catalog.api.get(GRANTS, {"customer": alice["id"]}))
    assert page["url"] == GRANTS and [g["id"] for g in page["data"]] == [a2["id"], a1["id"]]
    first = ok(catalog.api.get(GRANTS, {"customer": alice["id"], "limit": 1}))
    assert first["has_more"] and [g["id"] for g in first["data"]] == [a2["id"]]
    rest = ok(catalog.api.get(GRANTS, {"customer": alice["id"], "starting_after": a2["id"]}))
    assert [g["id"] for g in rest["data"]] == [a1["id"]] and not rest["has_more"]
    everyone = [g["id"] for g in ok(catalog.api.get(GRANTS, {"limit": 100}))["data"]]
    assert b1["id"] in everyone and a1["id"] in everyone


def test_create_records_snapshot_and_thin_events(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    g = grant(catalog.api, customer["id"])
    account = catalog.api.account.id
    assert _types(account, g["id"]) == ["billing.credit_grant.created", "v1.billing.credit_grant.created"]
    (txn,) = ok(catalog.api.get(LEDGER, {"customer": customer["id"]}))["data"]
    assert _types(account, txn["id"]) == [
        "billing.credit_balance_transaction.created",
        "v1.billing.credit_balance_transaction.created",
    ]
    thin = next(e for e in support.stored_events(account) if e["type"] == "v1.billing.credit_grant.created")
    assert thin["related_object"] == {
        "id": g["id"],
        "type": "billing.credit_grant",
        "url": f"{GRANTS}/{g['id']}",
    }
    # its data.object names the grant and its customer (what notification filters read), no snapshot
    assert thin["data"]["object"] == {
        "id": g["id"],
        "object": "billing.credit_grant",
        "customer": customer["id"],
    }
    snap = next(e for e in support.stored_events(account) if e["type"] == "billing.credit_grant.created")
    assert snap["data"]["object"] == g


def test_update_changes_expiry_and_metadata_only(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    g = grant(catalog.api, customer["id"], metadata={"a": "1"})
    clock.at(MAR_10 + 60)
    after = ok(catalog.api.post(f"{GRANTS}/{g['id']}", {"expires_at": MAR_10 + DAY, "metadata": {"b": "2"}}))
    assert (after["expires_at"], after["metadata"], after["updated"]) == (
        MAR_10 + DAY,
        {"a": "1", "b": "2"},
        MAR_10 + 60,
    )
    # an empty expires_at: never expires again
    never = ok(catalog.api.post(f"{GRANTS}/{g['id']}", {"expires_at": ""}))
    assert never["expires_at"] is None
    event = next(
        e
        for e in support.stored_events(catalog.api.account.id)
        if e["type"] == "billing.credit_grant.updated"
    )
    assert (
        event["data"]["previous_attributes"] == {"expires_at": MAR_10 + DAY, "updated": MAR_10 + 60}
        or event["data"]["previous_attributes"]["expires_at"] == MAR_10 + DAY
    )
    assert _types(catalog.api.account.id, g["id"]).count("v1.billing.credit_grant.updated") == 2
    # other fields cannot change
    bad = catalog.api.post(f"{GRANTS}/{g['id']}", {"priority": 1})
    assert bad.status == 400 and bad.json["error"]["code"] == "parameter_unknown"


def test_expire_records_what_is_left_at_once(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    g = grant(catalog.api, customer["id"], 1000)
    clock.at(MAR_10 + 3600)
    after = ok(catalog.api.post(f"{GRANTS}/{g['id']}/expire"))
    assert (after["expires_at"], after["updated"], after["voided_at"]) == (MAR_10 + 3600, MAR_10 + 3600, None)
    assert ledger(catalog.api, customer["id"]) == [
        ("credit", "credits_granted", 1000, MAR_10),
        ("debit", "credits_expired", 1000, MAR_10 + 3600),
    ]
    assert summary(catalog.api, customer["id"]) == []  # no live grant: no currency to show
    again = catalog.api.post(f"{GRANTS}/{g['id']}/expire")
    assert again.status == 400 and "expired" in again.json["error"]["message"]
    assert (
        ok(catalog.api.post(f"{GRANTS}/{g['id']}/void"), 400)
        if False
        else catalog.api.post(f"{GRANTS}/{g['id']}/void").status == 400
    )


def test_void_records_credits_voided_and_refuses_an_applied_grant(catalog: Catalog, clock: Clock) -> None:
    from tally.store import transactions

    customer = catalog.customer()
    g = grant(catalog.api, customer["id"], 1000)
    used = grant(catalog.api, customer["id"], 500)
    clock.at(MAR_10 + 10)
    voided = ok(catalog.api.post(f"{GRANTS}/{g['id']}/void"))
    assert voided["voided_at"] == MAR_10 + 10
    assert ledger(catalog.api, customer["id"], credit_grant=g["id"]) == [
        ("credit", "credits_granted", 1000, MAR_10),
        ("debit", "credits_voided", 1000, MAR_10 + 10),
    ]
    # a grant some of which an invoice used cannot be voided
    account = catalog.api.account.id
    (b,) = credit_ledger.grants_of(account, customer["id"], TallyClock.at(MAR_10 + 10))
    applied = credit_ledger.entry(
        b.grant, APPLIED, 1, effective_at=MAR_10, now=MAR_10, about=("in_x", "il_x")
    )
    transactions.commit(account, [credit_ledger.ledger_write(applied)], TallyClock.at(MAR_10))
    refused = catalog.api.post(f"{GRANTS}/{used['id']}/void")
    assert refused.status == 400 and "unapplied" in refused.json["error"]["message"]
    assert summary(catalog.api, customer["id"]) == [("usd", 499, 499)]


# -- the summary -------------------------------------------------------------------------------------
def test_summary_by_scope_grant_and_currency(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    meter = catalog.meter()
    tokens = catalog.metered("tokens", meter, unit_amount=4)
    other = catalog.metered("other", meter, unit_amount=4)
    everything = grant(catalog.api, customer["id"], 1000)
    only_tokens = grant(
        catalog.api, customer["id"], 200, applicability_config={"scope": {"prices": [{"id": tokens["id"]}]}}
    )
    assert only_tokens["applicability_config"] == {"scope": {"prices": [{"id": tokens["id"]}]}}
    grant(
        catalog.api,
        customer["id"],
        30,
        amount={"type": "monetary", "monetary": {"currency": "eur", "value": 30}},
    )
    # pending: effective tomorrow, not in the balance yet
    grant(catalog.api, customer["id"], 5000, effective_at=MAR_10 + DAY)
    assert summary(catalog.api, customer["id"]) == [("eur", 30, 30), ("usd", 1200, 1200)]
    prices = {"type": "applicability_scope", "applicability_scope": {"prices": [{"id": other["id"]}]}}
    assert summary(catalog.api, customer["id"], **prices) == [("eur", 30, 30), ("usd", 1000, 1000)]
    one = {"type": "credit_grant", "credit_grant": only_tokens["id"]}
    assert summary(catalog.api, customer["id"], **one) == [("usd", 200, 200)]
    clock.at(MAR_10 + DAY)
    assert summary(catalog.api, customer["id"]) == [("eur", 30, 30), ("usd", 6200, 6200)]
    assert everything["id"]


def test_summary_of_a_customer_without_grants_is_empty(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    body = ok(
        catalog.api.get(
            SUMMARY,
            {
                "customer": customer["id"],
                "filter": {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}},
            },
        )
    )
    assert body == {
        "object": "billing.credit_balance_summary",
        "balances": [],
        "customer": customer["id"],
        "customer_account": None,
        "livemode": False,
    }


def test_ledger_entry_retrieve_and_ids_never_meet_customer_balance_ids(
    catalog: Catalog, clock: Clock
) -> None:
    customer = catalog.customer()
    grant(catalog.api, customer["id"])
    (txn,) = ok(catalog.api.get(LEDGER, {"customer": customer["id"]}))["data"]
    assert ok(catalog.api.get(f"{LEDGER}/{txn['id']}")) == txn
    # credit ledger ids: cbtxn_61 + 24 characters; customer balance ones: cbtxn_ + 24
    assert txn["id"].startswith("cbtxn_61") and len(txn["id"]) == len("cbtxn_") + 26
    cbtxn = ok(
        catalog.api.post(
            f"/v1/customers/{customer['id']}/balance_transactions", {"amount": -100, "currency": "usd"}
        )
    )
    assert len(cbtxn["id"]) == len("cbtxn_") + 24
    assert catalog.api.get(f"{LEDGER}/{cbtxn['id']}").status == 404
    assert catalog.api.get(f"/v1/customers/{customer['id']}/balance_transactions/{txn['id']}").status == 404


def test_expand_the_customer_and_the_grant(catalog: Catalog, clock: Clock) -> None:
    customer = catalog.customer()
    g = grant(catalog.api, customer["id"])
    shown = ok(catalog.api.get(f"{GRANTS}/{g['id']}", {"expand": ["customer"]}))
    assert shown["customer"]["id"] == customer["id"] and shown["customer"]["object"] == "customer"
    page = ok(catalog.api.get(LEDGER, {"customer": customer["id"], "expand": ["data.credit_grant"]}))
    assert page["data"][0]["credit_grant"] == g
    refused = catalog.api.get(f"{GRANTS}/{g['id']}", {"expand": ["amount"]})
    assert refused.status == 400 and refused.json["error"]["param"] == "expand[0]"


def test_an_endpoint_may_enable_the_thin_credit_events_by_name(catalog: Catalog, clock: Clock) -> None:
    thin = [
        "v1.billing.credit_grant.created",
        "v1.billing.credit_grant.updated",
        "v1.billing.credit_balance_transaction.created",
    ]
    hook = ok(
        catalog.api.post(
            "/v1/webhook_endpoints", {"url": "https://hooks.example.com/c", "enabled_events": thin}
        )
    )
    assert hook["enabled_events"] == thin
