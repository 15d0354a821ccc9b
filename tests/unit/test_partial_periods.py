"""Partial-period rules of billing intents (`tally.domain.partial_periods`): proration to the
second, rounded once half-up, hand-computed; which fees a change prorates; each action type's
defaults; the recurring credit grant behaviour read per segment."""

from __future__ import annotations

import datetime as dt

import pytest

from tally.domain import partial_periods as pp
from tally.domain.intents import PlanSubscription, Segment


def ts(y: int, m: int, d: int = 1, h: int = 0) -> int:
    return int(dt.datetime(y, m, d, h, tzinfo=dt.UTC).timestamp())


DAY = 86_400
JAN, JAN_16, FEB = ts(2026, 1, 1), ts(2026, 1, 16), ts(2026, 2, 1)


@pytest.mark.parametrize(
    ("amount", "remaining", "whole", "expected"),
    [
        (2000, 16 * DAY, 31 * DAY, 1032),  # 1,032.258… → 1,032
        (5000, 16 * DAY, 31 * DAY, 2581),  # 2,580.645… → 2,581
        (2000, 14 * DAY, 28 * DAY, 1000),  # exactly half of February
        (3, 1, 2, 2),  # 1.5 → 2: half-up
        (-3, 1, 2, -2),  # a negative amount rounds away from zero too
        (1, 1, 31 * DAY, 0),  # one second of a cent's month
        (999, 31 * DAY, 31 * DAY, 999),  # the whole interval
        (2000, 0, 31 * DAY, 0),
        (2000, 12 * 3600 + 1, DAY, 1000),  # 1,000.023 → 1,000: to the second
    ],
)
def test_prorate_is_seconds_exact_and_rounds_once_half_up(amount, remaining, whole, expected):
    assert pp.prorate(amount, remaining, whole) == expected


def test_interval_around_finds_the_interval_a_change_falls_strictly_inside():
    i = pp.interval_around(JAN, "month", 1, JAN_16)
    assert i is not None and (i.start, i.end) == (JAN, FEB)
    assert pp.interval_around(JAN, "month", 1, FEB) is None  # a boundary: nothing partial
    assert pp.interval_around(JAN, "month", 1, JAN) is None
    q = pp.interval_around(JAN, "month", 3, ts(2026, 2, 15))  # quarterly from January 1
    assert q is not None and (q.start, q.end) == (JAN, ts(2026, 4, 1))


def _fee(fee: str, version: str, quantity: int, amount: int, interval: str = "month") -> pp.FeeCharge:
    return pp.FeeCharge(fee, version, "bli_1", "bppv_x", interval, 1, quantity, amount, "Fee", "usd")


def test_a_change_credits_the_old_fee_and_debits_the_new_one_for_the_rest_of_the_interval():
    old, new = [_fee("licf_a", "v1", 1, 2000)], [_fee("licf_a", "v2", 1, 5000)]
    out = pp.prorations(JAN, JAN_16, old, new, "prorated", "prorated")
    assert [(p.credit, p.amount, p.span.start, p.span.end) for p in out] == [
        (True, -1032, JAN_16, FEB),
        (False, 2581, JAN_16, FEB),
    ]
    assert pp.describe(out[0]) == "Unused time on 1 × Fee after 16 Jan 2026"
    assert pp.describe(out[1]) == "Remaining time on 1 × Fee after 16 Jan 2026"


def test_behaviours_none_and_unchanged_fees_prorate_nothing():
    old, new = [_fee("licf_a", "v1", 1, 2000)], [_fee("licf_a", "v2", 1, 5000)]
    assert [p.amount for p in pp.prorations(JAN, JAN_16, old, new, "none", "prorated")] == [2581]
    assert [p.amount for p in pp.prorations(JAN, JAN_16, old, new, "prorated", "none")] == [-1032]
    assert pp.prorations(JAN, JAN_16, old, new, "none", "none") == []
    assert pp.prorations(JAN, JAN_16, old, old, "prorated", "prorated") == []  # nothing changed
    # a quantity change of the same fee version is a change: 3 seats credited, 5 debited
    three, five = [_fee("licf_a", "v1", 3, 6000)], [_fee("licf_a", "v1", 5, 10_000)]
    amounts = [p.amount for p in pp.prorations(JAN, JAN_16, three, five, "prorated", "prorated")]
    assert amounts == [-3097, 5161]  # 6,000 × 16/31 = 3,096.77; 10,000 × 16/31 = 5,161.29
    # at an interval boundary nothing is partial
    assert pp.prorations(JAN, FEB, old, new, "prorated", "prorated") == []


def test_each_action_type_has_stripes_defaults():
    assert pp.behaviors("subscribe", None, None, None) == ("none", "prorated", "full_credits")
    assert pp.behaviors("modify", None, None, None) == ("prorated", "prorated", "full_credits")
    assert pp.behaviors("deactivate", None, None, None)[0] == "none"
    assert pp.behaviors("modify", "none", None, "none") == ("none", "prorated", "none")


def test_the_grant_create_behaviour_is_the_segments_in_force():
    sub = PlanSubscription(
        id="bpps_1",
        created=JAN,
        livemode=False,
        billing_cadence="bc_1",
        customer="cus_1",
        activated_at=JAN,
        timeline=(
            Segment(JAN, "bpp_1", "bppv_1", credit_grant_create="none"),
            Segment(JAN_16, "bpp_1", "bppv_2"),
        ),
    )
    assert pp.grant_create_behavior(sub, JAN + DAY) == "none"
    assert pp.grant_create_behavior(sub, JAN_16) == "full_credits"


def test_when_shows_the_time_only_off_midnight():
    assert pp.when(JAN_16) == "16 Jan 2026"
    assert pp.when(JAN_16 + 3600 + 61) == "16 Jan 2026 01:01:01 UTC"
