"""Late usage, never lost (`tally.billing.true_ups`): usage stamped in a period whose invoice is
already finalized is billed on the subscription's next invoice as a true-up line naming the
original period — the period re-rated with the late usage, minus what was billed for it.

The plan is test_billing_cycles's: the seed's Alpaca AI price (4 cents per 100 tokens, rounded
up) plus 3 seats at 10 USD, started 14 May 2031 09:30 UTC, with 1,201 tokens in the first period
(13 × 4 = 52). Periods close on the 14th at 09:30; invoices finalize an hour later (the default
grace period). Everything runs through the close's schedule and the queue worker's handler.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import stripe_shapes
import support
from test_billing_cycles import JULY, JUNE, START, Plan, _at, _drain, _plan, bill, close, queued

from tally.billing import (
    cancellations,
    customers,
    invoices,
    lifecycle,
    meter_events,
    prices,
    subscription_creation,
)
from tally.billing.meter_events import EventInput
from tally.billing.prices import NewPrice
from tally.billing.subscriptions import ItemSpec
from tally.clock import Clock
from tally.domain.listing import Window
from tally.domain.pricing import Tier
from tally.domain.records import Invoice, InvoiceLine, Meter, Recurring
from tally.store import billed, objects

pytestmark = pytest.mark.usefixtures("moto_tables")

AUGUST = _at(2031, 8, 14, 9, 30)
SEPTEMBER = _at(2031, 9, 14, 9, 30)
GRACE = 3600
MAY_JUNE = "Late usage for Tokens (May 14 – Jun 14, 2031)"


@pytest.fixture
def plan(functions: support.Functions) -> Iterator[Plan]:
    _drain()
    yield _plan()


# -- helpers --------------------------------------------------------------------------------------
def _draft_at(functions, plan: Plan, end: int) -> None:
    close(functions, end + 60)
    assert bill(functions, queued(plan.account)) == []


def _finalize_at(functions, plan: Plan, end: int) -> None:
    close(functions, end + GRACE + 60)
    assert bill(functions, queued(plan.account)) == []


def _cycle(functions, plan: Plan, end: int) -> None:
    _draft_at(functions, plan, end)
    _finalize_at(functions, plan, end)


def _use(
    plan: Plan, value: int, timestamp: int, received: int, customer: str | None = None, ident=None
) -> None:
    event = EventInput(
        "alpaca_ai_tokens",
        {"stripe_customer_id": customer or plan.customer, "value": str(value)},
        identifier=ident,
        timestamp=timestamp,
    )
    assert len(meter_events.accept(plan.account, {0: event}, Clock.at(received)).stored) == 1


def _invoices(plan: Plan, subscription: str | None = None) -> list[Invoice]:
    """The subscription's invoices after its creation invoice, oldest first."""
    found = invoices.list_(
        plan.account, Window(limit=100), Clock.at(SEPTEMBER), subscription=subscription or plan.subscription
    ).data
    return sorted(
        (i for i in found if i.billing_reason != "subscription_create"), key=lambda i: i.period_start
    )


def _true_ups(inv: Invoice) -> list[InvoiceLine]:
    return [ln for ln in inv.lines if ln.true_up]


def _shown(api: support.Api, inv: Invoice) -> dict:
    got = api.get(f"/v1/invoices/{inv.id}")
    assert got.status == 200, got.text
    return got.json


def _tiered_subscription(plan: Plan, mode: str, tiers: list[Tier]) -> tuple[str, str]:
    """A second customer on a tiered price over the same meter: (customer, subscription)."""
    t0 = Clock.at(START)
    meter_id = next(m.id for m in _meters(plan) if m.event_name == "alpaca_ai_tokens")
    tokens = objects.get(plan.account, plan.metered, type(_price(plan)), t0).product
    price = prices.create(
        plan.account,
        NewPrice(
            currency="usd",
            product=tokens,
            billing_scheme="tiered",
            tiers_mode=mode,
            tiers=tuple(tiers),
            recurring=Recurring("month", 1, "metered", meter_id),
        ),
        t0,
    )
    customer = customers.create(plan.account, {"name": f"{mode} tokens"}, None, t0)
    sub = subscription_creation.create(plan.account, customer.id, [ItemSpec(price.id, "items[0][price]")], t0)
    return customer.id, sub.subscription.id


def _meters(plan: Plan) -> list[Meter]:
    from tally.store import lists

    return lists.list_records(plan.account, Meter, Window(limit=10), Clock.at(START)).data


def _price(plan: Plan):
    from tally.domain.records import Price

    return objects.get(plan.account, plan.metered, Price, Clock.at(START))


