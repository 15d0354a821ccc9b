"""Accepting meter events, cancelling them, and v2 meter-event sessions: the ingest use cases.

Every event is checked synchronously (meter active, customer exists, value, timestamp); valid
events of a batch are stored even when others are rejected, and each rejection names its index.
This module is on the ingest function's hot path: it imports nothing of other resources. Each
event is stored by one write; its usage reaches the buckets through the usage table's stream,
and the aggregator then evaluates usage alerts and credit watches (`billing.usage_aggregation`,
issue 15), with `billing.event_lookups.Lookups` and this module's `evaluate_credits`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tally.billing import accounts
from tally.billing.accounts import Presented
from tally.billing.event_lookups import EventInput, Lookups
from tally.clock import Clock
from tally.domain import dimensions
from tally.domain import meter_events as rules
from tally.domain.aggregation import Formula
from tally.domain.records import Meter, MeterEvent
from tally.errors import InvalidRequest, StripeError
from tally.ids import new_id
from tally.settings import settings
from tally.store import usage


@dataclass
class Accepted:
    """What became of a batch: the valid events (by index), which were stored, which were
    duplicates (index, event, the event standing for its identifier), which were rejected."""

    events: dict[int, MeterEvent] = field(default_factory=dict)
    stored: list[MeterEvent] = field(default_factory=list)
    duplicates: list[tuple[int, MeterEvent, MeterEvent]] = field(default_factory=list)
    rejected: list[tuple[int, StripeError]] = field(default_factory=list)


@dataclass(frozen=True)
class Session:
    id: str
    token: str
    created: float
    expires_at: float
    livemode: bool


def _event(
    given: EventInput, lookups: Lookups, clock: Clock, index: int, seed: str | None, tag: str | None = None
) -> tuple[MeterEvent, Meter]:
    """The event to store and its meter, or the StripeError that rejects it."""
    now = lookups.clock_of(given.event_name, given.payload).now  # a test clock's time
    identifier = rules.identifier_for(given.identifier, lookups.account, seed, index)
    ts = now if given.timestamp is None else given.timestamp
    rules.check_timestamp(ts, now, given.path("timestamp"))
    meter = lookups.meter(given.event_name, given.path("event_name"))
    payload_param = given.path("payload")
    customer = given.payload.get(meter.customer_key)
    if not customer:
        raise InvalidRequest(
            f"Missing {payload_param}[{meter.customer_key}]: the meter maps customers from that payload key.",
            code="parameter_missing",
            param=f"{payload_param}[{meter.customer_key}]",
        )
    lookups.customer(customer, f"{payload_param}[{meter.customer_key}]")
    if meter.formula is Formula.COUNT and meter.value_key not in given.payload:
        value = 1
    else:
        value = rules.whole_number(given.payload.get(meter.value_key), f"{payload_param}[{meter.value_key}]")
    segment = None
    if meter.dimension_payload_keys:  # its usage is also kept per segment
        segment = dimensions.segment_of(meter.dimension_payload_keys, given.payload, payload_param).digest
    event = MeterEvent(
        identifier=identifier,
        event_name=given.event_name,
        meter_id=meter.id,
        customer=customer,
        value=value,
        timestamp=ts,
        payload=given.payload,
        created=clock.now,  # when it was received (its identifier's retention counts from it)
        livemode=settings().livemode,
        received=now if now != clock.now else None,  # on a test clock: its time (the cancel window)
        request=tag,
        segment=segment,
    )
    return event, meter


def accept(
    account: str,
    inputs: dict[int, EventInput],
    clock: Clock,
    *,
    seed: str | None = None,
    request_tag: str | None = None,
    presented: Presented | None = None,
) -> Accepted:
    """Check each event (keyed by its index in the request) and store the valid ones, grouped by
    meter (each meter has its formula and shard count).

    `seed` identifies the request (`rules.request_seed`): an event sent without identifier gets
    one derived from (account, seed, index), so a retry of a partly stored request counts nothing
    twice. Without a seed (a v1 event without Idempotency-Key) it gets a random one, as on Stripe.
    `request_tag` (`rules.request_tag`) is kept on each stored event: a v1 Idempotency-Key's record.
    `presented` (the request's key, not yet confirmed) is read with the meters and customers, and
    refuses the request (its 401) before anything is written when it is not stored.
    """
    lookups = Lookups(account, clock)
    lookups.prefetch(inputs.values(), (), presented)
    return _accept(account, inputs, clock, seed, lookups, request_tag)


def _accept(
    account: str,
    inputs: dict[int, EventInput],
    clock: Clock,
    seed: str | None,
    lookups: Lookups,
    tag: str | None = None,
) -> Accepted:
    out = Accepted()
    meters: dict[str, Meter] = {}
    by_meter: dict[str, list[MeterEvent]] = {}
    positions: dict[int, int] = {}
    for index, given in inputs.items():
        try:
            event, meter = _event(given, lookups, clock, index, seed, tag)
        except StripeError as exc:
            out.rejected.append((index, exc))
            continue
        out.events[index] = event
        positions[id(event)] = index
        meters[meter.id] = meter
        by_meter.setdefault(meter.id, []).append(event)
    groups: list[usage.Group] = []
    for meter_id, events in list(by_meter.items()):
        meter = meters[meter_id]
        if meter.dimension_payload_keys:
            events = _within_cap(account, meter, events, positions, out)
        watch = lookups.watches.get(meter_id)
        figures = watch is not None and watch.figures  # the running figures alerts and credits read
        groups.append(usage.Group(meter.formula, meter.write_shards or 1, events, figures))
    written = usage.record_groups(account, groups, clock.now)  # every meter's events together
    out.stored += written.stored
    out.duplicates += [(positions[id(e)], e, standing) for e, standing in written.duplicates]
    # Usage alerts and credit watches are evaluated by the usage aggregator once the events are
    # in the buckets (`billing.usage_aggregation`, issue 15), not here.
    return out


def _within_cap(
    account: str, meter: Meter, events: list[MeterEvent], positions: dict[int, int], out: Accepted
) -> list[MeterEvent]:
    """The events whose segment is registered (or now registered) for their customer; those past
    the cap of distinct segments are rejected (400) and not stored."""
    from tally.store.usage import segments  # lazy: meters without dimensions never load it

    keys = meter.dimension_payload_keys
    wanted: dict[str, dict[str, dimensions.Values]] = {}
    for e in events:
        assert e.segment is not None
        wanted.setdefault(e.customer, {})[e.segment] = dimensions.values_of(keys, e.payload, "payload")
    refused = segments.ensure(account, meter.id, wanted, dimensions.MAX_SEGMENTS)
    if not refused:
        return events
    kept = []
    for e in events:
        if (e.customer, e.segment) in refused:
            index = positions[id(e)]
            out.events.pop(index, None)
            out.rejected.append((index, dimensions.cap_exceeded(meter.id, "payload")))
        else:
            kept.append(e)
    return kept


def evaluate_credits(account: str, customers: list[str], lookups: Lookups) -> None:
    """Usage burns credits down: evaluate the credit watch of each customer whose record (read
    anyway, to check it exists) says it has one. Lazy: others never load the evaluation. Called by
    the usage aggregator (`billing.usage_aggregation`) once the usage is in the buckets."""
    watched = [
        c
        for c in dict.fromkeys(customers)
        if (record := lookups.customers.get(c)) is not None and record.credit_watched
    ]
    if not watched:
        return
    from tally.billing import credit_evaluation

    for customer in watched:
        credit_evaluation.evaluate(account, customer, lookups.clock_for(customer), drive=False)


@dataclass(frozen=True)
class Unreadable:
    """An event of a stream request rejected before it could be read (a bad parameter)."""

    event_name: str | None
    identifier: str | None
    error: StripeError


def accept_stream(
    account: str,
    inputs: dict[int, EventInput],
    unreadable: dict[int, Unreadable],
    clock: Clock,
    seed: str,
    presented: Presented | None = None,
) -> Accepted:
    """`accept` for the v2 stream, whose caller never sees per-event errors (the SDK returns
    nothing): every rejection, including `unreadable` ones, is also counted into the meter's
    error report in the event log, once per request `seed`."""
    lookups = Lookups(account, clock)
    lookups.prefetch(inputs.values(), (u.event_name for u in unreadable.values() if u.event_name), presented)
    out = _accept(account, inputs, clock, seed, lookups)
    given: list[tuple[int, str | None, str | None, StripeError]] = [
        (i, u.event_name, u.identifier, u.error) for i, u in unreadable.items()
    ]
    given += [(i, inputs[i].event_name, inputs[i].identifier, exc) for i, exc in out.rejected]
    if not given:
        return out
    # Lazy: a batch without rejections (the hot path) never loads the error-report machinery.
    from tally.billing import meter_error_reports
    from tally.domain import meter_error_reports as reports

    rejections = []
    for index, name, identifier, exc in sorted(given, key=lambda g: g[0]):
        meter = lookups.meter_or_none(name)
        rejections.append(
            reports.Rejection(
                meter_id=meter.id if meter else None,
                event_name=name,
                code=reports.report_code(exc, meter is not None, meter.customer_key if meter else None),
                message=exc.message,
                identifier=rules.identifier_for(identifier, account, seed, index),
            )
        )
    meter_error_reports.report(account, rejections, seed, clock)
    return out


def cancel(account: str, event_name: str, identifier: str, clock: Clock) -> None:
    """Cancel one event of the active meter for `event_name` received within 24 h — on its
    customer's test clock, if any: the window runs on the clock's time, as settlement does."""
    lookups = Lookups(account, clock)
    meter = lookups.meter(event_name, "event_name")
    usage.cancel(
        account,
        meter.formula,
        identifier,
        event_name,
        clock.now,
        lambda customer: lookups.clock_for(customer).now,
    )


def new_session(account: str, clock: Clock) -> Session:
    """A v2 meter-event session: a token that authenticates the event stream for 15 minutes."""
    token = accounts.new_session_token(account, clock)
    return Session(
        new_id("mes"), token, clock.instant, clock.instant + accounts.SESSION_SECONDS, settings().livemode
    )
