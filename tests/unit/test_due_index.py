"""The due index's keys: shards spread subscriptions, sort keys order by due time, and a
subscription's due time follows its unbilled period (pure: no AWS)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace

import pytest

from tally.domain.records import Subscription, SubscriptionItem
from tally.store.due import SHARDS, due_shard
from tally.store.models import ObjectItem


def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


def _sub(created: int, anchor: int | None = None, interval: str = "month") -> Subscription:
    return Subscription(
        id="sub_1",
        customer="cus_1",
        created=created,
        livemode=False,
        currency="usd",
        interval=interval,
        interval_count=1,
        billing_cycle_anchor=created if anchor is None else anchor,
        items=(SubscriptionItem("si_1", "price_1", created, 1),),
    )


def test_a_subscription_always_lands_in_the_same_shard():
    assert due_shard("acct_1", "sub_1") == due_shard("acct_1", "sub_1")
    assert 0 <= due_shard("acct_1", "sub_1") < SHARDS


def test_shards_spread_subscriptions_renewing_at_the_same_instant():
    # GIVEN 3,200 subscriptions of 10 accounts WHEN sharded THEN every shard gets a fair share
    counts = Counter(due_shard(f"acct_{a}", f"sub_{n}") for a in range(10) for n in range(320))
    assert set(counts) == set(range(SHARDS))
    assert max(counts.values()) < 2 * 3200 / SHARDS


def test_sort_keys_order_by_due_time_then_everything_due_is_below_the_bound():
    early = ObjectItem.due_sort(999, "acct_z", "sub_z")
    late = ObjectItem.due_sort(1_000, "acct_a", "sub_a")
    assert early < late  # fixed-width due time first: string order is time order
    assert late < ObjectItem.due_sort(1_001)  # due at 1000 is found by a run at 1000
    assert not late < ObjectItem.due_sort(1_000)
    assert ObjectItem.due_key(3) == "due#03"


def test_the_due_time_is_the_end_of_the_unbilled_period_and_moves_when_billed():
    # GIVEN a monthly subscription started 31 Jan 2032 (a leap year)
    sub = _sub(_at(2032, 1, 31, 12))
    assert sub.due_at == _at(2032, 2, 29, 12)
    # WHEN its first period is billed THEN it is due at the end of March's period (31 March)
    billed = replace(sub, billed_through=sub.due_at)
    assert billed.unbilled_period == (_at(2032, 2, 29, 12), _at(2032, 3, 31, 12))
    assert billed.due_at == _at(2032, 3, 31, 12)


def test_a_later_anchor_makes_a_first_partial_period():
    sub = _sub(_at(2031, 5, 14), anchor=_at(2031, 6, 1))
    assert sub.unbilled_period == (_at(2031, 5, 14), _at(2031, 6, 1))
    assert replace(sub, billed_through=_at(2031, 6, 1)).due_at == _at(2031, 7, 1)


@pytest.mark.parametrize("status", ["canceled", "incomplete_expired"])
def test_an_ended_subscription_is_never_due(status):
    assert replace(_sub(0), status=status).due_at is None
