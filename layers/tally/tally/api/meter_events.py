"""Meter events (v1, v2 and the v2 stream), sessions, and adjustments (v1, v2): the ingest
function's routes.

Every event is checked synchronously (meter active, customer exists, value, timestamp); valid
events of a batch are stored even when others are rejected, and each rejection names its index.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from tally.api.http import Request
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import meter_events
from tally.billing.meter_events import EventInput, Unreadable
from tally.domain import meter_events as rules
from tally.domain.records import MeterEvent
from tally.errors import IdempotencyError, StripeError, invalid
from tally.ids import new_id
from tally.observability import metrics
from tally.presenters import meter_events as present
from tally.settings import settings

routes = Routes()
MAX_BATCH = 100


def _event(p: Params, *, v2: bool) -> EventInput:
    event_name = p.str("event_name", required=True, max_length=rules.MAX_NAME)
    assert event_name is not None
    identifier = p.str("identifier", max_length=rules.MAX_IDENTIFIER)
    if v2:
        raw_ts = p.str("timestamp", max_length=64)
        ts = None if raw_ts is None else rules.parse_rfc3339(raw_ts, p.path("timestamp"))
    else:
        ts = p.int("timestamp", min=0, max=2**40)
    sub = p.sub("payload", required=True)
    assert sub is not None
    payload = rules.check_payload(sub._data, p.path("payload"))
    sub.ignore(*payload)
    p.done()
    return EventInput(event_name, payload, identifier, ts, p._prefix)


def _text(p: Params, name: str) -> str | None:
    """A raw string parameter of an event that failed to parse (for its error report), if usable."""
    value = p._data.get(name) if isinstance(p._data, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= rules.MAX_NAME else None


def _seed(request: Request, *, always: bool) -> str | None:
    """The request's seed for derived identifiers: from its Idempotency-Key and body; without a
    key, from the body alone when `always` (the v2 stream), else None (v1: random, as Stripe)."""
    key = request.headers.get("idempotency-key")
    if key is None and not always:
        return None
    return rules.request_seed(request.path, key, request.data)


def _count(accepted: int, duplicate: int, rejected: int) -> None:
    for name, n in (
        ("MeterEventsAccepted", accepted),
        ("MeterEventsDuplicate", duplicate),
        ("MeterEventsRejected", rejected),
    ):
        if n:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=n)


def _create_one(request: Request, *, v2: bool) -> MeterEvent:
    """One event, checked synchronously (its error is the answer): the event stored, or the one
    that stands for its identifier. v2 derives a missing identifier from the request as the
    stream does (`_seed`); v1 only with an Idempotency-Key."""
    try:
        given = _event(request.params(), v2=v2)
    except StripeError:
        _count(0, 0, 1)
        raise
    key = request.headers.get("idempotency-key") if not v2 else None
    if key:  # v1 keeps its Idempotency-Key on the event's item (`Route.own_idempotency`)
        tag = rules.request_tag(request.path, key, request.data)
        seed: str | None = rules.request_seed(request.path, key, None)  # the key alone names the event
    else:
        tag, seed = None, _seed(request, always=v2)
    result = meter_events.accept(
        request.account, {0: given}, request.clock, seed=seed, request_tag=tag, presented=request.presented
    )
    if result.rejected:
        _count(0, 0, 1)
        raise result.rejected[0][1]
    _count(len(result.stored), len(result.duplicates), 0)
    if result.duplicates:
        standing = result.duplicates[0][2]  # the event that stands for this identifier
        if key and rules.same_key(tag, standing.request):
            if standing.request != tag:
                raise IdempotencyError(
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                    code="idempotency_key_reused",
                )
            request.replayed = True  # this key's first request stored it: answer as it did
        return standing
    return result.events[0]


@routes.route("POST /v1/billing/meter_events", own_idempotency=True, key_with_lookups=True)
def create_v1(request: Request) -> dict[str, Any]:
    return present.meter_event(_create_one(request, v2=False))


@routes.route("POST /v2/billing/meter_event_stream", session_auth=True, key_with_lookups=True)
def create_stream(request: Request) -> dict[str, Any]:
    params = request.params()
    raw = params.sublist("events", required=True, max_items=MAX_BATCH)
    params.done()
    assert raw is not None
    if not raw:
        raise invalid("events", "events must hold 1–100 events.")
    inputs: dict[int, EventInput] = {}
    unreadable: dict[int, Unreadable] = {}
    for index, p in enumerate(raw):
        name, identifier = _text(p, "event_name"), _text(p, "identifier")  # before parsing reads them
        try:
            inputs[index] = _event(p, v2=True)
        except StripeError as exc:
            unreadable[index] = Unreadable(name, identifier, exc)
    seed = _seed(request, always=True)
    assert seed is not None
    result = meter_events.accept_stream(
        request.account, inputs, unreadable, request.clock, seed, presented=request.presented
    )
    rejected = sorted([(i, u.error) for i, u in unreadable.items()] + result.rejected, key=lambda r: r[0])
    _count(len(result.stored), len(result.duplicates), len(rejected))
    errors = [
        {"index": index, "code": exc.code, "param": exc.param, "message": exc.message}
        for index, exc in rejected
    ]
    return present.stream_result(len(result.stored), result.duplicates, errors)


@routes.route("POST /v2/billing/meter_events", key_with_lookups=True)
def create_v2(request: Request) -> dict[str, Any]:
    """Stripe's v2 create: v1's rules and answer, with the stream's identifiers and dedupe."""
    return present.v2_meter_event(_create_one(request, v2=True))


@routes.route("POST /v2/billing/meter_event_session")
def create_session(request: Request) -> dict[str, Any]:
    request.params().done()
    s = meter_events.new_session(request.account, request.clock)
    return present.session(s.id, s.token, s.created, s.expires_at, s.livemode)


def _adjustment(request: Request, *, v2: bool) -> tuple[str, str]:
    """Read an adjustment (`type` is required on v2, as Stripe's v2 params type it) and cancel
    its event; returns (event_name, identifier)."""
    params = request.params()
    event_name = params.str("event_name", required=True, max_length=rules.MAX_NAME)
    params.str("type", required=v2, choices=("cancel",))
    cancel = params.sub("cancel", required=True)
    assert cancel is not None and event_name is not None
    identifier = cancel.str("identifier", required=True, max_length=rules.MAX_IDENTIFIER)
    assert identifier is not None
    cancel.done()
    params.done()
    meter_events.cancel(request.account, event_name, identifier, request.clock)
    return event_name, identifier


@routes.route("POST /v1/billing/meter_event_adjustments")
def adjust(request: Request) -> dict[str, Any]:
    event_name, identifier = _adjustment(request, v2=False)
    return present.adjustment(event_name, identifier, settings().livemode)


@routes.route("POST /v2/billing/meter_event_adjustments")
def adjust_v2(request: Request) -> dict[str, Any]:
    """The v2 adjustment: v1's cancel, answered as `v2.billing.meter_event_adjustment` (an id and
    `created`; Stripe has no endpoint to read it back, so nothing more is stored)."""
    event_name, identifier = _adjustment(request, v2=True)
    return present.v2_adjustment(
        new_id("mtr_event_adj"), event_name, identifier, request.clock.instant, settings().livemode
    )
