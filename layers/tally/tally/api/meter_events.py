"""Meter events (v1 and the v2 stream), sessions, and adjustments: the ingest function's routes.

Every event is checked synchronously (meter active, customer exists, value, timestamp); valid
events of a batch are stored even when others are rejected, and each rejection names its index.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from tally.api import auth
from tally.api.http import Request
from tally.api.params import Params
from tally.api.routing import Routes
from tally.domain import meter_events as rules
from tally.domain.aggregation import Formula
from tally.errors import InvalidRequest, NotFound, StripeError, invalid
from tally.ids import new_id
from tally.observability import metrics
from tally.settings import settings
from tally.store import objects, usage

routes = Routes()
MAX_BATCH = 100


class _Lookups:
    """Meters by event_name and customers seen in one request (each read once)."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.meters: dict[str, dict[str, Any] | StripeError] = {}
        self.customers: dict[str, bool] = {}

    def meter(self, event_name: str, param: str) -> dict[str, Any]:
        if event_name not in self.meters:
            claim = objects.claim_of(self.account, "meter_event_name", event_name)
            meter = None
            if claim is not None:  # the claim carries the meter's ingest view (see meters.ingest_view)
                owner, view = claim
                meter = view if view is not None else objects.get(self.account, owner, "billing.meter")
            if meter is None or meter["status"] != "active":
                self.meters[event_name] = InvalidRequest(
                    f"No active meter found for event_name '{event_name}'. Create one with POST "
                    "/v1/billing/meters (or reactivate it) before sending events.",
                    code="resource_missing",
                    param=param,
                )
            else:
                self.meters[event_name] = meter
        found = self.meters[event_name]
        if isinstance(found, StripeError):
            found.param = param
            raise found
        return found

    def customer(self, customer_id: str, param: str) -> None:
        if customer_id not in self.customers:
            try:
                objects.get(self.account, customer_id, "customer")
                self.customers[customer_id] = True
            except NotFound:
                self.customers[customer_id] = False
        if not self.customers[customer_id]:
            raise InvalidRequest(f"No such customer: '{customer_id}'", code="resource_missing", param=param)


def _event(p: Params, lookups: _Lookups, now: int, *, v2: bool) -> tuple[usage.MeterEvent, dict[str, Any]]:
    event_name = p.str("event_name", required=True, max_length=rules.MAX_NAME)
    assert event_name is not None
    identifier = rules.identifier_or_new(p.str("identifier", max_length=rules.MAX_IDENTIFIER))
    if v2:
        raw_ts = p.str("timestamp", max_length=64)
        ts = now if raw_ts is None else rules.parse_rfc3339(raw_ts, p.path("timestamp"))
    else:
        given = p.int("timestamp", min=0, max=2**40)
        ts = now if given is None else given
    rules.check_timestamp(ts, now, p.path("timestamp"))
    payload_param = p.path("payload")
    sub = p.sub("payload", required=True)
    assert sub is not None
    payload = rules.check_payload(sub._data, payload_param)
    sub.ignore(*payload)
    p.done()
    meter = lookups.meter(event_name, p.path("event_name"))
    customer_key = meter["customer_mapping"]["event_payload_key"]
    customer = payload.get(customer_key)
    if not customer:
        raise InvalidRequest(
            f"Missing {payload_param}[{customer_key}]: the meter maps customers from that payload key.",
            code="parameter_missing",
            param=f"{payload_param}[{customer_key}]",
        )
    lookups.customer(customer, f"{payload_param}[{customer_key}]")
    value_key = meter["value_settings"]["event_payload_key"]
    formula = Formula(meter["default_aggregation"]["formula"])
    if formula is Formula.COUNT and value_key not in payload:
        value = 1
    else:
        value = rules.whole_number(payload.get(value_key), f"{payload_param}[{value_key}]")
    event = usage.MeterEvent(identifier, event_name, meter["id"], customer, value, ts, payload, now)
    return event, meter


def _count(accepted: int, duplicate: int, rejected: int) -> None:
    for name, n in (
        ("MeterEventsAccepted", accepted),
        ("MeterEventsDuplicate", duplicate),
        ("MeterEventsRejected", rejected),
    ):
        if n:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=n)


