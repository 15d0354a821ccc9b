"""What accepting meter events looks up: the presented key, the active meter of each event name
(with its alert watch list) and the events' customers — read once per request, in ONE consistent
BatchGetItem when the request's events are known up front, and what a warm process read a moment
ago not read again (`store.recent`, docs/API.md "On the meter-event routes"). The usage aggregator
reads meters and customers through the same `Lookups`, never from what is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tally.billing import references
from tally.billing.accounts import Presented
from tally.clock import Clock
from tally.domain.alerts import Watch
from tally.domain.records import Customer, Meter
from tally.errors import InvalidRequest, StripeError
from tally.store import meter_names, objects, recent


@dataclass(frozen=True)
class EventInput:
    """One event as sent: parsed, not yet checked against the account's meters and customers.

    `prefix` is where the event sits in the request ("" for v1, "events[3]" for the v2 stream),
    so errors name the right parameter.
    """

    event_name: str
    payload: dict[str, str]
    identifier: str | None = None
    timestamp: int | None = None  # None: now
    prefix: str = ""

    def path(self, name: str) -> str:
        return f"{self.prefix}[{name}]" if self.prefix else name


# (account, event_name) → (meter id, customer payload key) of the active meter this process last
# found for it. Only a guess, to name in advance the keys of one request's BatchGetItem (the
# meter's watch list, the events' customers): what that read returns always decides, and a wrong
# guess costs one more read, never a wrong answer.
_HINTS: dict[tuple[str, str], tuple[str, str]] = {}
_MAX_HINTS = 4096
_DEFAULT_CUSTOMER_KEY = Meter.__dataclass_fields__["customer_key"].default


class Lookups:
    """Meters by event_name and customers seen in one request (each read once): all in one
    consistent BatchGetItem when the request's events are known up front (`prefetch`)."""

    def __init__(self, account: str, clock: Clock) -> None:
        self.account = account
        self.clock = clock
        self.meters: dict[str, Meter | None] = {}
        self.watches: dict[str, Watch] = {}  # meter id → its active alerts (read with the meter)
        self.customers: dict[str, Customer | None] = {}
        self.clocks: dict[str, Clock] = {}  # test clock id → its frozen time

    def prefetch(
        self, inputs: Iterable[EventInput], names: Iterable[str], presented: Presented | None
    ) -> None:
        """Read in ONE consistent BatchGetItem (one per 100 keys) what accepting `inputs` looks
        up: the presented key (its 401 raised here when it is not stored), the claims on their
        event names (and `names`: rejected events' names, for the stream's error report) with
        their meters' watch lists, and their customers. A meter this process has not seen (or
        that replaced the one it saw) costs one more GetItem for its watch list; a customer
        under a payload key not guessed is read when it is checked."""
        account = self.account
        keys: list[tuple[str, str]] = []
        watch_lists: list[tuple[str, str]] = []  # an absent one (no alerts) is worth keeping too
        if presented is not None and not presented.confirmed:
            keys.append(presented.key)
        wanted: dict[str, tuple[str, str] | None] = {}
        customers: dict[str, tuple[str, str]] = {}
        for given in inputs:
            name = given.event_name
            if name not in wanted and name not in self.meters:
                wanted[name] = hint = _HINTS.get((account, name))
                keys.append(meter_names.claim_key(account, name))
                if hint is not None:
                    watch_lists.append(meter_names.watch_key_of(account, name, hint[0]))
                    keys.append(watch_lists[-1])
            hint = wanted.get(name) or _HINTS.get((account, name))
            customer = given.payload.get(hint[1] if hint else _DEFAULT_CUSTOMER_KEY)
            if not customer or customer in self.customers or customer in customers:
                continue
            if (key := objects.key_of(account, customer)) is not None:
                customers[customer] = key
        for name in names:
            if name not in wanted and name not in self.meters:
                wanted[name] = None
                keys.append(meter_names.claim_key(account, name))
        items = recent.read_through(account, keys + list(customers.values()), objects.read_many, watch_lists)
        if presented is not None and not presented.confirmed:
            presented.settle(items.get(presented.key), self.clock)
        for name, hint in wanted.items():
            meter = meter_names.meter_of(account, items.get(meter_names.claim_key(account, name)), self.clock)
            self.meters[name] = meter
            if meter is None:
                continue
            key = meter_names.watch_key_of(account, name, meter.id)
            if hint is None or hint[0] != meter.id:  # not named in advance: its own read
                items.update(recent.read_through(account, [key], meter_names.read_watch, [key]))
            self.watches[meter.id] = meter_names.watch_of(items.get(key))
            if len(_HINTS) >= _MAX_HINTS:
                _HINTS.clear()
            _HINTS[(account, name)] = (meter.id, meter.customer_key)
        for customer, key in customers.items():
            self.customers[customer] = objects.record_of(items.get(key), customer, Customer, self.clock)

    def meter(self, event_name: str, param: str) -> Meter:
        if event_name not in self.meters:
            meter, watch = meter_names.watched(self.account, event_name, self.clock)
            self.meters[event_name] = meter
            if meter is not None:
                self.watches[meter.id] = watch
        found = self.meters[event_name]
        if found is None:  # a new error each time: each names its own event's parameter
            raise InvalidRequest(
                f"No active meter found for event_name '{event_name}'. Create one with POST "
                "/v1/billing/meters (or reactivate it) before sending events.",
                code="resource_missing",
                param=param,
            )
        return found

    def meter_or_none(self, event_name: str | None) -> Meter | None:
        if not event_name:
            return None
        try:
            return self.meter(event_name, "event_name")
        except StripeError:
            return None

    def _customer(self, customer_id: str) -> Customer | None:
        if customer_id not in self.customers:
            self.customers[customer_id] = references.found(self.account, customer_id, Customer, self.clock)
        return self.customers[customer_id]

    def customer_or_none(self, customer_id: str) -> Customer | None:
        return self._customer(customer_id)

    def customer(self, customer_id: str, param: str) -> None:
        if self._customer(customer_id) is None:
            raise InvalidRequest(f"No such customer: '{customer_id}'", code="resource_missing", param=param)

    def clock_of(self, event_name: str, payload: dict[str, str]) -> Clock:
        """The clock an event's timestamp is checked against: its customer's test clock, if any."""
        meter = self.meter_or_none(event_name)
        customer_id = payload.get(meter.customer_key) if meter else None
        return self.clock_for(customer_id) if customer_id else self.clock

    def clock_for(self, customer_id: str) -> Clock:
        """The clock of a customer: its test clock's frozen time, else the request's."""
        customer = self._customer(customer_id)
        if customer is None or customer.test_clock is None:
            return self.clock
        if customer.test_clock not in self.clocks:
            from tally.billing import clocks  # lazy: only test-clock customers need it

            self.clocks[customer.test_clock] = clocks.frozen(self.account, customer.test_clock, self.clock)
        return self.clocks[customer.test_clock]
