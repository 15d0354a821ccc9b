"""The invoice lifecycle: draft at the period end → finalized after the grace period (late usage
recounted, numbered per customer) → paid | void | uncollectible, through the schedule, the queue
worker and the API (`tally.billing.lifecycle`).

The plan is test_billing_cycles's: 1,201 tokens at 4 cents per 100 (rounded up) = 13 × 4 = 52,
plus 3 seats × 1,000 = 3,000 in advance: a 3,052 draft closed on 14 June 2031 09:30 UTC. The
grace period is the default hour, so it finalizes at 10:30. The subscription's creation invoice
(`subscription_create`, 3 seats × 1,000 = 3,000 for the first period, open at once) took the
customer's number 0001, so the June invoice is 0002.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import support
from test_billing_cycles import JULY, JUNE, START, Plan, _drain, _plan, bill, close, queued

from tally.billing import customers, lifecycle, meter_events, subscription_creation
from tally.billing.meter_events import EventInput
from tally.billing.subscriptions import ItemSpec
from tally.clock import Clock
from tally.domain.records import Customer, Invoice
from tally.errors import InvalidRequest
from tally.store import objects

pytestmark = pytest.mark.usefixtures("moto_tables")

GRACE_END = JUNE + 3600


@pytest.fixture
def plan(functions: support.Functions) -> Iterator[Plan]:
    _drain()
    yield _plan()


@pytest.fixture
def api_at(functions, plan, monkeypatch):
    """An API client of the plan's account whose requests run at a chosen instant."""

    def at(instant: int) -> support.Api:
        monkeypatch.setattr(Clock, "system", classmethod(lambda cls: Clock.at(instant)))
        return support.Api(functions, support.Account(plan.account, plan.key))

    return at


def _draft(functions, plan) -> Invoice:
    close(functions, JUNE + 60)
    assert bill(functions, queued(plan.account)) == []
    return _invoices(plan)[0]


def _invoices(plan: Plan) -> list[Invoice]:
    from tally.billing import invoices
    from tally.domain.listing import Window

    found = invoices.list_(plan.account, Window(limit=100), Clock.at(JULY), customer=plan.customer).data
    return [i for i in found if i.billing_reason != "subscription_create"]  # the period closes


def _invoice(plan: Plan, invoice_id: str) -> Invoice:
    return objects.get(plan.account, invoice_id, Invoice, Clock.at(JULY))


def _customer(plan: Plan, customer_id: str | None = None) -> Customer:
    return objects.get(plan.account, customer_id or plan.customer, Customer, Clock.at(JULY))


def _use(plan: Plan, value: int, timestamp: int, received: int, customer: str | None = None) -> None:
    event = EventInput(
        "alpaca_ai_tokens",
        {"stripe_customer_id": customer or plan.customer, "value": str(value)},
        timestamp=timestamp,
    )
    assert len(meter_events.accept(plan.account, {0: event}, Clock.at(received)).stored) == 1


def _error(response: support.Response, status: int, **expected: Any) -> dict[str, Any]:
    return support.assert_stripe_error(response.status, response.json, status, **expected)


def _types(plan: Plan) -> list[str]:
    return [e["type"] for e in reversed(support.stored_events(plan.account))]


