"""Webhook endpoints (`/v1/webhook_endpoints`) and the delivery of recorded events to them.

Endpoints: at most 16 per account (Stripe's limit), `enabled_events` among the types Tally
records or `*`, an https URL (http://127.0.0.1 in local mode), a signing secret `whsec_…` shown
once (kept apart from the record: `tally.store.webhooks`).

Delivery (`functions/webhooks`, fed by the webhook queue), at least once:

1. `{account, event}` (sent by `dispatch` for each recorded event) → `fan_out`: the account's
   enabled endpoints whose `enabled_events` match get one delivery message each, so a slow or
   failing endpoint never holds back (or re-delivers to) the others.
2. `{kind: deliver, account, event, endpoint, attempt, first, due}` → `deliver`: POST the event
   (the JSON of `GET /v1/events/{id}`, in the endpoint's `api_version`: `billing.api_versions`)
   with `Stripe-Signature`, record the attempt; a non-2xx
   answer, a timeout or a refused address schedules attempt n+1 after `retry_delay(n)` (1 min
   doubling, at most 12 h) while it starts within 3 days of the first; then it is given up.
   A message read before its `due` time is sent on again with the time left (SQS delays 15 min
   at most). An endpoint whose every attempt failed for 5 days is disabled.

Crash points of `deliver`: after the POST (the message comes back: the event is POSTed again —
receivers dedupe by event id, as with Stripe), after recording the attempt (the same attempt is
made and recorded again), after sending the retry (the retry may then exist twice). Nothing is
lost; duplicates are possible, as Stripe's deliveries are.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tally.billing import api_versions
from tally.clock import Clock
from tally.domain import webhooks as rules
from tally.domain.api_version import check as check_version
from tally.domain.listing import Page, Window, page_of
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.webhooks import Attempt, WebhookEndpoint
from tally.errors import Conflict, NotFound, invalid
from tally.ids import new_id
from tally.settings import settings
from tally.store import event_log, webhook_queue
from tally.store import webhooks as store

if TYPE_CHECKING:
    from tally.store.outbound import Answer

DELIVER = "deliver"
Post = Callable[..., "Answer"]
Send = Callable[[list[tuple[dict[str, Any], int]]], int]


# -- endpoints ------------------------------------------------------------------------------------
def _check_url(url: str) -> str:
    problem = rules.url_problem(url, local=settings().webhooks_local)
    if problem:
        raise invalid("url", f"Invalid URL: {problem}.", code="url_invalid")
    return url


def _check_events(enabled_events: list[str]) -> tuple[str, ...]:
    if not enabled_events:
        raise invalid("enabled_events", "enabled_events must name at least one event type (or '*').")
    unknown = rules.unknown_events(enabled_events)
    if unknown:
        raise invalid(
            "enabled_events",
            f"Invalid enabled_events: {unknown[0]!r} is not an event type Tally records "
            "(use '*' for all of them).",
        )
    return tuple(dict.fromkeys(enabled_events))


def create(
    account: str,
    url: str,
    enabled_events: list[str],
    description: str | None,
    metadata: MetadataUpdate,
    api_version: str | None,
    clock: Clock,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (the only time the secret is shown)."""
    events = _check_events(enabled_events)
    _check_url(url)
    if api_version is not None:
        check_version(api_version, "api_version")
    if len(store.all_of(account)) >= rules.MAX_ENDPOINTS:
        raise invalid("url", f"An account can have at most {rules.MAX_ENDPOINTS} webhook endpoints.")
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        created=clock.now,
        livemode=settings().livemode,
        url=url,
        enabled_events=events,
        api_version=api_version,
        description=description,
        metadata=apply_metadata({}, metadata),
    )
    secret = rules.SECRET_PREFIX + secrets.token_hex(32)
    store.create(account, endpoint, secret, clock)
    return endpoint, secret


def retrieve(account: str, endpoint_id: str, clock: Clock) -> WebhookEndpoint:
    return store.get(account, endpoint_id, clock).record


def update(
    account: str,
    endpoint_id: str,
    clock: Clock,
    *,
    url: str | None = None,
    enabled_events: list[str] | None = None,
    description: str | None = None,
    clear_description: bool = False,
    disabled: bool | None = None,
    metadata: MetadataUpdate = None,
) -> WebhookEndpoint:
    stored = store.get(account, endpoint_id, clock)
    before = stored.record
    after = replace(
        before,
        url=_check_url(url) if url is not None else before.url,
        enabled_events=_check_events(enabled_events) if enabled_events is not None else before.enabled_events,
        description=None if clear_description else (description or before.description),
        status=before.status if disabled is None else ("disabled" if disabled else "enabled"),
        metadata=apply_metadata(before.metadata, metadata),
    )
    if after != before:
        store.replace(account, stored, after)
        if before.status == "disabled" and after.status == "enabled":
            store.succeeded(account, endpoint_id)  # re-enabled: its failure clock starts afresh
    return after


def list_(account: str, window: Window, clock: Clock) -> Page[WebhookEndpoint]:
    found = [s.record for s in store.all_of(account)]
    if window.created_gte is not None or window.created_lte is not None:
        low, high = window.created_gte or 0, window.created_lte or 2**63
        found = [e for e in found if low <= e.created <= high]

    def missing(cursor: str, param: str) -> Exception:
        return NotFound("webhook_endpoint", cursor, param=param)

    return page_of(found, window, lambda e: e.id, missing)


