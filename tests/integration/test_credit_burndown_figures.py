"""Issue 15 point 3 (branch `alerts`): credit burndown reads the same running usage figure as usage
alerts. The burndown scenarios and property of test_credit_burndown.py again, on meters whose
figures are kept (`usage_figures.keep` at the meter's creation; `SETTLE` = 0: read at once), and
what a summary then reads of the usage. (Here the figure is registered by burndown's own first
read; a figure alerts registered is the same item.)"""

from __future__ import annotations

from typing import Any

import pytest
from test_credit_application import APR_10, HOUR, MAR_10, MAR_20, Plan
from test_credit_burndown import (  # noqa: F401  (collected here again, with the figures read)
    catalog,
    clock,
    test_available_before_finalization_is_ledger_minus_what_the_invoice_takes,
    test_late_usage_in_the_grace_period_is_burned_too,
    test_the_available_balance_falls_as_usage_arrives_and_the_invoice_agrees,
    test_the_first_invoice_to_finalize_takes_first_across_subscriptions,
)
from test_subscriptions_preview import Catalog

from tally.billing import usage_figures
from tally.clock import Clock as TallyClock
from tally.domain.records import Meter
from tally.store import objects, usage


@pytest.fixture(autouse=True)
def figures_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every meter the scenarios create keeps running figures from its creation."""
    monkeypatch.setattr(usage_figures, "SETTLE", 0)
    created = Catalog.meter

    def meter(self: Catalog, event_name: str = "alpaca_ai_tokens") -> dict[str, Any]:
        made = created(self, event_name)
        account = self.api.account.id
        record = objects.get(account, made["id"], Meter, TallyClock.system())
        usage_figures.keep(account, record, TallyClock.system())
        return made

    monkeypatch.setattr(Catalog, "meter", meter)


def test_a_summary_reads_one_usage_item_per_meter_whatever_the_hours_used(
    catalog: Catalog,  # noqa: F811
    clock: Any,  # noqa: F811
) -> None:
    # GIVEN a 10.00 grant and usage in 200 distinct hours of the period (1,000 tokens: 40)
    plan = Plan(catalog)
    plan.grant(1000)
    clock.at(MAR_20)
    for h in range(200):
        plan.use(5, at=MAR_10 + h * HOUR + 7)
    # WHEN the balance is read (the first read registers the period's bounds on the figure)
    assert plan.summary() == [("usd", 960, 1000)]
    usage.STATS.reset()
    assert plan.summary() == [("usd", 960, 1000)]
    # THEN the second read took the period's usage from ONE item, the figure (not 200 hour items)
    assert usage.STATS.items_read == 1
    # AND more usage burns at once, through the same figure
    plan.use(2_500)
    usage.STATS.reset()
    assert plan.summary() == [("usd", 860, 1000)]
    assert usage.STATS.items_read == 1
    # AND after the close, the draft and the new period read their figures exactly too
    clock.at(APR_10 + 60)
    assert cycles_bill(catalog, plan, APR_10)
    plan.use(100, at=APR_10 + 30)  # 4
    assert plan.summary() == [("usd", 856, 1000)]


def cycles_bill(shop: Catalog, plan: Plan, at: int) -> bool:
    from tally.billing import cycles

    return cycles.bill_period(shop.api.account.id, plan.sub["id"], at, TallyClock(at)).outcome == "billed"


def test_the_ingest_path_s_balance_reads_the_buckets(catalog: Catalog, clock: Any) -> None:  # noqa: F811
    # GIVEN kept figures and usage in 30 hours
    plan = Plan(catalog)
    plan.grant(1000)
    clock.at(MAR_20)
    for h in range(30):
        plan.use(100, at=MAR_10 + h * HOUR)
    from tally.billing import credit_balances, credit_ledger

    account = catalog.api.account.id
    everyone = credit_ledger.grants_of(account, plan.cid, TallyClock(MAR_20))
    # WHEN the credit evaluation's balance (on the ingest path: its request counts are budgeted)
    # reads it, figures not asked for
    usage.STATS.reset()
    shown = credit_balances.available(account, plan.cid, everyone, TallyClock(MAR_20), everyone)
    # THEN the hour buckets answer, the same amount (3,000 tokens: 120)
    assert shown == {"usd": 880}
    assert usage.STATS.items_read >= 30