# -- the full lifecycle ----------------------------------------------------------------------------
def test_full_lifecycle_with_late_usage_counted_at_finalization(functions, plan, api_at):
    # GIVEN the June draft (3,052), shown as Stripe shows a draft that finalizes automatically
    draft = _draft(functions, plan)
    shown = api_at(JUNE + 120).get(f"/v1/invoices/{draft.id}").json
    assert (shown["status"], shown["total"], shown["number"]) == ("draft", 3052, None)
    assert shown["auto_advance"] is True and shown["automatically_finalizes_at"] == GRACE_END
    # AND 250 late tokens for 13 June arrive during the grace period (1,451 in all → 15 × 4 = 60)
    _use(plan, 250, JUNE - 86400, JUNE + 1800)
    # WHEN the close runs before the grace period ends THEN nothing is sent for the invoice
    close(functions, GRACE_END - 60)
    assert queued(plan.account) == []
    # WHEN it runs after THEN the worker finalizes it: usage recounted, numbered, open
    close(functions, GRACE_END + 60)
    records = queued(plan.account)
    assert [r["body"] for r in records] and '"finalize"' in records[0]["body"]
    assert bill(functions, records) == []
    opened = api_at(GRACE_END + 120).get(f"/v1/invoices/{draft.id}").json
    prefix = _customer(plan).invoice_prefix
    assert (opened["status"], opened["number"]) == ("open", f"{prefix}-0002")
    metered = next(
        ln for ln in opened["lines"]["data"] if ln["pricing"]["price_details"]["price"] == plan.metered
    )
    assert (metered["quantity"], metered["amount"]) == (15, 60)
    assert (opened["subtotal"], opened["total"], opened["amount_due"]) == (3060, 3060, 3060)
    assert (opened["amount_paid"], opened["amount_remaining"]) == (0, 3060)
    assert opened["status_transitions"]["finalized_at"] == GRACE_END + 60
    assert opened["automatically_finalizes_at"] is None and opened["effective_at"] == GRACE_END + 60
    assert _customer(plan).next_invoice_sequence == 3
    # WHEN paid without paid_out_of_band THEN a clear 400 (Tally collects no payments), nothing changes
    api = api_at(JUNE + 86400)
    refused = api.post(f"/v1/invoices/{draft.id}/pay")
    _error(refused, 400, param="paid_out_of_band")
    assert "paid_out_of_band" in refused.json["error"]["message"]
    # WHEN paid out of band THEN paid in full at that instant
    paid = api.post(f"/v1/invoices/{draft.id}/pay", {"paid_out_of_band": "true"})
    assert paid.status == 200, paid.text
    p = paid.json
    assert (p["status"], p["amount_paid"], p["amount_remaining"]) == ("paid", 3060, 0)
    assert p["status_transitions"]["paid_at"] == JUNE + 86400
    # AND each state change has its event, in order
    types = _types(plan)
    assert types.index("invoice.created") < types.index("invoice.finalized") < types.index("invoice.paid")
    finalized = [e for e in support.stored_events(plan.account) if e["type"] == "invoice.finalized"]
    numbers = {e["data"]["object"]["id"]: e["data"]["object"]["number"] for e in finalized}
    assert numbers[draft.id] == f"{prefix}-0002"


def test_numbers_run_per_customer_across_invoices(functions, plan):
    # GIVEN a second customer on the seats price, started at the same instant
    t0 = Clock.at(START)
    other = customers.create(plan.account, {"name": "Beta"}, None, t0)
    subscription_creation.create(
        plan.account, other.id, [ItemSpec(plan.seats, "items[0][price]", quantity=1)], t0
    )
    # WHEN June and July are billed and finalized for both
    for end in (JUNE, JULY):
        close(functions, end + 60)
        assert bill(functions, queued(plan.account)) == []
        close(functions, end + 3600 + 60)
        assert bill(functions, queued(plan.account)) == []
    # THEN each customer's invoices are numbered 0001 (its creation invoice), 0002, 0003 with its
    #      own prefix
    from tally.billing import invoices
    from tally.domain.listing import Window

    def numbers(customer: str) -> list[str | None]:
        found = invoices.list_(plan.account, Window(limit=10), Clock.at(JULY), customer=customer).data
        return sorted(i.number for i in found)  # type: ignore[type-var]

    mine, theirs = _customer(plan).invoice_prefix, other.invoice_prefix
    assert numbers(plan.customer) == [f"{mine}-0001", f"{mine}-0002", f"{mine}-0003"]
    assert numbers(other.id) == [f"{theirs}-0001", f"{theirs}-0002", f"{theirs}-0003"]
    assert _customer(plan).next_invoice_sequence == _customer(plan, other.id).next_invoice_sequence == 4


def test_a_zero_invoice_is_paid_at_finalization(functions, plan):
    # GIVEN a customer on the metered price only, with no usage: a 0 draft
    t0 = Clock.at(START)
    idle = customers.create(plan.account, {"name": "Idle"}, None, t0)
    subscription_creation.create(plan.account, idle.id, [ItemSpec(plan.metered, "items[0][price]")], t0)
    # WHEN its grace period ends
    close(functions, JUNE + 60)
    assert bill(functions, queued(plan.account)) == []
    close(functions, GRACE_END + 60)
    assert bill(functions, queued(plan.account)) == []
    # THEN it is numbered and paid at once (amount 0), with both events, after the creation
    #      invoice (0 as well: a metered item's first line is 0), paid when it was created
    from tally.billing import invoices
    from tally.domain.listing import Window

    inv, first = invoices.list_(plan.account, Window(limit=10), Clock.at(JULY), customer=idle.id).data
    assert (first.billing_reason, first.status, first.total, first.paid_at) == (
        "subscription_create",
        "paid",
        0,
        START,
    )
    assert first.number == f"{idle.invoice_prefix}-0001"
    assert (inv.status, inv.total, inv.amount_paid, inv.amount_remaining) == ("paid", 0, 0, 0)
    assert inv.number == f"{idle.invoice_prefix}-0002" and inv.paid_at == inv.finalized_at == GRACE_END + 60
    assert {"invoice.finalized", "invoice.paid"} <= set(_types(plan))