# -- the grace period: late usage counts at finalization, no true-up ----------------------------
def test_usage_late_within_the_grace_period_is_counted_at_finalization_not_trued_up(functions, plan):
    # GIVEN the June draft (1,201 tokens → 13 × 4 = 52)
    _draft_at(functions, plan, JUNE)
    # AND 250 tokens stamped 13 June that arrive during the grace period (1,451 → 15 × 4 = 60)
    _use(plan, 250, JUNE - 86400, JUNE + 1800)
    # WHEN the June invoice finalizes and the July invoice is drafted and finalized
    _finalize_at(functions, plan, JUNE)
    _cycle(functions, plan, JULY)
    # THEN June billed the late tokens on its own metered line, and July carries no true-up
    june, july = _invoices(plan)
    (metered,) = [ln for ln in june.lines if ln.price == plan.metered]
    assert (metered.quantity, metered.amount, june.status) == (15, 60, "open")
    assert _true_ups(june) == [] and _true_ups(july) == []
    assert july.total == 3000  # July: no usage (0), 3 seats in advance (3,000)


# -- after finalization: a true-up on the next invoice --------------------------------------------
def test_late_usage_after_finalization_is_trued_up_on_the_next_invoice(functions, plan):
    # GIVEN June finalized: 1,201 tokens → 13 units → 52
    _cycle(functions, plan, JUNE)
    # AND 600 tokens stamped 10 June (in May 14 – Jun 14) that arrive on 20 June, after it
    _use(plan, 600, _at(2031, 6, 10), _at(2031, 6, 20))
    # WHEN a preview is asked before the July close
    preview = invoices.preview(plan.account, plan.subscription, None, Clock.at(JULY - 60))
    # THEN it shows the true-up: 1,801 tokens → 19 units → 76, billed 52 → +6 units, +24
    ups = [ln for ln in preview.draft.lines if ln.true_up]
    assert [(u.quantity, u.amount, u.description) for u in ups] == [(6, 24, MAY_JUNE)]
    assert (ups[0].period.start, ups[0].period.end) == (START, JUNE)
    # WHEN the July invoice is drafted
    _draft_at(functions, plan, JULY)
    # THEN it carries the same true-up line, named for the original period, priced on the original
    # price, and first; July's own lines follow: 0 tokens (0), seats for July → August (3,000)
    july = _invoices(plan)[1]
    (up,) = _true_ups(july)
    assert (up.price, up.quantity, up.amount, up.period_start, up.period_end) == (
        plan.metered,
        6,
        24,
        START,
        JUNE,
    )
    assert up.description == MAY_JUNE and july.lines[0] == up
    assert july.total == 3024 == preview.draft.totals.total
    # AND the API shows it as a Stripe line item (type-checked by test_stripe_types' shapes)
    api = support.Api(functions, support.Account(plan.account, plan.key))
    shown = next(ln for ln in _shown(api, july)["lines"]["data"] if ln["id"] == up.id)
    assert shown["period"] == {"start": START, "end": JUNE} and shown["description"] == MAY_JUNE
    assert (shown["quantity"], shown["amount"]) == (6, 24)
    assert stripe_shapes.problems(_shown(api, july)) == []
    # WHEN 100 more tokens for 11 June arrive in July's grace period, and July finalizes
    _use(plan, 100, _at(2031, 6, 11), JULY + 1800)
    _finalize_at(functions, plan, JULY)
    # THEN the true-up is recomputed at finalization: 1,901 → 20 units → 80; billed 52 → +7 units, +28
    july = _invoices(plan)[1]
    (up,) = _true_ups(july)
    assert (july.status, up.quantity, up.amount, july.total) == ("open", 7, 28, 3028)
    # AND August carries no true-up for May – June again (what was billed is now 80)
    _cycle(functions, plan, AUGUST)
    assert _true_ups(_invoices(plan)[2]) == []


def test_graduated_tiers_true_up_the_rated_difference(functions, plan):
    # GIVEN a graduated price: units 1–100 at 10, then 5 each plus a flat 200
    customer, sub = _tiered_subscription(
        plan,
        "graduated",
        [Tier(100, Decimal(10), None), Tier(None, Decimal(5), Decimal(200))],
    )
    # AND 80 tokens in the first period: 80 × 10 = 800, billed in June
    _use(plan, 80, START + 86400, START + 86400, customer)
    _cycle(functions, plan, JUNE)
    (june,) = _invoices(plan, sub)
    assert (june.status, june.total) == ("open", 800)
    # WHEN 50 tokens stamped 1 June arrive on 20 June
    _use(plan, 50, _at(2031, 6, 1), _at(2031, 6, 20), customer)
    _draft_at(functions, plan, JULY)
    # THEN July trues up 130 tokens: 100 × 10 + 30 × 5 + 200 = 1,350, minus 800 = 550
    # (not 50 × 10 = 500, nor 50 × 5 = 250)
    (up,) = _true_ups(_invoices(plan, sub)[1])
    assert (up.quantity, up.amount, up.description) == (50, 550, MAY_JUNE)


