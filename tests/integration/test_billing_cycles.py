"""Billing cycles through the functions' handlers: the schedule closes ended periods, the queue
worker bills each one exactly once — whatever is injected (duplicate deliveries, overlapping close
runs, a crash in or after the transaction, a subscription changed or canceled while it is billed).

Sample triggers come from events/ (a schedule event, an SQS batch) with the instant set per test;
messages really go through the (mocked) billing queue. The flow is seed 002's Alpaca AI price (4
cents per 100 tokens, rounded up) plus 3 seats at 10 USD, started 14 May 2031 09:30 UTC. Its
creation invoice (`subscription_create`: 3 × 1,000 = 3,000 for the first period, open at once) is
not the close's: `stored_invoices` lists the close's invoices only.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
import support

from tally.billing import (
    customers,
    cycles,
    invoices,
    meter_events,
    meters,
    prices,
    products,
    subscription_creation,
    subscriptions,
)
from tally.billing.meter_events import EventInput
from tally.billing.meters import MeterSpec
from tally.billing.prices import Amount, NewPrice
from tally.billing.subscriptions import ItemSpec
from tally.clock import Clock
from tally.domain.aggregation import Formula
from tally.domain.listing import Window
from tally.domain.records import Recurring, Subscription, Transform
from tally.store import objects
from tally.store.changes import Change
from tally_local.gateway import LambdaContext

pytestmark = pytest.mark.usefixtures("moto_tables")


def _at(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


START = _at(2031, 5, 14, 9, 30)
JUNE = _at(2031, 6, 14, 9, 30)
JULY = _at(2031, 7, 14, 9, 30)


@dataclass
class Plan:
    account: str
    key: str
    customer: str
    subscription: str
    metered: str
    seats: str


def _plan() -> Plan:
    owner = support.new_account()
    account = owner.id
    t0 = Clock.at(START)
    customer = customers.create(account, {"name": "Alpaca AI", "email": "ops@alpaca.ai"}, None, t0)
    meter = meters.create(account, MeterSpec("Tokens", "alpaca_ai_tokens", Formula.SUM), t0)
    tokens = products.create(account, {"name": "Tokens"}, None, t0)
    seat_product = products.create(account, {"name": "Seats"}, None, t0)
    metered = prices.create(
        account,
        NewPrice(
            currency="usd",
            product=tokens.id,
            unit_amount=Amount(Decimal(4), "unit_amount"),
            transform=Transform(100, "up"),
            recurring=Recurring("month", 1, "metered", meter.id),
        ),
        t0,
    )
    seats = prices.create(
        account,
        NewPrice(
            currency="usd",
            product=seat_product.id,
            unit_amount=Amount(Decimal(1000), "unit_amount"),
            recurring=Recurring("month"),
        ),
        t0,
    )
    sub = subscription_creation.create(
        account,
        customer.id,
        [ItemSpec(metered.id, "items[0][price]"), ItemSpec(seats.id, "items[1][price]", quantity=3)],
        t0,
    ).subscription
    for day, value in ((1, 150), (3, 1_000), (20, 51)):  # 1,201 tokens in the first period
        event = EventInput("alpaca_ai_tokens", {"stripe_customer_id": customer.id, "value": str(value)})
        assert len(meter_events.accept(account, {0: event}, t0.later(day * 86400)).stored) == 1
    return Plan(account, owner.key, customer.id, sub.id, metered.id, seats.id)


@pytest.fixture
def plan(functions: support.Functions) -> Iterator[Plan]:
    _drain()  # messages another test left behind
    yield _plan()


# -- triggers -------------------------------------------------------------------------------------
def _queue_url() -> str:
    from tally.settings import settings

    url = settings().billing_queue_url
    assert url
    return url


def _drain() -> list[dict[str, Any]]:
    """Every message in the billing queue, received and deleted (as if the worker took them)."""
    from tally.store.aws import sqs

    out: list[dict[str, Any]] = []
    while True:
        got = sqs().receive_message(QueueUrl=_queue_url(), MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        out += got
        sqs().delete_message_batch(
            QueueUrl=_queue_url(),
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)],
        )


def close(functions: support.Functions, instant: int) -> dict[str, Any]:
    event = support.load_event("schedule_close_periods.json")
    event["time"] = dt.datetime.fromtimestamp(instant, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return functions.handler("ClosePeriodsFunction")(event, LambdaContext("ClosePeriodsFunction"))


def queued(account: str) -> list[dict[str, Any]]:
    """The SQS records the close sent for `account` (others' are dropped), as the worker gets them."""
    template = support.load_event("sqs_bill_period.json")["Records"][0]
    records = []
    for m in _drain():
        if json.loads(m["Body"])["account"] == account:
            records.append({**template, "messageId": m["MessageId"], "body": m["Body"]})
    return records


def bill(functions: support.Functions, records: list[dict[str, Any]]) -> list[str]:
    """Deliver records to the worker; returns the ids it reported as failed."""
    answer = functions.handler("BillPeriodFunction")(
        {"Records": records}, LambdaContext("BillPeriodFunction")
    )
    return [f["itemIdentifier"] for f in answer["batchItemFailures"]]


def all_invoices(plan: Plan) -> list[Any]:
    return invoices.list_(
        plan.account, Window(limit=100), Clock.at(JULY), subscription=plan.subscription
    ).data


def stored_invoices(plan: Plan) -> list[Any]:
    """The invoices the period closes stored (the creation invoice left out), newest first."""
    return [i for i in all_invoices(plan) if i.billing_reason != "subscription_create"]


def _subscription(plan: Plan) -> Subscription:
    return objects.get(plan.account, plan.subscription, Subscription, Clock.at(JUNE))


# -- the path -------------------------------------------------------------------------------------
def test_nothing_is_billed_before_the_period_ends(functions, plan):
    # GIVEN a subscription whose period ends 14 June 09:30 WHEN the schedule runs a minute before
    # its `invoice.upcoming` reminder is due (a day before the period ends)
    close(functions, JUNE - 86_400 - 60)
    # THEN nothing is queued for it
    assert queued(plan.account) == []
    # AND a minute before the period ends, what is queued writes the reminder and bills nothing
    close(functions, JUNE - 60)
    records = queued(plan.account)
    assert [json.loads(r["body"])["period_end"] for r in records] == [JUNE]
    assert bill(functions, records) == []
    assert stored_invoices(plan) == []
    assert [e["type"] for e in support.stored_events(plan.account)].count("invoice.upcoming") == 1
    # AND the only invoice is the creation's: 3 seats × 1,000 for [May 14, Jun 14) in advance and
    #     a 0 line for the tokens, finalized (open) when the subscription was created
    (first,) = all_invoices(plan)
    assert (first.billing_reason, first.status, first.total, first.created) == (
        "subscription_create",
        "open",
        3000,
        START,
    )
    assert sorted((ln.quantity, ln.amount, ln.period_start, ln.period_end) for ln in first.lines) == [
        (0, 0, START, START),
        (3, 3000, START, JUNE),
    ]


def test_the_close_bills_the_ended_period_as_the_preview_showed_it(functions, plan):
    # GIVEN the preview of the invoice a minute before the period ends
    preview = invoices.preview(plan.account, plan.subscription, None, Clock.at(JUNE - 60))
    # WHEN the schedule runs at 09:31 and the worker gets what it queued
    records = queued(plan.account) if close(functions, JUNE + 60)["sent"] else []
    assert len(records) == 1 and json.loads(records[0]["body"])["period_end"] == JUNE
    assert bill(functions, records) == []
    # THEN one draft invoice: 1,201 tokens → 13 × 4 = 52 over May 14 → June 14, and 3 seats in
    # advance for June 14 → July 14, 3,052 in all — the preview's lines
    (inv,) = stored_invoices(plan)
    assert inv.id.startswith("in_") and inv.status == "draft"
    assert inv.billing_reason == "subscription_cycle"
    assert (inv.period_start, inv.period_end, inv.created) == (START, JUNE, JUNE)
    lines = {ln.price: (ln.quantity, ln.amount, ln.period_start, ln.period_end) for ln in inv.lines}
    assert lines == {plan.metered: (13, 52, START, JUNE), plan.seats: (3, 3000, JUNE, JULY)}
    assert all(ln.id.startswith("il_") for ln in inv.lines)
    assert inv.total == inv.amount_due == 3052 == preview.draft.totals.total
    assert [(ln.price, ln.amount) for ln in inv.lines] == [
        (ln.price, ln.amount) for ln in preview.draft.lines
    ]
    # AND the subscription moved to its next period (its due entry with it)
    assert _subscription(plan).unbilled_period == (JUNE, JULY)
    # AND `invoice.created` (with the invoice as the API shows it) and the subscription's renewal
    # are in the event log
    api = support.Api(functions, support.Account(plan.account, plan.key))
    shown = api.get(f"/v1/invoices/{inv.id}")
    assert shown.status == 200, shown.text
    events = {(e["type"], e["data"]["object"]["id"]): e for e in support.stored_events(plan.account)}
    assert events["invoice.created", inv.id]["data"]["object"] == shown.json
    assert events["customer.subscription.updated", plan.subscription]["data"]["previous_attributes"]


def test_the_next_close_bills_the_next_period(functions, plan):
    # GIVEN June billed
    close(functions, JUNE + 60)
    assert bill(functions, queued(plan.account)) == []
    # WHEN the July close runs (no usage in the second period)
    close(functions, JULY + 60)
    assert bill(functions, queued(plan.account)) == []
    # THEN a second invoice bills June 14 → July 14 usage (none) and seats for July → August
    second, first = stored_invoices(plan)
    assert (first.period_start, first.period_end) == (START, JUNE)
    assert (second.period_start, second.period_end) == (JUNE, JULY)
    assert {ln.price: ln.amount for ln in second.lines} == {plan.metered: 0, plan.seats: 3000}


# -- exactly once ---------------------------------------------------------------------------------
def test_a_duplicate_delivery_bills_once(functions, plan):
    # GIVEN the close's message WHEN SQS delivers it twice (in one batch, and again later)
    close(functions, JUNE + 60)
    (record,) = queued(plan.account)
    duplicate = {**record, "messageId": "dup-1"}
    assert bill(functions, [record, duplicate]) == []
    assert bill(functions, [record]) == []
    # THEN one invoice, and the subscription advanced once
    assert len(stored_invoices(plan)) == 1
    assert _subscription(plan).unbilled_period == (JUNE, JULY)


def test_overlapping_close_runs_bill_once(functions, plan):
    # GIVEN two close runs at once (a slow run overlapping the next) and a later one before billing
    for instant in (JUNE + 60, JUNE + 60, JUNE + 120):
        close(functions, instant)
    records = queued(plan.account)
    assert len(records) == 3
    # WHEN the worker gets all their messages
    assert bill(functions, records) == []
    # THEN one invoice
    assert len(stored_invoices(plan)) == 1


@pytest.mark.parametrize("crash_at", [1])
def test_a_crash_in_the_billing_transaction_writes_nothing_and_the_retry_bills_once(
    functions, plan, crash_at
):
    # GIVEN the close's message
    close(functions, JUNE + 60)
    records = queued(plan.account)
    # WHEN the worker dies in its transaction (the only write of a period: invoice, claim, events,
    # subscription advance — so before it nothing was written and after it everything was)
    with support.TransactionCrash(at=crash_at) as crash:
        assert bill(functions, records) == [records[0]["messageId"]]
    assert crash.calls == crash_at
    # THEN nothing was written: no invoice, the subscription is still in its ended period
    assert stored_invoices(plan) == []
    assert _subscription(plan).unbilled_period == (START, JUNE)
    # AND SQS's redelivery bills it once
    assert bill(functions, records) == []
    assert len(stored_invoices(plan)) == 1


def test_a_crash_after_the_transaction_before_the_ack_bills_once(functions, plan):
    # GIVEN a period billed, but the worker dies before SQS deletes the message
    close(functions, JUNE + 60)
    records = queued(plan.account)
    assert bill(functions, records) == []
    # WHEN SQS delivers it again after the visibility timeout, and the next close also runs
    close(functions, JUNE + 120)
    assert bill(functions, records + queued(plan.account)) == []
    # THEN still one invoice (the second close did not even send it: its due time moved)
    assert len(stored_invoices(plan)) == 1


def test_a_crash_between_close_and_queue_loses_nothing(functions, plan, monkeypatch):
    # GIVEN a close run that dies before sending (after reading the index)
    def dead(messages):
        list(messages)
        raise support.InjectedCrash("close died before SendMessageBatch")

    monkeypatch.setattr(cycles.queues, "send", dead)
    with pytest.raises(support.InjectedCrash):
        close(functions, JUNE + 60)
    monkeypatch.undo()
    # WHEN the next minute's run comes THEN the period is still due, sent and billed once
    close(functions, JUNE + 120)
    assert bill(functions, queued(plan.account)) == []
    assert len(stored_invoices(plan)) == 1


def _between_read_and_write(monkeypatch: pytest.MonkeyPatch, action: Any) -> None:
    """Run `action` once, after the worker read the subscription and before it commits."""
    real = cycles.invoice_builder.build
    done: list[bool] = []

    def build(*args: Any, **kwargs: Any) -> Any:
        view = real(*args, **kwargs)
        if not done:
            done.append(True)
            action()
        return view

    monkeypatch.setattr(cycles.invoice_builder, "build", build)


def test_two_workers_billing_the_same_period_at_once_bill_once(functions, plan, monkeypatch):
    # GIVEN the message delivered to two workers WHEN the second runs entirely while the first is
    # between its read and its write
    close(functions, JUNE + 60)
    records = queued(plan.account)
    _between_read_and_write(monkeypatch, lambda: bill(functions, [{**records[0], "messageId": "other"}]))
    # THEN the first's transaction is refused (version, claim), it re-reads and finds it billed
    assert bill(functions, records) == []
    assert len(stored_invoices(plan)) == 1


def test_a_subscription_changed_while_billed_is_billed_once_as_changed(functions, plan, monkeypatch):
    # GIVEN the close's message
    close(functions, JUNE + 60)
    records = queued(plan.account)

    def change() -> None:  # another request updates the subscription meanwhile
        stored = objects.load(plan.account, plan.subscription, Subscription, Clock.at(JUNE))
        after = replace(stored.record, metadata={"plan": "pro"})
        objects.update(
            plan.account, stored, Change(after, "customer.subscription.updated", {}), Clock.at(JUNE)
        )

    _between_read_and_write(monkeypatch, change)
    # WHEN the worker bills THEN its stale write is refused, and the retry bills the changed record
    assert bill(functions, records) == []
    (inv,) = stored_invoices(plan)
    assert inv.subscription_metadata == {"plan": "pro"}
    assert _subscription(plan).metadata == {"plan": "pro"}


def test_a_subscription_canceled_while_billed_is_not_billed(functions, plan, monkeypatch):
    # GIVEN the close's message WHEN the subscription is canceled while the worker bills it
    close(functions, JUNE + 60)
    records = queued(plan.account)
    _between_read_and_write(
        monkeypatch, lambda: subscriptions.cancel(plan.account, plan.subscription, Clock.at(JUNE + 30))
    )
    assert bill(functions, records) == []
    # THEN no invoice (a canceled subscription's final invoice is not built yet), and it is no
    # longer due
    assert stored_invoices(plan) == []
    close(functions, JULY + 60)
    assert queued(plan.account) == []


def test_a_malformed_message_fails_alone(functions, plan):
    # GIVEN a batch with one good message and one that is not ours
    close(functions, JUNE + 60)
    records = queued(plan.account)
    bad = {**records[0], "messageId": "bad-1", "body": "not json"}
    # WHEN delivered THEN only the bad one is reported (SQS retries it, then the DLQ), the good one bills
    assert bill(functions, [bad, *records]) == ["bad-1"]
    assert len(stored_invoices(plan)) == 1


# -- reading invoices -------------------------------------------------------------------------------
def test_invoices_are_retrieved_and_listed_in_stripes_shape(functions, plan, other_account):
    # GIVEN June billed
    close(functions, JUNE + 60)
    assert bill(functions, queued(plan.account)) == []
    (inv,) = stored_invoices(plan)
    api = support.Api(functions, support.Account(plan.account, plan.key))
    # WHEN retrieved THEN Stripe's invoice: the documented keys, a subscription-cycle draft
    shown = api.get(f"/v1/invoices/{inv.id}", {"expand": ["customer"]}).json
    assert set(support.stripe_fixture("invoice")) <= set(shown)
    assert shown["object"] == "invoice" and shown["status"] == "draft"
    assert shown["billing_reason"] == "subscription_cycle" and shown["customer"]["id"] == plan.customer
    assert shown["customer_email"] == "ops@alpaca.ai" and shown["total"] == 3052
    assert [ln["id"] for ln in shown["lines"]["data"]] == [ln.id for ln in inv.lines]
    # AND every filter finds it (after the creation invoice, open); other values, and other
    # accounts, do not
    (first,) = [i.id for i in all_invoices(plan) if i.billing_reason == "subscription_create"]
    for params in ({}, {"customer": plan.customer}, {"subscription": plan.subscription}):
        listed = api.get("/v1/invoices", params)
        assert listed.status == 200, listed.text
        assert [i["id"] for i in listed.json["data"]] == [inv.id, first], params
    assert [i["id"] for i in api.get("/v1/invoices", {"status": "draft"}).json["data"]] == [inv.id]
    assert api.get("/v1/invoices", {"status": "paid"}).json["data"] == []
    opened = api.get("/v1/invoices", {"customer": plan.customer, "status": "open"}).json["data"]
    assert [i["id"] for i in opened] == [first]
    other = api.as_(other_account)
    assert other.get(f"/v1/invoices/{inv.id}").status == 404
    assert other.get("/v1/invoices").json["data"] == []
    # AND a preview id is never stored
    assert api.get("/v1/invoices/upcoming_in_123").status == 404


# -- the local runtime's triggers (tally_local.triggers), wired from template.yaml -----------------------
def test_the_local_poller_feeds_the_billing_queue_to_its_function(functions, plan):
    # GIVEN the template's SQS trigger of the billing worker and a closed period in the queue
    from tally.store.aws import sqs
    from tally_local.triggers import Poller

    (trigger,) = functions.template.functions["BillPeriodFunction"].queues
    close(functions, JUNE + 60)
    poller = Poller(
        "BillPeriodFunction", functions.handler("BillPeriodFunction"), trigger, _queue_url(), sqs(), None
    )
    # WHEN it polls THEN the function bills it and the message is deleted
    assert poller.poll_once() >= 1
    while poller.poll_once():  # other tests' leftovers, if any
        pass
    assert len(stored_invoices(plan)) == 1
    assert queued(plan.account) == []


def test_the_local_scheduler_fires_on_period_boundaries_with_the_scheduled_time():
    # GIVEN a 1-second rate schedule with the template's Input WHEN the scheduler runs 2.5 s
    import threading
    import time

    from tally_local.template import Schedule
    from tally_local.triggers import Scheduler

    (template_schedule,) = support.Functions().template.functions["ClosePeriodsFunction"].schedules
    fired: list[dict[str, Any]] = []
    stop = threading.Event()
    scheduler = Scheduler(
        "Fn", lambda event, context: fired.append(event), Schedule("s", 1, template_schedule.input), stop
    )
    scheduler.start()
    time.sleep(2.5)
    stop.set()
    scheduler.join(2)
    # THEN it fired about twice, each with a whole-second UTC `time` a run's clock can parse
    assert 1 <= len(fired) <= 3
    clock_of = inspect.unwrap(support.Functions().handler("ClosePeriodsFunction")).__globals__["clock_of"]
    assert all(clock_of(e).instant == int(clock_of(e).instant) for e in fired)
