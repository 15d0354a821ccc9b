"""Pure rules of billing credits (`tally.domain.credits`): ledger ids, what counts as unused, what
a grant contributes to the ledger balance at an instant, scopes."""

from __future__ import annotations

import re

import pytest

from tally.domain.credits import (
    APPLIED,
    EXPIRED,
    GRANTED,
    CreditGrant,
    GrantBalance,
    Scope,
    ledger_id,
    side_of,
    unused,
)
from tally.ids import new_id

T = 1_700_000_000


def _grant(**over: object) -> CreditGrant:
    fields: dict[str, object] = {
        "id": "credgr_a",
        "created": T,
        "updated": T,
        "livemode": False,
        "customer": "cus_a",
        "currency": "usd",
        "amount": 1000,
        "effective_at": T,
        **over,
    }
    return CreditGrant(**fields)  # type: ignore[arg-type]


def test_ledger_ids_are_derived_and_never_look_like_customer_balance_ids() -> None:
    a = ledger_id("credgr_a", GRANTED)
    assert a == ledger_id("credgr_a", GRANTED)  # the same entry, the same id
    others = {
        ledger_id("credgr_a", EXPIRED),
        ledger_id("credgr_b", GRANTED),
        ledger_id("credgr_a", APPLIED, "in_1"),
    }
    assert a not in others and len(others) == 3
    assert ledger_id("credgr_a", APPLIED, "in_1", "il_2") != ledger_id("credgr_a", APPLIED, "in_1il_2")
    assert re.fullmatch(r"cbtxn_61[0-9A-Za-z]{24}", a)
    customer_balance = new_id("cbtxn")  # tally.billing.balances' ids: 24 characters after cbtxn_
    assert len(customer_balance) == len("cbtxn_") + 24 != len(a)


def test_sides() -> None:
    assert side_of(GRANTED) == "credit" and side_of(APPLIED) == "debit" and side_of(EXPIRED) == "debit"


def test_the_ledger_balance_counts_effective_live_grants_at_an_instant() -> None:
    pending = GrantBalance(_grant(effective_at=T + 10), 1000)
    assert pending.ledger(T + 9) == 0 and pending.ledger(T + 10) == 1000
    expiring = GrantBalance(_grant(expires_at=T + 100), 400)
    assert expiring.ledger(T + 99) == 400 and expiring.ledger(T + 100) == 0
    assert expiring.expiring(T + 99) == 0 and expiring.expiring(T + 100) == 400
    voided = GrantBalance(_grant(voided_at=T + 1), 1000)
    assert voided.ledger(T + 2) == 0 and voided.expiring(T + 2) == 0


def test_unused_is_pending_or_with_credits_left() -> None:
    now = T + 5
    grants = [
        GrantBalance(_grant(), 1000),  # effective, credits left: unused
        GrantBalance(_grant(), 0),  # depleted: used
        GrantBalance(_grant(effective_at=T + 50), 1000),  # pending: unused
        GrantBalance(_grant(voided_at=T + 1), 1000),  # voided
        GrantBalance(_grant(expires_at=T + 5), 1000),  # expired at now
    ]
    assert unused(grants, now) == 2


def test_scopes_cover_metered_lines_only() -> None:
    assert Scope().covers("price_a", metered=True) and not Scope().covers("price_a", metered=False)
    listed = Scope(price_type=None, prices=("price_a",))
    assert listed.covers("price_a", metered=True) and not listed.covers("price_b", metered=True)


def test_a_grant_on_a_test_clock_or_recorded_is_not_in_the_due_index() -> None:
    assert _grant(expires_at=T + 100).due_at == T + 100
    assert _grant(expires_at=T + 100, test_clock="clock_1").due_at is None
    assert _grant(expires_at=T + 100, expiry_recorded=True).due_at is None
    assert _grant(expires_at=T + 100, voided_at=T).due_at is None
    assert _grant().due_at is None


def test_thin_credit_events_are_tallys_types_and_not_in_star() -> None:
    from tally.domain.event_types import EVENT_TYPES, TALLY_EVENT_TYPES, in_all

    for kind in (
        "v1.billing.credit_grant.created",
        "v1.billing.credit_grant.updated",
        "v1.billing.credit_balance_transaction.created",
    ):
        assert kind in TALLY_EVENT_TYPES and kind in EVENT_TYPES and not in_all(kind)
    for kind in (
        "billing.credit_grant.created",
        "billing.credit_grant.updated",
        "billing.credit_balance_transaction.created",
    ):
        assert in_all(kind)  # Stripe's snapshot types: `*` receives them


def test_the_limit_of_unused_grants_is_20_unless_the_deployment_raises_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tally.domain.credits import MAX_UNUSED_GRANTS
    from tally.settings import Settings

    monkeypatch.delenv("MAX_UNUSED_CREDIT_GRANTS", raising=False)
    assert Settings.from_env().max_unused_credit_grants == MAX_UNUSED_GRANTS == 20
    monkeypatch.setenv("MAX_UNUSED_CREDIT_GRANTS", "100")
    assert Settings.from_env().max_unused_credit_grants == 100
    for bad in ("0", "101"):
        monkeypatch.setenv("MAX_UNUSED_CREDIT_GRANTS", bad)
        with pytest.raises(ValueError):
            Settings.from_env()