# -- early finalize, duplicates, crashes ------------------------------------------------------------
def test_early_finalize_then_the_schedule_leaves_it_alone(functions, plan, api_at):
    # GIVEN the June draft WHEN finalized through the API ten minutes into the grace period
    draft = _draft(functions, plan)
    api = api_at(JUNE + 600)
    done = api.post(f"/v1/invoices/{draft.id}/finalize")
    assert done.status == 200, done.text
    assert (done.json["status"], done.json["status_transitions"]["finalized_at"]) == ("open", JUNE + 600)
    # THEN finalizing again is a 400 that changes nothing
    again = api.post(f"/v1/invoices/{draft.id}/finalize")
    _error(again, 400, code="invoice_not_editable")
    assert "already finalized" in again.json["error"]["message"]
    # AND the close after the grace period sends nothing for it (it left the due index)
    close(functions, GRACE_END + 60)
    assert queued(plan.account) == []
    assert _customer(plan).next_invoice_sequence == 3


def test_duplicate_finalize_messages_finalize_once(functions, plan):
    # GIVEN the finalize message, sent by two overlapping close runs
    _draft(functions, plan)
    close(functions, GRACE_END + 60)
    close(functions, GRACE_END + 60)
    records = queued(plan.account)
    assert len(records) == 2
    # WHEN delivered together, and one again later
    assert bill(functions, records) == []
    assert bill(functions, records[:1]) == []
    # THEN one number taken
    (inv,) = _invoices(plan)
    assert inv.status == "open" and inv.number and inv.number.endswith("-0002")
    assert _customer(plan).next_invoice_sequence == 3
    finalized = [e for e in support.stored_events(plan.account) if e["type"] == "invoice.finalized"]
    assert [e["data"]["object"]["id"] for e in finalized].count(inv.id) == 1


def test_a_crash_in_the_finalize_transaction_writes_nothing_and_the_retry_finalizes_once(functions, plan):
    # GIVEN the finalize message
    draft = _draft(functions, plan)
    close(functions, GRACE_END + 60)
    records = queued(plan.account)
    # WHEN the worker dies in the finalize transaction (invoice + customer sequence + events)
    with support.TransactionCrash(at=1) as crash:
        assert bill(functions, records) == [records[0]["messageId"]]
    assert crash.calls == 1
    # THEN nothing was written: still a draft, the sequence not taken
    assert _invoice(plan, draft.id).status == "draft" and _customer(plan).next_invoice_sequence == 2
    # AND SQS's redelivery finalizes it once
    assert bill(functions, records) == []
    assert _invoice(plan, draft.id).number == f"{_customer(plan).invoice_prefix}-0002"
    assert _customer(plan).next_invoice_sequence == 3


def test_a_crash_between_finalizing_and_paying_a_zero_invoice_is_finished_by_the_next_close(functions, plan):
    # GIVEN a 0 draft (metered only, no usage) whose grace period ended
    idle = customers.create(plan.account, {"name": "Idle"}, None, Clock.at(START))
    subscription_creation.create(
        plan.account, idle.id, [ItemSpec(plan.metered, "items[0][price]")], Clock.at(START)
    )
    close(functions, JUNE + 60)
    assert bill(functions, queued(plan.account)) == []
    from tally.billing import invoices
    from tally.domain.listing import Window

    inv, _ = invoices.list_(plan.account, Window(limit=10), Clock.at(JULY), customer=idle.id).data
    close(functions, GRACE_END + 60)
    records = [r for r in queued(plan.account) if inv.id in r["body"]]
    # WHEN the worker dies in the second transaction (the payment), after the finalize committed
    with support.TransactionCrash(at=2):
        assert bill(functions, records) == [records[0]["messageId"]]
    inv = _invoice(plan, inv.id)
    assert (inv.status, inv.amount_remaining) == ("open", 0)
    # THEN the next close sends it again (still due) and it is paid, numbered once
    close(functions, GRACE_END + 120)
    assert bill(functions, queued(plan.account)) == []
    inv = _invoice(plan, inv.id)
    assert inv.status == "paid" and inv.number == f"{idle.invoice_prefix}-0002"
    assert _customer(plan, idle.id).next_invoice_sequence == 3


