"""Pending invoice items swept onto exactly one invoice (`tally.billing.pending_items`): into the
customer's next subscription invoice at the period close (`cycles.bill_period`) and into a one-off
invoice created with `include` — whatever crashes or races happen around the sweep.

The crash points of a sweep (module doc of `pending_items`), each injected below:
1. before / inside the transaction that writes the invoice with its items (the close's, or the
   one-off create's): nothing written → the items are still pending; the retry sweeps them once;
2. after it (the close's SQS message redelivered): the period is billed → nothing more happens;
3. between the sweep's read of an item and the commit, the item is changed, deleted, or taken by
   another invoice: its version check cancels the transaction; the retry re-reads.

The plan is test_billing_cycles's (seed 002): the June draft bills 1,201 tokens at 4 cents per 100
rounded up = 13 × 4 = 52, plus 3 seats × 1,000 = 3,000: 3,052. Items: a 15.00 setup fee (1,500)
and a 3.00 credit (−300), so the June draft is 3,052 + 1,500 − 300 = 4,252.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import support
from test_billing_cycles import JULY, JUNE, START, Plan, _drain, _plan

from tally.billing import cycles, invoice_items, lifecycle, one_off_invoices, pending_items
from tally.billing.invoice_items import Charge
from tally.billing.one_off_invoices import OneOff
from tally.clock import Clock
from tally.domain.listing import Window
from tally.domain.records import Customer, Invoice, InvoiceItem
from tally.errors import Conflict
from tally.store import objects, transactions

pytestmark = pytest.mark.usefixtures("moto_tables")

AT = Clock.at(START + 86_400)


@pytest.fixture
def plan(functions: support.Functions) -> Iterator[Plan]:
    _drain()
    yield _plan()


def _item(plan: Plan, amount: int, customer: str | None = None, currency: str = "usd") -> InvoiceItem:
    return invoice_items.create(plan.account, customer or plan.customer, Charge(amount, currency), AT)


def _get(plan: Plan, item: InvoiceItem) -> InvoiceItem:
    return objects.get(plan.account, item.id, InvoiceItem, Clock.at(JULY))


def _close(plan: Plan, end: int = JUNE) -> Invoice:
    billed = cycles.bill_period(plan.account, plan.subscription, end, Clock.at(end + 60))
    assert billed.outcome == "billed" and billed.invoice is not None
    return billed.invoice


def _on(inv: Invoice) -> list[str]:
    return [ln.invoice_item for ln in inv.lines if ln.invoice_item is not None]


def _everywhere(plan: Plan, item_id: str) -> list[str]:
    """The invoices (of every kind) whose lines name `item_id`."""
    found = []
    for inv in objects_of(plan):
        found += [inv.id for ln in inv.lines if ln.invoice_item == item_id]
    return found


def objects_of(plan: Plan) -> list[Invoice]:
    from tally.billing import invoices

    return invoices.list_(plan.account, Window(limit=100), Clock.at(JULY), customer=plan.customer).data


def test_the_close_sweeps_pending_items_into_the_period_invoice(plan):
    # GIVEN two pending items of the subscription's customer
    fee, credit = _item(plan, 1500), _item(plan, -300)
    # WHEN the period closes
    inv = _close(plan)
    # THEN the June draft carries them: 3,052 + 1,500 − 300 = 4,252, and they name it
    assert _on(inv) == [fee.id, credit.id]
    assert (inv.subtotal, inv.total, inv.amount_due) == (4252, 4252, 4252)
    assert _get(plan, fee).invoice == _get(plan, credit).invoice == inv.id
    # AND finalizing keeps the item lines (the metered line is re-rated; no late usage: 4,252)
    opened = lifecycle.finalize(plan.account, inv.id, Clock.at(JUNE + 120))
    assert (opened.status, opened.total) == ("open", 4252)
    # AND an item created after the close waits for July's invoice
    late = _item(plan, 700)
    assert _get(plan, late).pending


def test_a_crash_in_the_close_leaves_the_items_pending_and_the_retry_sweeps_them_once(plan):
    # GIVEN a pending item WHEN the close's one transaction crashes (crash point 1)
    fee = _item(plan, 1500)
    with support.TransactionCrash(at=1) as crash, pytest.raises(support.InjectedCrash):
        cycles.bill_period(plan.account, plan.subscription, JUNE, Clock.at(JUNE + 60))
    assert crash.calls == 1
    # THEN nothing was written: the item is pending, no invoice exists
    assert _get(plan, fee).pending and _everywhere(plan, fee.id) == []
    # WHEN the message is redelivered (twice: the second finds the period billed, crash point 2)
    inv = _close(plan)
    again = cycles.bill_period(plan.account, plan.subscription, JUNE, Clock.at(JUNE + 90))
    # THEN the item is on that one invoice, once
    assert again.outcome == "already_billed"
    assert _on(inv) == [fee.id] and _everywhere(plan, fee.id) == [inv.id]
    assert _get(plan, fee).invoice == inv.id


def _racing(monkeypatch: pytest.MonkeyPatch, act) -> list[int]:
    """Run `act` once, right after the sweep read the pending items (crash point 3)."""
    real = pending_items.pending
    done: list[int] = []

    def read_then_race(*args, **kwargs):
        found = real(*args, **kwargs)
        if not done:
            done.append(1)
            act()
        return found

    monkeypatch.setattr(pending_items, "pending", read_then_race)
    return done


def test_an_item_changed_during_the_close_is_swept_as_changed(plan, monkeypatch):
    # GIVEN a pending item, raised from 1,500 to 1,800 just after the close read it
    fee = _item(plan, 1500)
    _racing(monkeypatch, lambda: invoice_items.update(plan.account, fee.id, AT, charge=Charge(1800)))
    # WHEN the period closes THEN the version check made it re-read: the line is 1,800, once
    inv = _close(plan)
    assert _on(inv) == [fee.id]
    assert [ln.amount for ln in inv.lines if ln.invoice_item] == [1800]
    assert inv.total == 3052 + 1800


def test_an_item_deleted_during_the_close_is_not_billed(plan, monkeypatch):
    fee = _item(plan, 1500)
    _racing(monkeypatch, lambda: invoice_items.delete(plan.account, fee.id, AT))
    inv = _close(plan)
    assert _on(inv) == [] and inv.total == 3052


def test_an_item_taken_by_a_one_off_invoice_during_the_close_is_on_that_one_only(plan, monkeypatch):
    # GIVEN a pending item that a one-off invoice (include) takes just after the close read it
    fee = _item(plan, 1500)
    made: list[Invoice] = []
    ask = OneOff(plan.customer, pending_invoice_items_behavior="include")
    _racing(monkeypatch, lambda: made.append(one_off_invoices.create(plan.account, ask, AT)))
    # WHEN the period closes
    inv = _close(plan)
    # THEN the item is on the one-off invoice only, and the June draft is the plan's 3,052
    assert _on(made[0]) == [fee.id] and made[0].total == 1500
    assert _on(inv) == [] and inv.total == 3052
    assert _everywhere(plan, fee.id) == [made[0].id]


def test_a_crash_creating_a_one_off_invoice_leaves_the_items_pending(plan):
    fee, credit = _item(plan, 1500), _item(plan, -300)
    ask = OneOff(plan.customer, pending_invoice_items_behavior="include")
    with support.TransactionCrash(at=1), pytest.raises(support.InjectedCrash):
        one_off_invoices.create(plan.account, ask, AT)
    assert _get(plan, fee).pending and _get(plan, credit).pending
    inv = one_off_invoices.create(plan.account, ask, AT)
    assert _on(inv) == [fee.id, credit.id] and inv.total == 1200
    # a second one-off invoice (a retry without the Idempotency-Key) finds nothing left to take
    second = one_off_invoices.create(plan.account, ask, AT)
    assert _on(second) == [] and second.total == 0


def test_a_conflict_on_every_attempt_fails_without_writing(plan, monkeypatch):
    # GIVEN an item changed after every read: the close gives up (Conflict: SQS retries later)
    fee = _item(plan, 1500)
    real = pending_items.pending
    bumps = iter(range(1, 100))

    def always_racing(*args, **kwargs):
        found = real(*args, **kwargs)
        invoice_items.update(plan.account, fee.id, AT, metadata={"n": str(next(bumps))})
        return found

    monkeypatch.setattr(pending_items, "pending", always_racing)
    with pytest.raises(Conflict):
        cycles.bill_period(plan.account, plan.subscription, JUNE, Clock.at(JUNE + 60))
    assert _get(plan, fee).pending and _everywhere(plan, fee.id) == []


def test_the_sweep_takes_at_most_the_limit_and_the_rest_go_to_the_next_invoice(plan):
    # GIVEN more pending items than one invoice takes (each 100)
    count = pending_items.SWEEP_LIMIT + 3
    made = [_item(plan, 100) for _ in range(count)]
    # WHEN June and July close
    june = _close(plan)
    july = _close(plan, JULY)
    # THEN June took the oldest SWEEP_LIMIT, July the rest: each item on exactly one invoice
    assert _on(june) == [i.id for i in made[: pending_items.SWEEP_LIMIT]]
    assert _on(july) == [i.id for i in made[pending_items.SWEEP_LIMIT :]]
    assert june.total == 3052 + 100 * pending_items.SWEEP_LIMIT
    assert all(len(_everywhere(plan, i.id)) == 1 for i in made)


def test_the_sweep_fits_the_transaction_limit(plan, monkeypatch):
    # GIVEN the limit's worth of pending items, and the close's commit measured
    for _ in range(pending_items.SWEEP_LIMIT):
        _item(plan, 100)
    used: list[int] = []
    real = transactions.commit

    def measured(account, writes, clock, aux=()):
        used.append(sum(transactions.actions(w) for w in writes) + len(aux))
        return real(account, writes, clock, aux)

    monkeypatch.setattr(transactions, "commit", measured)
    inv = _close(plan)
    # THEN they all went in one transaction within DynamoDB's 100 actions, 3 per item
    assert len(_on(inv)) == pending_items.SWEEP_LIMIT
    assert used == [72]  # 12 for the invoice and the advanced subscription + 20 items × 3
    stored = objects.load(plan.account, _on(inv)[0], InvoiceItem, Clock.at(JULY))
    assert transactions.actions(pending_items.attached(stored, "in_x")) == 3


def test_items_in_another_currency_stay_pending(plan):
    # GIVEN a customer without a currency yet, with a eur item and a usd item pending
    customer = objects.get(plan.account, plan.customer, Customer, AT)
    from tally.billing import customers

    fresh = customers.create(plan.account, {"name": "Two currencies"}, None, AT)
    assert customer.currency == "usd" and fresh.currency is None
    eur, usd = _item(plan, 900, fresh.id, "eur"), _item(plan, 400, fresh.id, "usd")
    # WHEN a usd one-off invoice includes the pending items
    ask = OneOff(fresh.id, currency="usd", pending_invoice_items_behavior="include")
    inv = one_off_invoices.create(plan.account, ask, AT)
    # THEN only the usd one is on it; the eur one waits for a eur invoice
    assert _on(inv) == [usd.id] and inv.total == 400
    assert _get(plan, eur).pending


# -- the one-off invoice in the lifecycle ----------------------------------------------------------
def test_an_auto_advance_one_off_draft_finalizes_through_the_scheduled_close(functions, plan):
    from test_billing_cycles import bill, close, queued

    # GIVEN a one-off draft with auto_advance on, holding a 1,500 item, created at AT
    _item(plan, 1500)
    ask = OneOff(plan.customer, auto_advance=True, pending_invoice_items_behavior="include")
    draft = one_off_invoices.create(plan.account, ask, AT)
    assert draft.automatically_finalizes_at == AT.now + 3600  # the default grace period
    # WHEN the schedule runs before, then after its grace period
    close(functions, AT.now + 3500)
    assert not [r for r in queued(plan.account) if draft.id in r["body"]]
    close(functions, AT.now + 3660)
    records = [r for r in queued(plan.account) if draft.id in r["body"]]
    assert bill(functions, records) == []
    # THEN it was finalized, numbered after the subscription's creation invoice (0001)
    inv = objects.get(plan.account, draft.id, Invoice, Clock.at(JULY))
    assert (inv.status, inv.number, inv.amount_due) == ("open", f"{_prefix(plan)}-0002", 1500)


def _prefix(plan: Plan) -> str:
    return objects.get(plan.account, plan.customer, Customer, AT).invoice_prefix


def test_the_customer_balance_meets_a_one_off_invoice_and_comes_back_on_void(plan):
    from tally.billing import balances

    # GIVEN a 5.00 credit on the customer's balance and a 15.00 item on a one-off draft
    balances.create(plan.account, plan.customer, AT, amount=-500, currency="usd")
    _item(plan, 1500)
    draft = one_off_invoices.create(
        plan.account, OneOff(plan.customer, pending_invoice_items_behavior="include"), AT
    )
    assert (draft.starting_balance, draft.amount_due) == (-500, 1000)
    # WHEN it is finalized THEN the credit is applied: 10.00 due, the balance 0
    opened = lifecycle.finalize(plan.account, draft.id, AT)
    assert (opened.amount_due, opened.ending_balance) == (1000, 0)
    assert objects.get(plan.account, plan.customer, Customer, AT).balance == 0
    # WHEN it is voided THEN the credit comes back; the item stays on the void invoice
    voided = lifecycle.void(plan.account, draft.id, AT)
    assert voided.status == "void"
    assert objects.get(plan.account, plan.customer, Customer, AT).balance == -500
    (item_id,) = _on(voided)
    assert objects.get(plan.account, item_id, InvoiceItem, AT).invoice == draft.id


def test_send_invoice_sets_the_due_date(plan):
    ask = OneOff(plan.customer, collection_method="send_invoice", days_until_due=14)
    inv = one_off_invoices.create(plan.account, ask, AT)
    assert (inv.collection_method, inv.due_date) == ("send_invoice", AT.now + 14 * 86_400)
    default = one_off_invoices.create(
        plan.account, OneOff(plan.customer, collection_method="send_invoice"), AT
    )
    assert default.due_date == AT.now + 30 * 86_400


def test_an_item_on_a_cycle_draft_changes_and_goes_with_its_line(plan):
    # GIVEN the June draft holding a swept 1,500 item (4,552 = 3,052 + 1,500)
    fee = _item(plan, 1500)
    inv = _close(plan)
    assert inv.total == 4552
    # WHEN the item is raised to 2,000 during the grace period THEN the draft's line follows: 5,052
    invoice_items.update(plan.account, fee.id, AT, charge=Charge(2000))
    assert objects.get(plan.account, inv.id, Invoice, AT).total == 5052
    # WHEN it is deleted THEN the line goes and the draft is the plan's 3,052 again
    invoice_items.delete(plan.account, fee.id, AT)
    after = objects.get(plan.account, inv.id, Invoice, AT)
    assert (_on(after), after.total) == ([], 3052)
