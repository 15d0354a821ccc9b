"""The pure rules of a credit watch (`tally.domain.credit_watch.decide`): crossings of alerts and
rules, one top-up per shortfall, the limit per period, derived ids. Balances and amounts are
hand-computed minor units."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from tally.domain import credit_watch as rules
from tally.domain.credit_watch import TopUpRule, Watch, decide, settled
from tally.domain.records import CREDIT_BALANCE_THRESHOLD, Alert, CreditBalanceThreshold


def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


MAY_1, MAY_20, JUN_2 = _at(2031, 5, 1), _at(2031, 5, 20), _at(2031, 6, 2)
ALERT = Alert(
    "alrt_1",
    0,
    False,
    "low",
    alert_type=CREDIT_BALANCE_THRESHOLD,
    credit_balance_threshold=CreditBalanceThreshold("cus_1", "usd", 500),
)
RULE = TopUpRule("ctur_1", 0, False, "cus_1", "usd", threshold=500, amount=2000, max_per_period=1)


def _watch(rule: TopUpRule = RULE) -> Watch:
    return Watch().with_alert(ALERT).with_rule(rule)


def test_an_alert_fires_once_per_crossing_each_way():
    w = _watch()
    # 0 ≤ 500: a new alert starts above → triggered; again at 400: nothing
    d = decide(w, {"usd": 0}, MAY_1)
    assert [(c.event_type, c.value) for c in d.crossings] == [(rules.TRIGGERED, 0)]
    assert decide(d.watch, {"usd": 400}, MAY_1).crossings == ()
    # 500 is still at or below; 501 is above → recovered once
    assert decide(d.watch, {"usd": 500}, MAY_1).crossings == ()
    up = decide(d.watch, {"usd": 501}, MAY_1)
    assert [(c.event_type, c.value) for c in up.crossings] == [(rules.RECOVERED, 501)]
    assert decide(up.watch, {"usd": 900}, MAY_1).crossings == ()
    # a currency not read is not evaluated
    assert decide(w, {"eur": 0}, MAY_1).watch == w


def test_one_top_up_per_shortfall_with_derived_ids():
    d = decide(_watch(), {"usd": 120}, MAY_1)
    (t,) = d.top_ups
    assert (t.invoice, t.amount) == (rules.invoice_id("ctur_1", 1), 2000)
    assert rules.invoice_id("ctur_1", 1) == rules.invoice_id("ctur_1", 1) != rules.invoice_id("ctur_1", 2)
    assert t.invoice.startswith("in_") and len(t.invoice) == 27
    assert rules.grant_id(t.invoice).startswith("credgr_")
    # the same decision from the same state: the same ids (every concurrent evaluator agrees)
    assert decide(_watch(), {"usd": 120}, MAY_1).top_ups == d.top_ups
    # still low, or lower: the same shortfall — nothing more while in flight, nor after a void
    assert decide(d.watch, {"usd": 0}, MAY_1).top_ups == ()
    voided = settled(d.watch, t.invoice)
    assert voided.rules[0].pending is None
    assert decide(voided, {"usd": 0}, MAY_1).top_ups == ()
    # above, then low again: a new shortfall — but May's one top-up is used (max_per_period=1)
    up = decide(voided, {"usd": 2120}, MAY_20).watch
    limited = decide(up, {"usd": 300}, MAY_20)
    assert limited.top_ups == () and limited.watch.rules[0].limited
    # in June the limited shortfall, still low, gets its top-up (the rule's second)
    june = decide(limited.watch, {"usd": 250}, JUN_2)
    assert [t.invoice for t in june.top_ups] == [rules.invoice_id("ctur_1", 2)]
    assert not june.watch.rules[0].limited and june.watch.rules[0].in_window == 1
    # a limited shortfall that recovers is forgotten
    assert not decide(limited.watch, {"usd": 900}, JUN_2).watch.rules[0].limited


def test_a_target_rule_tops_up_to_its_target_and_more_per_period_are_allowed():
    rule = replace(RULE, amount=None, target_balance=5000, max_per_period=2, period=rules.DAY)
    d = decide(_watch(rule), {"usd": 300}, MAY_1)
    assert [t.amount for t in d.top_ups] == [4700]  # 5000 − 300
    paid = settled(d.watch, d.top_ups[0].invoice)
    up = decide(paid, {"usd": 5000}, MAY_1).watch
    second = decide(up, {"usd": 10}, MAY_1)
    assert [t.amount for t in second.top_ups] == [4990]
    third = decide(
        decide(settled(second.watch, second.top_ups[0].invoice), {"usd": 9000}, MAY_1).watch,
        {"usd": 0},
        MAY_1,
    )
    assert third.top_ups == ()  # two a day
    assert (
        rules.window_of(rules.DAY, MAY_1) == "2031-05-01" and rules.window_of(rules.MONTH, MAY_1) == "2031-05"
    )


def test_the_reaction_to_an_event():
    base = {"id": "evt_1", "created": 7, "data": {"object": {"customer": "cus_1"}}}
    assert rules.reaction("acct_1", {**base, "type": "invoice.paid"}) == {
        "kind": "credits",
        "account": "acct_1",
        "customer": "cus_1",
        "at": 7,
    }
    assert rules.reaction("acct_1", {**base, "type": "customer.updated"}) is None
    expired = {"credit_grant": "credgr_1", "debit": {"type": "credits_expired"}}
    entry = {**base, "type": rules.LEDGER_ENTRY, "data": {"object": expired}}
    assert rules.reaction("acct_1", entry) == {
        "kind": "credits",
        "account": "acct_1",
        "credit_grant": "credgr_1",
        "at": 7,
    }
    applied = {**entry, "data": {"object": {**expired, "debit": {"type": "credits_applied"}}}}
    assert rules.reaction("acct_1", applied) is None
