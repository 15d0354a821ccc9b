"""Billing credits applied at finalization (issue 13 point 2): Stripe's order across grants, lines
covered in order, the invoice's `total_pretax_credit_amounts` and lines' `pretax_credit_amounts`,
`credits_applied` entries, void reinstatement (into an expired grant: expired at once), crashes at
each write and concurrent finalizations of one customer.

Calendar: subscriptions start on 2025-03-10 00:00 UTC (MAR_10); the first period is
[Mar 10, Apr 10); its draft is created at APR_10 and finalizes an hour later (the grace period).
Tokens are Alpaca AI's 0.04 USD per 100 tokens, rounded up (seed 002): 1,500 tokens = 60 cents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import stripe_shapes
import support
import time_machine
from test_credit_grants import GRANTS, grant, ledger, summary
from test_subscriptions_preview import Catalog, Clock, ok, ts

from tally.billing import cycles
from tally.clock import Clock as TallyClock

MAR_10 = ts(2025, 3, 10)
MAR_20 = ts(2025, 3, 20)
APR_10 = ts(2025, 4, 10)
HOUR = 3600
DAY = 86_400


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


class Plan:
    """A customer subscribed to Alpaca AI tokens (and, with `seats`, 1 seat of 10.00 licensed)."""

    def __init__(self, catalog: Catalog, *, seats: bool = False, prices: int = 1) -> None:
        self.catalog = catalog
        self.customer = catalog.customer()
        self.meters = [catalog.meter(f"tokens_{i}") for i in range(prices)]
        self.prices = [
            catalog.metered(
                f"Tokens {i}",
                meter,
                unit_amount=4,
                transform_quantity={"divide_by": 100, "round": "up"},
            )
            for i, meter in enumerate(self.meters)
        ]
        items = [{"price": p["id"]} for p in self.prices]
        if seats:
            items.append({"price": catalog.price("Seats", unit_amount=1000)["id"], "quantity": 1})
        self.sub = catalog.subscribe(self.customer, *items)

    @property
    def cid(self) -> str:
        return str(self.customer["id"])

    def use(self, tokens: int, price: int = 0, at: int | None = None) -> None:
        self.catalog.usage(self.meters[price], self.customer, tokens, at)

    def grant(self, value: int, **fields: Any) -> dict[str, Any]:
        return grant(self.catalog.api, self.cid, value, **fields)

    def draft(self, functions: support.Functions, clock: Clock, at: int = APR_10) -> dict[str, Any]:
        """The draft closing the period that ends at `at`, billed by the close's worker function
        (`cycles.bill_period`, called directly: a message another test left in the shared queue
        with an older frozen time would block moto's receive past its retention period)."""
        clock.at(at)
        account = self.catalog.api.account.id
        assert cycles.bill_period(account, self.sub["id"], at, TallyClock(at)).outcome == "billed"
        found = ok(self.catalog.api.get("/v1/invoices", {"subscription": self.sub["id"], "status": "draft"}))
        (inv,) = found["data"]
        return inv

    def finalize(self, inv: dict[str, Any]) -> dict[str, Any]:
        return ok(self.catalog.api.post(f"/v1/invoices/{inv['id']}/finalize"))

    def summary(self) -> list[tuple[str, int, int]]:
        return summary(self.catalog.api, self.cid)

    def ledger(self) -> list[tuple[str, str, int]]:
        return [e[:3] for e in ledger(self.catalog.api, self.cid)]


def credits_of(inv: dict[str, Any]) -> list[tuple[str, int]]:
    """(line price, credited) of each line's pretax credit amounts, in order."""
    out = []
    for ln in inv["lines"]["data"]:
        for c in ln["pretax_credit_amounts"]:
            out.append((ln["pricing"]["price_details"]["price"], c["amount"]))
    return out


def money(inv: dict[str, Any]) -> tuple[str, int, int, int]:
    return (inv["status"], inv["subtotal"], inv["total"], inv["amount_due"])


# -- application at finalization ------------------------------------------------------------------
def test_finalizing_applies_credits_before_the_balance_in_stripes_shape(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN tokens + 1 seat, 15,000 tokens used (600) and a 10.00 promotional grant
    plan = Plan(catalog, seats=True)
    g = plan.grant(1000, category="promotional")
    clock.at(MAR_20)
    plan.use(15_000)
    # WHEN the period's draft (600 tokens + 1,000 seat in advance) finalizes
    draft = plan.draft(functions, clock)
    assert money(draft) == ("draft", 1600, 1600, 1600) and credits_of(draft) == []
    clock.at(APR_10 + HOUR)
    inv = plan.finalize(draft)
    # THEN the metered line took 600 of credits (the seat line none): total and amount due 1,000
    assert stripe_shapes.problems(inv) == []
    assert money(inv) == ("open", 1600, 1000, 1000)
    assert inv["total_excluding_tax"] == 1000 and inv["subtotal_excluding_tax"] == 1600
    assert credits_of(inv) == [(plan.prices[0]["id"], 600)]
    (applied,) = inv["total_pretax_credit_amounts"]
    assert applied["type"] == "credit_balance_transaction" and applied["amount"] == 600
    assert "discount" not in applied
    # AND the entry is Stripe's credits_applied debit naming the invoice and the line
    txn = ok(
        catalog.api.get(f"/v1/billing/credit_balance_transactions/{applied['credit_balance_transaction']}")
    )
    assert stripe_shapes.problems(txn) == []
    metered_line = next(ln for ln in inv["lines"]["data"] if ln["pretax_credit_amounts"])
    assert txn["credit_grant"] == g["id"] and txn["type"] == "debit"
    assert txn["debit"]["type"] == "credits_applied"
    assert txn["debit"]["credits_applied"] == {"invoice": inv["id"], "invoice_line_item": metered_line["id"]}
    assert txn["debit"]["amount"] == {"monetary": {"currency": "usd", "value": 600}, "type": "monetary"}
    assert plan.ledger() == [("credit", "credits_granted", 1000), ("debit", "credits_applied", 600)]
    assert plan.summary() == [("usd", 400, 400)]
    # AND retrieving it again shows the same credits
    assert ok(catalog.api.get(f"/v1/invoices/{inv['id']}")) == inv


def test_grants_apply_in_stripes_order_and_lines_in_order(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN two token prices, line A 15,000 tokens (600) and line B 10,000 tokens (400), and grants:
    #   paid, priority 50, 10.00 (last)   promo, priority 50, 3.00 (second)   paid, priority 0, 2.00 (first)
    plan = Plan(catalog, prices=2)
    last = plan.grant(1000)
    second = plan.grant(300, category="promotional")
    first = plan.grant(200, priority=0)
    clock.at(MAR_20)
    plan.use(15_000, price=0)
    plan.use(10_000, price=1)
    draft = plan.draft(functions, clock)
    clock.at(APR_10 + HOUR)
    inv = plan.finalize(draft)
    # THEN lines come in the subscription's item order (A 600, B 400); A takes 200 (first), 300
    # (second) and 100 of `last`; B takes 400 of `last`: 1,000 credited, nothing due
    assert [ln["amount"] for ln in inv["lines"]["data"]] == [600, 400]
    a, b = (p["id"] for p in plan.prices)
    assert credits_of(inv) == [(a, 200), (a, 300), (a, 100), (b, 400)]
    assert money(inv) == ("paid", 1000, 0, 0)
    txns = [c["credit_balance_transaction"] for c in inv["total_pretax_credit_amounts"]]
    grants = [
        ok(catalog.api.get(f"/v1/billing/credit_balance_transactions/{t}"))["credit_grant"] for t in txns
    ]
    assert grants == [first["id"], second["id"], last["id"], last["id"]]
    # AND what is left: 500 of `last`
    left = [
        summary(catalog.api, plan.cid, type="credit_grant", credit_grant=g["id"])
        for g in (first, second, last)
    ]
    assert left == [[("usd", 0, 0)], [("usd", 0, 0)], [("usd", 500, 500)]]


def test_a_grant_expiring_mid_period_covers_nothing_of_that_period(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN a 10.00 grant expiring Mar 25 (inside [Mar 10, Apr 10)) and one of 1.00 never expiring
    plan = Plan(catalog)
    plan.grant(1000, expires_at=ts(2025, 3, 25), priority=0)
    keeps = plan.grant(100)
    clock.at(MAR_20)
    plan.use(15_000)
    # THEN before expiry the balance shows both grants, and usage burns only the one that will pay
    assert plan.summary() == [("usd", 1000, 1100)]
    # WHEN the period closes and finalizes THEN the expiring grant paid nothing: 100 of 600 credited
    inv = plan.finalize(plan.draft(functions, clock))
    assert money(inv) == ("open", 600, 500, 500) and credits_of(inv) == [(plan.prices[0]["id"], 100)]
    # (the expiry is recorded when it is first due or read: its place in the list may vary)
    assert sorted(plan.ledger()) == [
        ("credit", "credits_granted", 100),
        ("credit", "credits_granted", 1000),
        ("debit", "credits_applied", 100),
        ("debit", "credits_expired", 1000),
    ]
    assert plan.summary() == [("usd", 0, 0)]
    assert summary(catalog.api, plan.cid, type="credit_grant", credit_grant=keeps["id"]) == [("usd", 0, 0)]


def test_no_credits_for_licensed_lines_other_currencies_or_future_grants(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN a seat-only subscription and usage on tokens, a EUR grant, and a grant effective after
    # the period's end
    plan = Plan(catalog, seats=True)
    eur = {"type": "monetary", "monetary": {"currency": "eur", "value": 5000}}
    ok(
        catalog.api.post(
            GRANTS,
            {
                "customer": plan.cid,
                "amount": eur,
                "applicability_config": {"scope": {"price_type": "metered"}},
            },
        )
    )
    plan.grant(5000, effective_at=APR_10 + 1)
    clock.at(MAR_20)
    plan.use(1_500)  # 60 cents
    inv = plan.finalize(plan.draft(functions, clock))
    # THEN nothing is credited: 60 + 1,000 due
    assert money(inv) == ("open", 1060, 1060, 1060) and inv["total_pretax_credit_amounts"] == []


def test_scope_prices_covers_only_the_listed_prices(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    plan = Plan(catalog, prices=2)
    plan.grant(5000, applicability_config={"scope": {"prices": [{"id": plan.prices[1]["id"]}]}})
    clock.at(MAR_20)
    plan.use(15_000, price=0)
    plan.use(10_000, price=1)
    inv = plan.finalize(plan.draft(functions, clock))
    assert credits_of(inv) == [(plan.prices[1]["id"], 400)] and money(inv) == ("open", 1000, 600, 600)


# -- void ----------------------------------------------------------------------------------------
def test_voiding_reinstates_the_credits_the_invoice_consumed(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN 600 of tokens credited on an invoice that stays open (its 1,000 seat is due)
    plan = Plan(catalog, seats=True)
    plan.grant(1000)
    clock.at(MAR_20)
    plan.use(15_000)
    inv = plan.finalize(plan.draft(functions, clock))
    assert plan.summary() == [("usd", 400, 400)]
    # WHEN it is voided THEN the 600 comes back with Stripe's credits_application_invoice_voided
    voided = ok(catalog.api.post(f"/v1/invoices/{inv['id']}/void"))
    assert voided["status"] == "void" and credits_of(voided) == credits_of(inv)
    assert plan.summary() == [("usd", 1000, 1000)]
    assert plan.ledger() == [
        ("credit", "credits_granted", 1000),
        ("debit", "credits_applied", 600),
        ("credit", "credits_application_invoice_voided", 600),
    ]
    page = ok(catalog.api.get("/v1/billing/credit_balance_transactions", {"customer": plan.cid}))
    back = page["data"][0]
    assert stripe_shapes.problems(back) == []
    line = next(ln["id"] for ln in inv["lines"]["data"] if ln["pretax_credit_amounts"])
    assert back["credit"]["credits_application_invoice_voided"] == {
        "invoice": inv["id"],
        "invoice_line_item": line,
    }


def test_credits_reinstated_into_an_expired_grant_expire_at_once(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN a grant expiring Apr 20, 600 of it applied on Apr 10, expired on Apr 20 (400 expired)
    plan = Plan(catalog, seats=True)
    plan.grant(1000, expires_at=ts(2025, 4, 20))
    clock.at(MAR_20)
    plan.use(15_000)
    inv = plan.finalize(plan.draft(functions, clock))
    clock.at(ts(2025, 4, 21))
    assert plan.summary() == [("usd", 0, 0)] or plan.summary() == []
    # WHEN the invoice is voided on Apr 21
    ok(catalog.api.post(f"/v1/invoices/{inv['id']}/void"))
    # THEN the 600 comes back and expires at once: the balance stays 0
    assert plan.ledger() == [
        ("credit", "credits_granted", 1000),
        ("debit", "credits_applied", 600),
        ("debit", "credits_expired", 400),
        ("credit", "credits_application_invoice_voided", 600),
        ("debit", "credits_expired", 600),
    ]
    assert plan.summary() in ([("usd", 0, 0)], [])


def test_an_acacia_app_reads_the_credits_too(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN an invoice that took 600 of credits
    plan = Plan(catalog, seats=True)
    plan.grant(1000)
    clock.at(MAR_20)
    plan.use(15_000)
    inv = plan.finalize(plan.draft(functions, clock))
    # WHEN an app pinned to 2025-02-24.acacia (pretax credit amounts exist since 2024-10-28.acacia)
    # reads it THEN the same credits, total and lines' amounts (before credits) are there
    old = ok(catalog.api.get(f"/v1/invoices/{inv['id']}", headers={"Stripe-Version": "2025-02-24.acacia"}))
    assert old["total_pretax_credit_amounts"] == inv["total_pretax_credit_amounts"]
    assert (old["total"], old["subtotal"], old["amount_due"]) == (1000, 1600, 1000)
    metered_line = next(ln for ln in old["lines"]["data"] if ln["pretax_credit_amounts"])
    assert metered_line["amount"] == metered_line["amount_excluding_tax"] == 600
    assert [c["amount"] for c in metered_line["pretax_credit_amounts"]] == [600]


def test_a_backdated_creation_invoice_takes_credits_for_its_usage(catalog: Catalog, clock: Clock) -> None:
    # GIVEN on Mar 20 a customer with a 10.00 grant and 15,000 tokens used on Mar 12
    clock.at(MAR_20)
    customer = catalog.customer()
    meter = catalog.meter()
    tokens = catalog.metered(
        "Tokens", meter, unit_amount=4, transform_quantity={"divide_by": 100, "round": "up"}
    )
    grant(catalog.api, customer["id"], 1000)
    catalog.usage(meter, customer, 15_000, ts(2025, 3, 12))
    # WHEN it subscribes backdated to Mar 10: the creation invoice closes [Mar 10, Mar 20)
    sub = catalog.subscribe(customer, {"price": tokens["id"]}, backdate_start_date=MAR_10)
    (first,) = ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"]}))["data"]
    # THEN its 600 of usage is paid by credits, in the creation's one transaction
    assert first["billing_reason"] == "subscription_create"
    assert money(first) == ("paid", 600, 0, 0) and credits_of(first) == [(tokens["id"], 600)]
    assert summary(catalog.api, customer["id"]) == [("usd", 400, 400)]