def _store(account: str, batch: list[tuple[usage.MeterEvent, dict[str, Any]]]) -> usage.Outcome:
    """Store events grouped by meter (each meter has its formula and shard count)."""
    outcome = usage.Outcome()
    by_meter: dict[str, list[usage.MeterEvent]] = {}
    meters: dict[str, dict[str, Any]] = {}
    for event, meter in batch:
        by_meter.setdefault(meter["id"], []).append(event)
        meters[meter["id"]] = meter
    for meter_id, events in by_meter.items():
        meter = meters[meter_id]
        part = usage.record(
            account,
            Formula(meter["default_aggregation"]["formula"]),
            int(meter.get("write_shards") or 1),
            events,
        )
        outcome.stored += part.stored
        outcome.duplicates += part.duplicates
    return outcome


@routes.route("POST /v1/billing/meter_events")
def create_v1(request: Request) -> dict[str, Any]:
    lookups = _Lookups(request.account)
    try:
        event, meter = _event(request.params(), lookups, int(request.now), v2=False)
    except StripeError:
        _count(0, 0, 1)
        raise
    outcome = _store(request.account, [(event, meter)])
    _count(len(outcome.stored), len(outcome.duplicates), 0)
    if outcome.duplicates:
        return outcome.duplicates[0][1]  # the event that stands for this identifier
    return event.body(settings().livemode)


@routes.route("POST /v2/billing/meter_event_stream", session_auth=True)
def create_stream(request: Request) -> dict[str, Any]:
    params = request.params()
    raw = params.sublist("events", required=True, max_items=MAX_BATCH)
    params.done()
    assert raw is not None
    if not raw:
        raise invalid("events", "events must hold 1–100 events.")
    lookups = _Lookups(request.account)
    now = int(request.now)
    batch: list[tuple[usage.MeterEvent, dict[str, Any]]] = []
    positions: dict[int, int] = {}
    errors = []
    for index, p in enumerate(raw):
        try:
            event, meter = _event(p, lookups, now, v2=True)
        except StripeError as exc:
            errors.append({"index": index, "code": exc.code, "param": exc.param, "message": exc.message})
            continue
        positions[id(event)] = index
        batch.append((event, meter))
    outcome = _store(request.account, batch)
    _count(len(outcome.stored), len(outcome.duplicates), len(errors))
    return {
        "object": "v2.billing.meter_event_stream.result",
        "accepted": len(outcome.stored),
        "duplicates": [
            {"index": positions[id(e)], "identifier": e.identifier, "standing": standing}
            for e, standing in outcome.duplicates
        ],
        "errors": errors,
    }


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@routes.route("POST /v2/billing/meter_event_session")
def create_session(request: Request) -> dict[str, Any]:
    request.params().done()
    token = auth.new_session_token(request.account)
    now = time.time()
    return {
        "id": new_id("mes"),
        "object": "v2.billing.meter_event_session",
        "authentication_token": token,
        "created": _rfc3339(now),
        "expires_at": _rfc3339(now + auth.SESSION_SECONDS),
        "livemode": settings().livemode,
    }


@routes.route("POST /v1/billing/meter_event_adjustments")
def adjust(request: Request) -> dict[str, Any]:
    params = request.params()
    event_name = params.str("event_name", required=True, max_length=rules.MAX_NAME)
    params.str("type", choices=("cancel",))
    cancel = params.sub("cancel", required=True)
    assert cancel is not None and event_name is not None
    identifier = cancel.str("identifier", required=True, max_length=rules.MAX_IDENTIFIER)
    assert identifier is not None
    cancel.done()
    params.done()
    meter = _Lookups(request.account).meter(event_name, "event_name")
    usage.cancel(request.account, Formula(meter["default_aggregation"]["formula"]), identifier, event_name)
    return {
        "object": "billing.meter_event_adjustment",
        "cancel": {"identifier": identifier},
        "event_name": event_name,
        "livemode": settings().livemode,
        "status": "complete",
        "type": "cancel",
    }