# -- pay / void / uncollectible rules ---------------------------------------------------------------
def test_state_rules_of_void_uncollectible_and_pay(functions, plan, api_at):
    draft = _draft(functions, plan)
    api = api_at(JUNE + 600)
    path = f"/v1/invoices/{draft.id}"
    # GIVEN a draft: it cannot be voided or marked uncollectible
    for action in ("void", "mark_uncollectible"):
        _error(api.post(f"{path}/{action}"), 400, code="invoice_not_editable")
    assert _invoice(plan, draft.id).status == "draft"
    # WHEN finalized and marked uncollectible THEN uncollectible, stamped
    assert api.post(f"{path}/finalize").status == 200
    marked = api.post(f"{path}/mark_uncollectible").json
    assert marked["status"] == "uncollectible"
    assert marked["status_transitions"]["marked_uncollectible_at"] == JUNE + 600
    _error(api.post(f"{path}/mark_uncollectible"), 400, code="invoice_not_editable")
    # AND an uncollectible invoice may still be voided (Stripe), then never paid
    voided = api.post(f"{path}/void").json
    assert (voided["status"], voided["status_transitions"]["voided_at"]) == ("void", JUNE + 600)
    for action, data in (("void", None), ("pay", {"paid_out_of_band": "true"}), ("mark_uncollectible", None)):
        _error(api.post(f"{path}/{action}", data), 400, code="invoice_not_editable")
    assert _types(plan).count("invoice.voided") == 1
    assert "invoice.marked_uncollectible" in _types(plan)


def test_paying_a_draft_finalizes_it_and_a_paid_invoice_is_final(functions, plan, api_at):
    draft = _draft(functions, plan)
    api = api_at(JUNE + 600)
    path = f"/v1/invoices/{draft.id}"
    paid = api.post(f"{path}/pay", {"paid_out_of_band": "true"}).json
    assert (paid["status"], paid["number"], paid["amount_paid"]) == (
        "paid",
        f"{_customer(plan).invoice_prefix}-0002",
        3052,
    )
    for action, data in (("void", None), ("pay", {"paid_out_of_band": "true"}), ("finalize", None)):
        _error(api.post(f"{path}/{action}", data), 400, code="invoice_not_editable")
    _error(api.post("/v1/invoices/in_nope/void"), 404, code="resource_missing")


# -- update, lines, list filters ----------------------------------------------------------------------
def test_update_a_draft_and_auto_advance_off_keeps_it_draft(functions, plan, api_at):
    draft = _draft(functions, plan)
    api = api_at(JUNE + 600)
    path = f"/v1/invoices/{draft.id}"
    # WHEN description, metadata and auto_advance=false are set
    up = api.post(path, {"description": "June", "metadata": {"po": "42"}, "auto_advance": "false"})
    assert up.status == 200, up.text
    assert (up.json["description"], up.json["metadata"], up.json["auto_advance"]) == (
        "June",
        {"po": "42"},
        False,
    )
    assert up.json["automatically_finalizes_at"] is None
    updated = next(e for e in support.stored_events(plan.account) if e["type"] == "invoice.updated")
    assert updated["data"]["previous_attributes"]["description"] is None
    # THEN the close after the grace period leaves it a draft
    close(functions, GRACE_END + 60)
    assert queued(plan.account) == []
    assert _invoice(plan, draft.id).status == "draft"
    # AND once finalized, description and auto_advance are refused; metadata still updates
    assert api.post(f"{path}/finalize").status == 200
    _error(api.post(path, {"description": "x"}), 400, param="description")
    assert api.post(path, {"metadata": {"po": "43"}}).json["metadata"] == {"po": "43"}