def test_volume_tiers_true_up_the_rated_difference(functions, plan):
    # GIVEN a volume price: all units at 10 up to 100, all at 9 beyond
    customer, sub = _tiered_subscription(
        plan, "volume", [Tier(100, Decimal(10), None), Tier(None, Decimal(9), None)]
    )
    # AND 80 tokens billed in June: 80 × 10 = 800
    _use(plan, 80, START + 86400, START + 86400, customer)
    _cycle(functions, plan, JUNE)
    # WHEN 50 tokens stamped 1 June arrive on 20 June
    _use(plan, 50, _at(2031, 6, 1), _at(2031, 6, 20), customer)
    _draft_at(functions, plan, JULY)
    # THEN July trues up 130 × 9 = 1,170 − 800 = 370 (not 50 × 9 = 450)
    (up,) = _true_ups(_invoices(plan, sub)[1])
    assert (up.quantity, up.amount) == (50, 370)


def test_a_cancel_adjustment_after_finalization_is_a_negative_true_up(functions, plan):
    # GIVEN 300 tokens stamped 14 June 09:00 received at 09:45 (in the grace period), counted by
    # June's finalization: 1,501 → 16 units → 64
    _draft_at(functions, plan, JUNE)
    _use(plan, 300, JUNE - 1800, JUNE + 900, ident="late-300")
    _finalize_at(functions, plan, JUNE)
    june = _invoices(plan)[0]
    assert next(ln.amount for ln in june.lines if ln.price == plan.metered) == 64
    # WHEN the event is cancelled the next morning (within 24 h of receipt), after finalization
    meter_events.cancel(plan.account, "alpaca_ai_tokens", "late-300", Clock.at(JUNE + 86400))
    _draft_at(functions, plan, JULY)
    # THEN July credits it: 1,201 → 13 units → 52 − 64 = −3 units, −12
    july = _invoices(plan)[1]
    (up,) = _true_ups(july)
    assert (up.quantity, up.amount, up.description) == (-3, -12, MAY_JUNE)
    assert july.total == 3000 - 12
    # AND it stays once finalized
    _finalize_at(functions, plan, JULY)
    assert [(u.quantity, u.amount) for u in _true_ups(_invoices(plan)[1])] == [(-3, -12)]


# -- exactly once ---------------------------------------------------------------------------------
def test_duplicate_deliveries_bill_a_true_up_once(functions, plan):
    # GIVEN June finalized and 600 late tokens (+6 units, +24)
    _cycle(functions, plan, JUNE)
    _use(plan, 600, _at(2031, 6, 10), _at(2031, 6, 20))
    # WHEN the July close message is delivered twice, and the finalize message by two close runs,
    # then again after an early API finalize of nothing left to do
    close(functions, JULY + 60)
    (record,) = queued(plan.account)
    assert bill(functions, [record, {**record, "messageId": "dup"}]) == []
    close(functions, JULY + GRACE + 60)
    close(functions, JULY + GRACE + 60)
    finalize = queued(plan.account)
    assert len(finalize) == 2
    assert bill(functions, finalize) == []
    assert bill(functions, finalize) == []
    # THEN July has one true-up of +24, and August none
    (july,) = [i for i in _invoices(plan) if i.period_start == JUNE]
    assert [(u.quantity, u.amount) for u in _true_ups(july)] == [(6, 24)]
    _cycle(functions, plan, AUGUST)
    assert _true_ups(_invoices(plan)[2]) == []


