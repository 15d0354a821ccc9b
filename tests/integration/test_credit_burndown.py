"""Real-time credit burndown (issue 13 point 4, beyond Stripe): `available_balance` in the credit
balance summary falls as rated usage arrives, and the invoice consumes exactly what it showed.

Calendar as tests/integration/test_credit_application.py: subscriptions from MAR_10, the first
period [Mar 10, Apr 10), its draft at APR_10, finalized an hour later. Tokens: 0.04 USD per 100,
rounded up (seed 002).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import support
import time_machine
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_credit_application import APR_10, HOUR, MAR_10, MAR_20, Plan, credits_of, money
from test_credit_grants import summary
from test_subscriptions_preview import Catalog, Clock, ok, ts

from tally.billing import credit_balances, cycles, lifecycle
from tally.billing.credit_balances import Filter
from tally.clock import Clock as TallyClock
from tally.store import usage

METERED = Filter(price_type="metered")


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(dt.datetime(2025, 3, 10, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def catalog(api: support.Api) -> Catalog:
    return Catalog(api)


def test_the_available_balance_falls_as_usage_arrives_and_the_invoice_agrees(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN a 10.00 promotional grant on Alpaca AI tokens
    plan = Plan(catalog)
    plan.grant(1000, category="promotional")
    assert plan.summary() == [("usd", 1000, 1000)]
    # WHEN 1,500 tokens arrive THEN the available balance falls by 60 at once; the ledger stays
    clock.at(MAR_20)
    plan.use(1_500)
    assert plan.summary() == [("usd", 940, 1000)]
    # WHEN 13,500 more arrive (15,000: 600) THEN 4.00 is available
    plan.use(13_500)
    assert plan.summary() == [("usd", 400, 1000)]
    # WHEN the period closes (a draft in its grace period) THEN still 4.00
    draft = plan.draft(functions, clock)
    assert plan.summary() == [("usd", 400, 1000)]
    # AND usage of the new period burns from what is left (100 tokens: 4)
    clock.at(APR_10 + 60)
    plan.use(100)
    assert plan.summary() == [("usd", 396, 1000)]
    # WHEN the draft finalizes THEN it takes exactly the 600 shown, and the ledger agrees
    clock.at(APR_10 + HOUR)
    inv = plan.finalize(draft)
    assert credits_of(inv) == [(plan.prices[0]["id"], 600)] and money(inv) == ("paid", 600, 0, 0)
    assert plan.summary() == [("usd", 396, 400)]


def test_late_usage_in_the_grace_period_is_burned_too(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    plan = Plan(catalog)
    plan.grant(1000)
    clock.at(MAR_20)
    plan.use(5_000)  # 200
    draft = plan.draft(functions, clock)
    # WHEN 2,500 tokens stamped Mar 20 arrive during the grace period (the draft re-rates them: 300)
    clock.at(APR_10 + 600)
    plan.use(2_500, at=MAR_20 + 60)
    assert plan.summary() == [("usd", 700, 1000)]
    inv = plan.finalize(draft)
    assert credits_of(inv) == [(plan.prices[0]["id"], 300)]
    assert plan.summary() == [("usd", 700, 700)]


def test_the_first_invoice_to_finalize_takes_first_across_subscriptions(
    catalog: Catalog, clock: Clock, functions: support.Functions
) -> None:
    # GIVEN a 5.00 grant, a draft of 600 in its grace period and an open period of 400 so far
    plan = Plan(catalog)
    plan.grant(500)
    clock.at(MAR_20)
    plan.use(15_000)
    draft = plan.draft(functions, clock)
    clock.at(APR_10 + 120)
    plan.use(10_000)
    # THEN the draft takes all 500, the open period nothing more: 0 available
    assert plan.summary() == [("usd", 0, 500)]
    # AND by grant: the summary filtered to it agrees
    (g,) = ok(catalog.api.get("/v1/billing/credit_grants", {"customer": plan.cid}))["data"]
    assert summary(catalog.api, plan.cid, type="credit_grant", credit_grant=g["id"]) == [("usd", 0, 500)]
    clock.at(APR_10 + HOUR)
    assert money(plan.finalize(draft)) == ("open", 600, 100, 100)
    assert plan.summary() == [("usd", 0, 0)]


def test_a_customer_without_grants_reads_no_usage(catalog: Catalog, clock: Clock) -> None:
    # GIVEN usage but no grant THEN the summary is empty and reads no usage bucket at all
    plan = Plan(catalog)
    clock.at(MAR_20)
    plan.use(1_500)
    before = usage.STATS.requests
    assert plan.summary() == []
    assert usage.STATS.requests == before


# -- the property: the available balance before finalization is what the invoice takes ------------
_names = itertools.count()

prices_st = st.lists(
    st.one_of(
        st.builds(lambda a: {"unit_amount": a}, st.integers(1, 9)),
        st.builds(
            lambda a, d: {"unit_amount": a, "transform_quantity": {"divide_by": d, "round": "up"}},
            st.integers(1, 9),
            st.sampled_from([10, 100]),
        ),
        st.builds(
            lambda mode, cut, a, b, flat: {
                "billing_scheme": "tiered",
                "tiers_mode": mode,
                "tiers": [
                    {"up_to": cut, "unit_amount": a},
                    {"up_to": "inf", "unit_amount": b, "flat_amount": flat},
                ],
            },
            st.sampled_from(["graduated", "volume"]),
            st.integers(1, 500),
            st.integers(1, 5),
            st.integers(0, 3),
            st.integers(0, 300),
        ),
    ),
    min_size=1,
    max_size=3,
)
grants_st = st.lists(
    st.fixed_dictionaries(
        {
            "value": st.integers(1, 3000),
            "category": st.sampled_from(["paid", "promotional"]),
            "priority": st.sampled_from([0, 50, 100]),
            # never, after the finalization, or inside the grace period (eligible, yet gone by then)
            "expires": st.sampled_from([None, APR_10 + 2 * HOUR, ts(2025, 6, 1), APR_10 + 1800]),
            "scope": st.sampled_from(["metered", "first_price"]),
        }
    ),
    min_size=1,
    max_size=4,
)
events_st = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 4000), st.integers(MAR_10, APR_10 - 1)),
    min_size=0,
    max_size=8,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(prices=prices_st, grants=grants_st, events=events_st)
def test_available_before_finalization_is_ledger_minus_what_the_invoice_takes(
    catalog: Catalog,
    clock: Clock,
    account: support.Account,
    prices: list[dict[str, Any]],
    grants: list[dict[str, Any]],
    events: list[tuple[int, int, int]],
) -> None:
    # GIVEN random prices (per unit, transformed, graduated/volume tiers), grants and events
    clock.at(MAR_10)
    n = next(_names)
    customer = catalog.customer()
    meters = [catalog.meter(f"prop_{n}_{i}") for i in range(len(prices))]
    made = [catalog.metered(f"P{i}", m, **p) for i, (m, p) in enumerate(zip(meters, prices, strict=True))]
    sub = catalog.subscribe(customer, *({"price": p["id"]} for p in made))
    for g in grants:
        scope = {"price_type": "metered"} if g["scope"] == "metered" else {"prices": [{"id": made[0]["id"]}]}
        fields: dict[str, Any] = {"category": g["category"], "priority": g["priority"]}
        if g["expires"] is not None:
            fields["expires_at"] = g["expires"]
        body = {
            "customer": customer["id"],
            "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": g["value"]}},
            "applicability_config": {"scope": scope},
            **fields,
        }
        ok(catalog.api.post("/v1/billing/credit_grants", body))
    clock.at(APR_10 - 1)
    for which, value, at in events:
        catalog.usage(meters[which % len(meters)], customer, value, at)
    # WHEN the period is drafted, and read just before it finalizes
    cycles.bill_period(account.id, sub["id"], APR_10, TallyClock(APR_10))
    (draft,) = ok(catalog.api.get("/v1/invoices", {"subscription": sub["id"], "status": "draft"}))["data"]
    before = credit_balances.summary(account.id, customer["id"], METERED, TallyClock(APR_10 + HOUR - 1))
    inv = lifecycle.finalize(account.id, draft["id"], TallyClock(APR_10 + HOUR))
    after = credit_balances.summary(account.id, customer["id"], METERED, TallyClock(APR_10 + HOUR))
    # THEN available just before = ledger just before − what the invoice took = the ledger after
    # (a grant expiring inside the grace period has left the ledger already, at its expiry)
    ledger_before = before.ledger.get("usd", 0)
    event("credits applied" if inv.credited else "no credits applied")
    assert before.available.get("usd", 0) == ledger_before - inv.credited
    assert after.ledger.get("usd", 0) == ledger_before - inv.credited
    assert after.available.get("usd", 0) == after.ledger.get("usd", 0)  # nothing used since
    assert inv.credited <= sum(ln.amount for ln in inv.lines)


# -- what burndown costs --------------------------------------------------------------------------
def _requests_of(monkeypatch: pytest.MonkeyPatch, read: Any) -> dict[str, int]:
    from collections import Counter

    from botocore.client import BaseClient

    seen: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(client: Any, operation: str, params: Any) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            seen[operation] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    try:
        read()
    finally:
        monkeypatch.setattr(BaseClient, "_make_api_call", original)
    return dict(seen)


def test_what_a_summary_read_costs(
    catalog: Catalog,
    clock: Clock,
    account: support.Account,
    functions: support.Functions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tally.billing import burndown

    def cost_at(instant: int) -> int:
        at = TallyClock(instant)
        credit_balances.summary(account.id, plan.cid, METERED, at)  # warm: the account's grace setting
        cost = _requests_of(monkeypatch, lambda: credit_balances.summary(account.id, plan.cid, METERED, at))
        with monkeypatch.context() as m:  # the same read without the burndown's forecast
            m.setattr(burndown, "forecasts", lambda *a, **k: [])
            bare = _requests_of(
                monkeypatch, lambda: credit_balances.summary(account.id, plan.cid, METERED, at)
            )
        assert bare == {"GetItem": 4, "BatchGetItem": 3}  # the grants' own summary
        return sum(cost.values()) - sum(bare.values())

    # GIVEN a customer with a grant and one token subscription (one metered price), usage on Mar 20
    plan = Plan(catalog)
    plan.grant(100_000)
    clock.at(MAR_20)
    plan.use(1_500)
    # THEN burndown adds 7 requests: 2 Queries (the customer's drafts, its subscriptions), then for
    # the open period what a preview reads — the customer (GetItem), the price (BatchGetItem), its
    # product and its meter (ONE BatchGetItem since 2026-12-06: they were 2 GetItems) and the usage
    # (1 Query of its hour buckets; never events) — and the customer's running figure of the meter
    # (GetItem, branch `alerts`: absent here, read once per summary; where registered it answers
    # the usage instead of the buckets)
    assert cost_at(MAR_20 + 60) == 7
    # WHEN the period's draft waits in its grace period THEN 13: the draft re-rated as finalization
    # will (price, meter, product, usage, billed periods) beside the new open period (one fewer
    # since the open period's product and meter are one read)
    draft = plan.draft(functions, clock)
    assert cost_at(APR_10 + 60) == 13
    # WHEN it is finalized THEN 9: the open period, and the re-check of the finalized one (true-ups)
    clock.at(APR_10 + HOUR)
    plan.finalize(draft)
    assert cost_at(APR_10 + 2 * HOUR) == 9
