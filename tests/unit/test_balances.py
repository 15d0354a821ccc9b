"""The customer balance met by an invoice (`tally.domain.balances`), hand-computed, and when an
ended subscription's last true-up falls due (`Subscription.final_true_up_at`). Pure: no AWS."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tally.domain import balances, true_ups
from tally.domain.records import FINAL_TRUE_UP_AFTER, Subscription, SubscriptionItem
from tally.errors import InvalidRequest


@pytest.mark.parametrize(
    ("total", "balance", "due", "ending", "amount"),
    [
        (3000, 0, 3000, 0, 0),  # no balance: nothing moves
        (-2000, 0, 0, -2000, -2000),  # a negative total becomes credit
        (300, -500, 0, -200, 300),  # credit covers it all, 200 left
        (800, -500, 300, 0, 500),  # credit covers part
        (300, 200, 500, 0, -200),  # a debit is added to what is due
        (-2000, 500, 0, -1500, -2000),  # a negative total settles the debit, the rest is credit
        (-374, -900, 0, -1274, -374),  # credit grows
        (0, -100, 0, -100, 0),  # nothing to pay, the credit stays
    ],
)
def test_the_balance_meets_the_total(total: int, balance: int, due: int, ending: int, amount: int) -> None:
    got = balances.apply(total, balance)
    assert (got.starting_balance, got.amount_due, got.ending_balance, got.amount) == (
        balance,
        due,
        ending,
        amount,
    )


def test_credit_grants_apply_before_the_balance() -> None:
    # 1,000 total, 400 covered by credit grants (the seam), then 500 customer credit: 100 due
    got = balances.apply(1000, -500, credits=400)
    assert (got.amount_due, got.ending_balance, got.amount) == (100, 0, 500)
    with pytest.raises(ValueError):
        balances.apply(100, 0, credits=101)


def test_a_balance_beyond_the_wire_limit_is_a_400() -> None:
    with pytest.raises(InvalidRequest):
        balances.adjusted(-999_999_999_999_999, -1)
    assert balances.adjusted(-999_999_999_999_998, -1) == -999_999_999_999_999


def _sub(**fields: object) -> Subscription:
    base = Subscription("sub_1", "cus_1", 0, False, "usd", "month", 1, 0, (SubscriptionItem("si_1", "p", 0),))
    return replace(base, **fields)  # type: ignore[arg-type]


def test_an_ended_subscription_is_due_for_its_last_true_up_when_its_periods_settle() -> None:
    assert FINAL_TRUE_UP_AFTER == true_ups.SETTLES_AFTER == 36 * 86_400
    ended = _sub(status="canceled", ended_at=1_000)
    assert ended.final_true_up_at == ended.due_at == ended.wakes_at == 1_000 + 36 * 86_400
    assert replace(ended, final_true_up_done=True).due_at is None
    assert replace(ended, test_clock="clock_1").due_at is None  # its clock's advance runs it
    assert replace(ended, test_clock="clock_1").final_true_up_at == 1_000 + 36 * 86_400
    assert _sub().final_true_up_at is None  # running