@pytest.mark.parametrize("crash_at", [1, 2])
def test_a_crash_at_each_write_then_retry_bills_the_true_up_once(functions, plan, crash_at):
    # GIVEN June finalized and 600 late tokens (+6 units, +24)
    _cycle(functions, plan, JUNE)
    _use(plan, 600, _at(2031, 6, 10), _at(2031, 6, 20))
    close(functions, JULY + 60)
    drafting = queued(plan.account)
    # WHEN July's writes — (1) the close's draft, (2) the finalization (with what was billed) — run
    # with the `crash_at`-th transaction failing, then every message is delivered again
    with support.TransactionCrash(at=crash_at) as crash:
        failed = bill(functions, drafting)
        close(functions, JULY + GRACE + 60)
        finalizing = queued(plan.account)
        failed += bill(functions, finalizing)
    assert crash.calls >= crash_at and len(failed) == 1
    assert bill(functions, drafting) == []
    close(functions, JULY + GRACE + 120)
    assert bill(functions, finalizing + queued(plan.account)) == []
    # THEN July is finalized with one true-up of +24
    july = _invoices(plan)[1]
    assert july.status == "open"
    assert [(u.quantity, u.amount) for u in _true_ups(july)] == [(6, 24)]
    # AND August bills no second true-up
    _cycle(functions, plan, AUGUST)
    assert _true_ups(_invoices(plan)[2]) == []


def test_two_invoices_finalizing_at_once_bill_a_true_up_once(functions, plan, monkeypatch):
    # GIVEN June finalized, 600 late tokens, and the July draft carrying +24
    _cycle(functions, plan, JUNE)
    _use(plan, 600, _at(2031, 6, 10), _at(2031, 6, 20))
    _draft_at(functions, plan, JULY)
    july = _invoices(plan)[1]
    # AND a second draft of the subscription (a cancel's final invoice) also carrying it
    _, final = cancellations.cancel(plan.account, plan.subscription, Clock.at(JULY + 600), invoice_now=True)
    assert final is not None and [(u.quantity, u.amount) for u in _true_ups(final)] == [(6, 24)]
    # WHEN both are finalized, the second having read what was billed before the first wrote
    from tally.billing import true_ups

    real = true_ups.billed.open_periods
    stale = real(plan.account, plan.subscription)
    calls = []

    def racing(account, subscription):
        calls.append(1)
        return stale if len(calls) == 2 else real(account, subscription)

    monkeypatch.setattr(true_ups.billed, "open_periods", racing)
    lifecycle.finalize(plan.account, july.id, Clock.at(JULY + 700))
    lifecycle.finalize(plan.account, final.id, Clock.at(JULY + 800))
    # THEN the first carries the true-up; the second's version check failed, it re-read and
    # dropped it (nothing left to true up)
    assert [
        (u.quantity, u.amount) for u in _true_ups(objects.get(plan.account, july.id, Invoice, Clock.at(JULY)))
    ] == [(6, 24)]
    assert _true_ups(objects.get(plan.account, final.id, Invoice, Clock.at(JULY))) == []
    assert len(calls) == 3


# -- settling, and a subscription whose next invoice never comes ---------------------------------
def test_a_period_is_forgotten_once_no_late_usage_can_reach_it(functions, plan):
    # GIVEN June finalized: its billed usage is kept (late usage may still come)
    _cycle(functions, plan, JUNE)
    assert [p.record.invoice for p in billed.open_periods(plan.account, plan.subscription)] == [
        _invoices(plan)[0].id
    ]
    # WHEN July finalizes (36 days after 14 June are not over on 14 July) and then August
    _cycle(functions, plan, JULY)
    june, july = _invoices(plan)
    assert {p.record.invoice for p in billed.open_periods(plan.account, plan.subscription)} == {
        june.id,
        july.id,
    }
    _draft_at(functions, plan, AUGUST)
    # AND August's finalization (which forgets May – June, records itself) crashes once
    with support.TransactionCrash(at=1):
        close(functions, AUGUST + GRACE + 60)
        finalizing = queued(plan.account)
        assert bill(functions, finalizing) == [finalizing[0]["messageId"]]
    assert {p.record.invoice for p in billed.open_periods(plan.account, plan.subscription)} == {
        june.id,
        july.id,
    }
    assert bill(functions, finalizing) == []
    # THEN the retry re-checked May – June a last time and forgot it; July and August are kept
    august = _invoices(plan)[2]
    kept = [p.record.invoice for p in billed.open_periods(plan.account, plan.subscription)]
    assert kept == [july.id, august.id] and august.status == "open"


def test_a_canceled_subscription_bills_late_usage_on_its_final_invoice_only(functions, plan):
    # GIVEN June finalized and 600 late tokens (+6 units, +24)
    _cycle(functions, plan, JUNE)
    _use(plan, 600, _at(2031, 6, 10), _at(2031, 6, 20))
    # WHEN the subscription is canceled with invoice_now on 1 July
    _, final = cancellations.cancel(
        plan.account, plan.subscription, Clock.at(_at(2031, 7, 1)), invoice_now=True
    )
    # THEN the final invoice carries the true-up
    assert final is not None
    assert [(u.quantity, u.amount, u.description) for u in _true_ups(final)] == [(6, 24, MAY_JUNE)]
    # AND once finalized, later late usage has no invoice to ride on: it is reported, not billed
    lifecycle.finalize(plan.account, final.id, Clock.at(_at(2031, 7, 1) + 60))
    _use(plan, 1000, _at(2031, 6, 12), _at(2031, 7, 2))
    close(functions, JULY + 60)
    assert queued(plan.account) == []