def delete(account: str, endpoint_id: str, clock: Clock) -> WebhookEndpoint:
    stored = store.get(account, endpoint_id, clock)
    store.delete(account, stored)
    return stored.record


def attempts(account: str, endpoint_id: str, window: Window, clock: Clock) -> Page[Attempt]:
    """The endpoint's delivery attempts, newest first (404 when the endpoint is gone)."""
    store.get(account, endpoint_id, clock)
    return store.attempts(
        account,
        endpoint_id,
        clock,
        limit=window.limit,
        starting_after=window.starting_after,
        ending_before=window.ending_before,
    )


# -- delivery -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What handling one queue message did (logged by the worker)."""

    what: str  # fanned_out | delivered | retry_scheduled | given_up | waiting | dropped | disabled
    endpoints: int = 0
    status: int | None = None
    detail: str | None = None


def handle(
    message: dict[str, Any], clock: Clock, *, post: Post | None = None, send: Send | None = None
) -> Outcome:
    """One webhook-queue message: a recorded event to fan out, or one delivery to attempt."""
    send = send or webhook_queue.send
    account, event_id = str(message["account"]), str(message["event"])
    if message.get("kind") == DELIVER:
        if post is None:
            from tally.store import outbound  # ssl and http.client: not on the API's import path

            post = outbound.post
        return deliver(account, event_id, message, clock, post=post, send=send)
    return fan_out(account, event_id, clock, send=send)


def fan_out(account: str, event_id: str, clock: Clock, *, send: Send) -> Outcome:
    """One delivery message per enabled endpoint of the account that wants the event's type."""
    endpoints = [s.record for s in store.all_of(account)]
    if not any(e.status == "enabled" for e in endpoints):  # most accounts: one Query, nothing else
        return Outcome("fanned_out")
    try:
        event = event_log.load(account, event_id, clock)
    except NotFound:
        return Outcome("dropped", detail="event gone")
    wanted = [e for e in endpoints if e.wants(str(event["type"]))]
    messages = [
        (
            {
                "kind": DELIVER,
                "account": account,
                "event": event_id,
                "endpoint": e.id,
                "attempt": 1,
                "first": clock.now,
                "due": clock.now,
            },
            0,
        )
        for e in wanted
    ]
    if messages:
        send(messages)
    return Outcome("fanned_out", endpoints=len(messages))


def payload(event: dict[str, Any]) -> str:
    """The body POSTed: the event as `GET /v1/events/{id}` answers it, pretty-printed as Stripe's."""
    return json.dumps(event, indent=2, ensure_ascii=False)


def deliver(
    account: str, event_id: str, message: dict[str, Any], clock: Clock, *, post: Post, send: Send
) -> Outcome:
    due = int(message["due"])
    if due > clock.now:  # not yet: wait again (SQS delays at most 15 minutes per hop)
        send([(message, due - clock.now)])
        return Outcome("waiting", detail=f"due in {due - clock.now} s")
    endpoint_id, number, first = str(message["endpoint"]), int(message["attempt"]), int(message["first"])
    try:
        stored = store.get(account, endpoint_id, clock)
        event = event_log.load(account, event_id, clock)
    except NotFound as exc:
        return Outcome("dropped", detail=exc.message)
    endpoint = stored.record
    secret = store.secret_of(account, endpoint_id)
    if not endpoint.wants(str(event["type"])) or secret is None:
        return Outcome("dropped", detail="endpoint disabled or no longer subscribed")
    # The event log's copy is in Tally's shape; the endpoint gets its own version's (else the
    # account's default), as Stripe renders each endpoint's events in its api_version.
    version = endpoint.api_version or api_versions.account_default(account, clock)
    body = payload(api_versions.render(account, event, version, clock))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Tally/1.0 (+webhooks)",
        "Stripe-Signature": rules.signature_header(secret, clock.now, body),
    }
    answer = post(
        endpoint.url, body.encode(), headers, timeout=rules.TIMEOUT, local=settings().webhooks_local
    )
    attempt = Attempt(
        id=f"wha_{clock.millis:015d}{new_id('x', 10)[2:]}",
        created=clock.now,
        endpoint=endpoint_id,
        event=event_id,
        event_type=str(event["type"]),
        attempt=number,
        succeeded=answer.ok,
        duration_ms=answer.duration_ms,
        status_code=answer.status,
        error=answer.error,
    )
    if answer.ok:
        store.record_attempt(account, attempt)
        store.succeeded(account, endpoint_id)
        return Outcome("delivered", status=answer.status)
    retry_at = rules.next_retry(first, number, clock.now)
    store.record_attempt(account, replace(attempt, next_retry=retry_at))
    failing_since = store.failed(account, endpoint_id, clock.now)
    if rules.should_disable(failing_since, clock.now):
        try:
            store.replace(account, stored, replace(endpoint, status="disabled"))
        except Conflict:
            pass  # changed meanwhile (by its owner): the next failure decides again
        return Outcome("disabled", status=answer.status, detail=answer.error)
    if retry_at is None:
        return Outcome("given_up", status=answer.status, detail=answer.error)
    retry = {**message, "attempt": number + 1, "due": retry_at}
    send([(retry, retry_at - clock.now)])
    return Outcome("retry_scheduled", status=answer.status, detail=answer.error)