def test_lines_are_paginated_and_lists_filter_on_created_and_status(functions, plan, api_at):
    draft = _draft(functions, plan)
    api = api_at(JUNE + 600)
    ids = [ln.id for ln in draft.lines]
    first = api.get(f"/v1/invoices/{draft.id}/lines", {"limit": 1}).json
    assert [ln["id"] for ln in first["data"]] == ids[:1] and first["has_more"] is True
    assert first["url"] == f"/v1/invoices/{draft.id}/lines"
    rest = api.get(f"/v1/invoices/{draft.id}/lines", {"limit": 1, "starting_after": ids[0]}).json
    assert [ln["id"] for ln in rest["data"]] == ids[1:] and rest["has_more"] is False
    back = api.get(f"/v1/invoices/{draft.id}/lines", {"ending_before": ids[1]}).json
    assert [ln["id"] for ln in back["data"]] == ids[:1]
    assert api.get("/v1/invoices/in_nope/lines").status == 404

    # created: the invoice's `created` (the period end), exactly or as a range
    def listed(params: dict[str, Any]) -> list[str]:
        got = api.get("/v1/invoices", params)
        assert got.status == 200, got.text
        return [i["id"] for i in got.json["data"]]

    assert listed({"created": JUNE}) == [draft.id]
    assert listed({"created": JUNE + 60}) == []
    assert listed({"created": {"gte": JUNE, "lt": JUNE + 1}}) == [draft.id]
    assert listed({"created": {"gt": JUNE}}) == []
    first = listed({"created": {"lte": JUNE - 1}})  # the creation invoice, created at the start
    assert len(first) == 1 and listed({"created": START}) == first
    assert listed({"status": "draft"}) == [draft.id]
    api.post(f"/v1/invoices/{draft.id}/finalize")
    assert listed({"status": "open", "customer": plan.customer}) == [draft.id, *first]
    assert listed({"status": "draft"}) == []


def test_the_grace_period_is_a_setting_up_to_72_hours(monkeypatch):
    from tally import settings

    monkeypatch.setenv("INVOICE_GRACE_SECONDS", str(72 * 3600 + 1))
    with pytest.raises(ValueError, match="INVOICE_GRACE_SECONDS"):
        settings.Settings.from_env()
    monkeypatch.setenv("INVOICE_GRACE_SECONDS", "7200")
    assert settings.Settings.from_env().invoice_grace_seconds == 7200
    monkeypatch.delenv("INVOICE_GRACE_SECONDS")
    assert settings.Settings.from_env().invoice_grace_seconds == 3600


def test_a_longer_grace_period_moves_automatic_finalization(functions, plan, monkeypatch):
    from tally import settings

    monkeypatch.setenv("INVOICE_GRACE_SECONDS", str(72 * 3600))
    settings.reset()
    try:
        draft = _draft(functions, plan)
    finally:
        monkeypatch.delenv("INVOICE_GRACE_SECONDS")
        settings.reset()
    assert draft.automatically_finalizes_at == JUNE + 72 * 3600
    close(functions, GRACE_END + 60)
    assert queued(plan.account) == []
    assert lifecycle.advance_due(plan.account, draft.id, Clock.at(GRACE_END + 60))[0] == "not_due"


def test_pay_refuses_without_out_of_band_before_anything(functions, plan):
    draft = _draft(functions, plan)
    with pytest.raises(InvalidRequest):
        lifecycle.pay(plan.account, draft.id, False, Clock.at(JUNE + 600))
    assert _invoice(plan, draft.id).status == "draft" and _customer(plan).next_invoice_sequence == 2


def test_a_draft_whose_customer_was_deleted_stops_being_sent(functions, plan):
    # GIVEN the June draft WHEN its customer is deleted during the grace period
    draft = _draft(functions, plan)
    customers.delete(plan.account, plan.customer, Clock.at(JUNE + 600))
    # THEN the worker does not fail on it (no number to give): it turns auto_advance off
    close(functions, GRACE_END + 60)
    assert bill(functions, queued(plan.account)) == []
    inv = _invoice(plan, draft.id)
    assert (inv.status, inv.auto_advance, inv.number) == ("draft", False, None)
    # AND the next close sends nothing for it
    close(functions, GRACE_END + 120)
    assert queued(plan.account) == []


def test_every_state_reads_as_stripes_types(functions, plan, api_at):
    import stripe_shapes

    # GIVEN invoices in each state, and a lines page, as the API answers them
    draft = _draft(functions, plan)
    api = api_at(JUNE + 600)
    path = f"/v1/invoices/{draft.id}"
    shown = {"draft": api.get(path).json, "lines": api.get(f"{path}/lines", {"limit": 1}).json}
    shown["open"] = api.post(f"{path}/finalize").json
    shown["uncollectible"] = api.post(f"{path}/mark_uncollectible").json
    shown["paid"] = api.post(f"{path}/pay", {"paid_out_of_band": "true"}).json
    shown["list"] = api.get("/v1/invoices", {"status": "paid", "created": JUNE}).json
    # THEN each reads as the stripe SDK's types (no null where Stripe has none, no unknown field)
    assert {name: p for name, obj in shown.items() if (p := stripe_shapes.problems(obj))} == {}
    assert [shown[s]["status"] for s in ("draft", "open", "uncollectible", "paid")] == [
        "draft",
        "open",
        "uncollectible",
        "paid",
    ]