# -- cost -----------------------------------------------------------------------------------------
def test_requests_of_a_close_with_a_true_up_to_recheck(functions, plan, monkeypatch):
    """The figure docs/PERFORMANCE.md reports: the worker's DynamoDB requests for one period."""
    from collections import Counter

    from botocore.client import BaseClient

    from tally.billing import account_settings

    seen: Counter = Counter()
    original = BaseClient._make_api_call

    def counted(client, operation, params):
        if client.meta.service_model.service_name == "dynamodb":
            seen[operation] += 1
        return original(client, operation, params)

    def requests_of(end: int) -> Counter:
        # the account's grace setting is cached per instance (a minute): warm, as in a busy worker
        account_settings.invoice_grace(plan.account, Clock.at(end))
        from tally.store.usage import catchup

        catchup.catch_up()  # the usage aggregator kept up (issue 15): the close's reads alone
        seen.clear()
        monkeypatch.setattr(BaseClient, "_make_api_call", counted)
        from tally.billing import cycles

        assert (
            cycles.bill_period(plan.account, plan.subscription, end, Clock.at(end + 60)).outcome == "billed"
        )
        monkeypatch.setattr(BaseClient, "_make_api_call", original)
        return Counter(seen)

    # GIVEN the first period: nothing billed before it, nothing to re-check
    first = requests_of(JUNE)
    # (one Query reads the subscription with its billed periods, one its usage, one the customer's
    # pending invoice items — oneoff, issue 13 point 5; the customer's GetItem; ONE BatchGetItem of
    # the 2 prices, ONE of the 2 products and the meter — they were 5 GetItems until 2026-12-06): 7
    assert first == {"GetItem": 1, "BatchGetItem": 2, "Query": 3, "TransactWriteItems": 1}
    # WHEN June is finalized and 600 late tokens arrive, the July close re-checks June
    _finalize_at(functions, plan, JUNE)
    _use(plan, 600, _at(2031, 6, 10), _at(2031, 6, 20))
    second = requests_of(JULY)
    # THEN one more request: June's usage Query (its billed usage came with the subscription; the
    # price, product and meter are the ones the invoice reads anyway): 8
    assert second == {"GetItem": 1, "BatchGetItem": 2, "Query": 4, "TransactWriteItems": 1}
    assert [(u.quantity, u.amount) for u in _true_ups(_invoices(plan)[1])] == [(6, 24)]


def test_the_api_previews_and_finalizes_the_true_up(functions, plan, monkeypatch):
    # GIVEN June finalized, 600 late tokens (+6 units, +24), and the API running on 1 July
    _cycle(functions, plan, JUNE)
    _use(plan, 600, _at(2031, 6, 10), _at(2031, 6, 20))
    monkeypatch.setattr(Clock, "system", classmethod(lambda cls: Clock.at(_at(2031, 7, 1))))
    api = support.Api(functions, support.Account(plan.account, plan.key))
    # WHEN the upcoming invoice is previewed
    preview = api.post("/v1/invoices/create_preview", {"subscription": plan.subscription})
    assert preview.status == 200, preview.text
    # THEN its first line is the true-up, a Stripe line item naming the original period
    first = preview.json["lines"]["data"][0]
    assert (first["description"], first["amount"], first["quantity"]) == (MAY_JUNE, 24, 6)
    assert first["period"] == {"start": START, "end": JUNE}
    assert first["pricing"]["price_details"]["price"] == plan.metered
    assert preview.json["total"] == 3024 and stripe_shapes.problems(preview.json) == []
    # WHEN July is drafted and finalized through the API THEN it bills the same +24
    _draft_at(functions, plan, JULY)
    july = _invoices(plan)[1]
    monkeypatch.setattr(Clock, "system", classmethod(lambda cls: Clock.at(JULY + 600)))
    done = api.post(f"/v1/invoices/{july.id}/finalize")
    assert done.status == 200, done.text
    assert (done.json["status"], done.json["total"], done.json["lines"]["data"][0]["amount"]) == (
        "open",
        3024,
        24,
    )
