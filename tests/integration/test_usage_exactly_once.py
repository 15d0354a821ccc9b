"""The invariant of issue 12, point 1, as a property: over a subscription's whole life, the metered
quantities of all its invoices add up to the brute-force sum of the events stamped in
`[billing start, end)`, whatever second each boundary falls on.

Each example draws a daily subscription starting at any second (plain, with a trial, with a trial
ended early, or backdated), perhaps a switch to another metered price at any second, an ending
(cancel now with `invoice_now`, `cancel_at`, or none: periods keep closing), and events stamped
at random seconds — many of them a few seconds around a boundary — each received on time or late
(up to two days). It then runs the use cases in time order, as the schedule would: events stored
when received, each period closed at its end, each draft finalized an hour later (the default
grace period), the update, the cancel. Late events are billed by finalization's re-rate or as
true-ups. The subscription's last invoice is finalized once every event is in (billing late usage
after a final invoice is issue 12's point 3, not this test's). Both prices cost 1 cent per unit,
so quantities and amounts are the events' sums.

Billing start: the start date (the backdated date, if any), or the trial's end (usage in a trial
is free). End: the cancel's instant + 1 (its second counts: docs/API.md), `cancel_at`, or the end
of the last period closed.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import support
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tally.billing import (
    cancellations,
    customers,
    invoices,
    lifecycle,
    meters,
    prices,
    products,
    subscription_creation,
)
from tally.billing import cycles as billing_cycles
from tally.billing.meters import MeterSpec
from tally.billing.prices import Amount, NewPrice
from tally.billing.subscription_changes import ItemChange, Update
from tally.billing.subscription_changes import update as update_subscription
from tally.billing.subscriptions import ItemSpec
from tally.billing.trials import NOW as TRIAL_NOW
from tally.clock import Clock
from tally.domain.aggregation import Formula
from tally.domain.listing import Window
from tally.domain.records import METERED, MeterEvent, Recurring, Subscription
from tally.store import objects, usage

pytestmark = pytest.mark.usefixtures("moto_tables")

DAY = 86400
GRACE = 3600
S0 = int(dt.datetime(2031, 5, 14, tzinfo=dt.UTC).timestamp())


@dataclass
class World:
    account: str
    meter: str
    event_name: str
    first: str  # the metered price subscribed to
    second: str  # the metered price switched to


_WORLD: dict[str, World] = {}


def _world() -> World:
    """One account, meter and two daily metered prices (1 cent per unit), shared by the examples."""
    if "w" not in _WORLD:
        account = support.new_account().id
        t = Clock.at(S0 - 2 * DAY)
        meter = meters.create(account, MeterSpec("Units", "exactly_once_units", Formula.SUM), t)
        product = products.create(account, {"name": "Units"}, None, t)

        def daily() -> str:
            new = NewPrice(
                currency="usd",
                product=product.id,
                unit_amount=Amount(Decimal(1), "unit_amount"),
                recurring=Recurring("day", 1, METERED, meter.id),
            )
            return prices.create(account, new, t).id

        _WORLD["w"] = World(account, meter.id, meter.event_name, daily(), daily())
    return _WORLD["w"]


@dataclass
class Scenario:
    start: int
    kind: str  # plain | trial | trial_ended | backdated
    trial_end: int | None
    trial_ended_at: int | None
    backdate: int | None
    switch_at: int | None
    ending: str  # now | at | none
    end_at: int  # the cancel's instant, cancel_at, or the horizon (none)
    events: list[tuple[int, int, int]] = field(default_factory=list)  # (stamp, value, received)

    @property
    def billing_start(self) -> int:
        if self.kind == "backdated":
            assert self.backdate is not None
            return self.backdate
        if self.kind == "trial_ended":
            assert self.trial_ended_at is not None
            return self.trial_ended_at
        if self.kind == "trial":
            assert self.trial_end is not None
            return self.trial_end
        return self.start


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    start = S0 + draw(st.integers(0, DAY - 1))
    kind = draw(st.sampled_from(["plain", "trial", "trial_ended", "backdated"]))
    trial_end = trial_ended_at = backdate = None
    if kind in ("trial", "trial_ended"):
        trial_end = start + draw(st.integers(60, 2 * DAY))
    if kind == "backdated":
        backdate = start - draw(st.integers(1, DAY - 1))
    ending = draw(st.sampled_from(["now", "at", "none"]))
    end_at = start + draw(st.integers(2, 3 * DAY))
    if ending == "none":  # a close follows the creation invoice (its late usage needs a next invoice)
        end_at = max(end_at, trial_end or start + DAY)
    if kind == "trial_ended":
        assert trial_end is not None
        trial_ended_at = draw(st.integers(start + 1, min(trial_end, end_at) - 1))
    switch_at = draw(st.one_of(st.none(), st.integers(start + 1, end_at - 1)))
    scenario = Scenario(start, kind, trial_end, trial_ended_at, backdate, switch_at, ending, end_at)
    marks = [start, end_at, *(b for b in (trial_end, trial_ended_at, backdate, switch_at) if b is not None)]
    first = min(marks) - 120
    last = end_at + DAY + 120
    stamp = st.one_of(
        st.builds(lambda m, d: m + d, st.sampled_from(marks), st.integers(-90, 90)),  # near a boundary
        st.integers(first, last),
    )
    for ts, value, late in draw(
        st.lists(st.tuples(stamp, st.integers(1, 50), st.sampled_from([0, 0, 1, 2 * DAY])), max_size=25)
    ):
        received = ts + (draw(st.integers(1, 2 * DAY)) if late else 0)
        scenario.events.append((ts, value, max(received, first)))
    return scenario


class Run:
    """Drives one scenario through the use cases, in time order."""

    def __init__(self, world: World, scenario: Scenario) -> None:
        self.w, self.s = world, scenario
        self.account = world.account
        t = Clock.at(scenario.start)
        self.customer = customers.create(self.account, {"name": "Exactly Once"}, None, t).id
        self.pending = sorted(scenario.events, key=lambda e: e[2])
        self.received = 0
        self.drafts: list[tuple[int, str]] = []  # (finalizes at, invoice id)
        self.record_until(scenario.start)
        self.sub = subscription_creation.create(
            self.account,
            self.customer,
            [ItemSpec(world.first, "items[0][price]")],
            t,
            trial_end=scenario.trial_end,
            backdate_start_date=scenario.backdate,
        ).subscription.id

    def subscription(self, at: int) -> Subscription:
        return objects.get(self.account, self.sub, Subscription, Clock.at(at))

    def record_until(self, t: int) -> None:
        """Store the events received before `t` (`usage.record`: the ingest path's store)."""
        while self.received < len(self.pending) and self.pending[self.received][2] < t:
            ts, value, got = self.pending[self.received]
            ident = f"{self.customer}-{self.received}"
            event = MeterEvent(
                ident, self.w.event_name, self.w.meter, self.customer, value, ts, {"value": str(value)}, got
            )
            usage.record(self.account, Formula.SUM, 1, [event], now=got)
            self.received += 1

    def more_to_come(self, at: int) -> bool:
        """Whether an invoice will follow the newest one (else it is finalized at the very end)."""
        s = self.subscription(at)
        if not s.running:
            return False
        return self.s.ending != "none" or s.unbilled_period[1] <= self.s.end_at

    def until(self, t: int) -> None:
        """Everything due before `t`: receipts, period closes, finalizations, in time order."""
        while True:
            s = self.subscription(t)
            close = s.unbilled_period[1] if s.running else None
            if close is not None and (close >= t or (self.s.ending == "none" and close > self.s.end_at)):
                close = None
            due = min((d for d in self.drafts if d[0] < t), default=None)
            nxt = min(x for x in (close, due[0] if due else None, t) if x is not None)
            self.record_until(nxt + 1 if nxt < t else t)
            if close is not None and close == nxt:
                billed = billing_cycles.bill_period(self.account, self.sub, close, Clock.at(close))
                assert billed.outcome in ("billed", "reminded"), billed
                if billed.invoice is not None:
                    self.drafts.append((close + GRACE, billed.invoice.id))
            elif due is not None and due[0] == nxt:
                if not self.more_to_come(nxt) and self.drafts == [due]:
                    return  # the last invoice waits for every event
                self.drafts.remove(due)
                lifecycle.finalize(self.account, due[1], Clock.at(nxt))
            else:
                return

    def end_trial(self, at: int) -> None:
        ended = update_subscription(self.account, self.sub, Update(trial_end=TRIAL_NOW), Clock.at(at))
        if ended.invoice is not None:
            self.drafts.append((at + GRACE, ended.invoice.id))

    def switch(self, at: int) -> None:
        item = self.subscription(at).items[0].id
        change = ItemChange("items[0]", id=item, price=self.w.second)
        assert (
            update_subscription(self.account, self.sub, Update(items=[change]), Clock.at(at)).invoice is None
        )

    def play(self) -> int:
        sc = self.s
        steps = [(sc.trial_ended_at, 0, self.end_trial), (sc.switch_at, 1, self.switch)]
        for at, _, step in sorted((s for s in steps if s[0] is not None), key=lambda s: (s[0], s[1])):
            assert at is not None
            self.until(at)
            step(at)
        end = sc.end_at
        if sc.ending == "now":
            self.until(end)
            _, final = cancellations.cancel(self.account, self.sub, Clock.at(end), invoice_now=True)
            assert final is not None
            self.drafts.append((end + GRACE, final.id))
            end += 1  # the cancel's second is billed (its usage_end)
        elif sc.ending == "at":
            self.until(end - 1)
            cancel_at = Update(cancel_at=end, cancel_at_given=True)
            update_subscription(self.account, self.sub, cancel_at, Clock.at(end - 1))
            self.until(end + 3 * DAY)
        else:
            self.until(end + 1)
            end = self.subscription(end).unbilled_period[0]
        self.record_until(2**40)  # every event is in before the last invoice is finalized
        for _, invoice_id in sorted(self.drafts):
            lifecycle.finalize(self.account, invoice_id, Clock.at(end + 5 * DAY))
        return end

    def billed(self) -> tuple[int, int]:
        found = invoices.list_(
            self.account, Window(limit=100), Clock.at(S0 + 30 * DAY), subscription=self.sub
        )
        lines = [
            ln for inv in found.data for ln in inv.lines if ln.usage_type == METERED and not ln.proration
        ]
        return sum(ln.quantity for ln in lines), sum(ln.amount for ln in lines)


@settings(
    max_examples=int(os.environ.get("TALLY_EXAMPLES", "12")),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking one run takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenarios())
def test_every_unit_is_billed_exactly_once_across_a_subscriptions_invoices(scenario):
    run = Run(_world(), scenario)
    end = run.play()
    # THEN the invoices' metered lines add up to the events stamped in [billing start, end)
    start = scenario.billing_start
    expected = sum(value for ts, value, _ in scenario.events if start <= ts < end)
    assert run.billed() == (expected, expected), (start, end)


# -- the boundaries the property found, by hand ---------------------------------------------------
def test_usage_in_a_trial_under_a_replaced_price_is_free():
    # GIVEN a one-day trial from S, 5 units in it; the price switched 1 h in (still in the trial)
    start = S0 + 1234
    scenario = Scenario(
        start,
        "trial",
        trial_end=start + DAY,
        trial_ended_at=None,
        backdate=None,
        switch_at=start + 3600,
        ending="now",
        end_at=start + DAY + 7200,
        events=[(start + 60, 5, start + 60), (start + DAY + 60, 7, start + DAY + 60)],
    )
    run = Run(_world(), scenario)
    # WHEN it runs past the trial and is canceled with invoice_now
    run.play()
    # THEN only the 7 units after the trial are billed (the old price's segment was all trial)
    assert run.billed() == (7, 7)


def test_a_price_switch_before_a_lagging_close_bills_the_ended_period_once():
    # GIVEN a daily subscription from S: 10 units in its first day, 20 in the second before a
    # switch to another price at S+1d+50s, 40 after it
    world = _world()
    start = S0 + 777
    events = [(start + 100, 10, start + 100), (start + DAY + 10, 20, start + DAY + 10)]
    scenario = Scenario(start, "plain", None, None, None, None, "none", start + DAY, events)
    run = Run(world, scenario)
    run.record_until(start + DAY + 11)
    # WHEN the switch happens before the close of the first day has run (the close lags)
    run.switch(start + DAY + 50)
    run.pending.append((start + DAY + 100, 40, start + DAY + 100))
    run.record_until(start + DAY + 101)
    closed = billing_cycles.bill_period(run.account, run.sub, start + DAY, Clock.at(start + DAY + 60))
    # THEN the close bills the first day's 10 units at the old price (the new one counts from later)
    assert closed.invoice is not None
    got = sorted((ln.price, ln.quantity) for ln in closed.invoice.lines)
    assert got == sorted([(world.first, 10), (world.second, 0)])
    # AND the cancel's final invoice bills the rest once: 20 at the old price, 40 at the new
    _, final = cancellations.cancel(run.account, run.sub, Clock.at(start + DAY + 200), invoice_now=True)
    assert final is not None
    assert sorted((ln.price, ln.quantity) for ln in final.lines) == sorted(
        [(world.first, 20), (world.second, 40)]
    )
    assert run.billed() == (70, 70)


def test_a_late_event_in_a_boundary_minute_is_trued_up_once_on_its_own_period():
    # GIVEN a daily subscription whose periods end at 00:00:37: 3 units in the first period,
    # 4 at 5 s into the second (on time), and 9 stamped 5 s before the first period's end (the
    # minute that also opens the second) that arrive two hours after its invoice was finalized
    start = S0 + 37
    end1 = start + DAY
    events = [(start + 100, 3, start + 100), (end1 + 5, 4, end1 + 5), (end1 - 5, 9, end1 + 2 * GRACE)]
    run = Run(_world(), Scenario(start, "plain", None, None, None, None, "none", start + 2 * DAY, events))
    # WHEN the second period closes
    run.until(start + 2 * DAY + 1)
    found = invoices.list_(
        run.account, Window(limit=10), Clock.at(start + 3 * DAY), subscription=run.sub
    ).data
    first, second = sorted(
        (i for i in found if i.billing_reason == "subscription_cycle"), key=lambda i: i.created
    )
    # THEN the first invoice (finalized before the late event) billed 3, and the second bills the 9
    # as a true-up of the first period and its own period's 4: each unit once, on its own period
    assert first.status == "open"
    assert [(ln.quantity, ln.true_up) for ln in first.lines] == [(3, False)]
    assert sorted((ln.quantity, ln.true_up, ln.period_start) for ln in second.lines) == [
        (4, False, end1),
        (9, True, start),
    ]
