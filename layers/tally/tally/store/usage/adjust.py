"""Cancelling one meter event: mark it and subtract it from its bucket (the hour, and its minute's
per-second item when it was added there), in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from tally.domain.aggregation import HOUR, Formula, floor_to
from tally.errors import Conflict, InvalidRequest
from tally.settings import settings
from tally.store import errors
from tally.store.aws import dynamodb
from tally.store.usage import figures
from tally.store.usage.actions import additive_update, cancel_mark, seconds_updates
from tally.store.usage.duplicates import event_of
from tally.store.usage.keys import SECONDS_MARK, SEGMENT_MARK, UsageKeys, event_key
from tally.store.usage.stats import STATS

CANCEL_WINDOW = 24 * 3600
BUCKET_UNITS = 2  # one item of ≤ 1 KB updated in a transaction


def cancel(
    account: str,
    formula: Formula,
    identifier: str,
    event_name: str,
    now: int,
    now_of: Callable[[str], int] | None = None,
) -> None:
    """Cancel one event received within 24 h: mark it and subtract it from its bucket, atomically.

    `now_of(customer)` is the customer's "now" (its test clock's time), default `now`: the 24 h
    run from the event's receipt on that same clock (`received`, else `created`), so a test clock
    has one time for accepting usage, cancelling it and settling its invoices. Raises
    InvalidRequest if the event is unknown, of another meter, too old, or already cancelled.
    """
    from botocore.exceptions import ClientError

    STATS.requests += 1
    item = (
        dynamodb()
        .get_item(TableName=settings().usage_table, Key=event_key(account, identifier), ConsistentRead=True)
        .get("Item")
    )
    param = "cancel[identifier]"
    if not item or int(item["expires"]["N"]) < now or item["event_name"]["S"] != event_name:
        raise InvalidRequest(
            f"No meter event with identifier '{identifier}' for event_name '{event_name}'.",
            code="resource_missing",
            param=param,
        )
    if "cancelled" in item:
        raise InvalidRequest(f"The meter event '{identifier}' is already cancelled.", param=param)
    received = int(item.get("received", item["created"])["N"])
    window_now = now if now_of is None else now_of(item["customer"]["S"])
    if received < window_now - CANCEL_WINDOW:
        raise InvalidRequest(
            f"The meter event '{identifier}' was received more than 24 hours ago and can no "
            "longer be cancelled.",
            param=param,
        )
    if not formula.additive:
        raise InvalidRequest(
            "Cancelling events of a meter with formula 'last' is not supported; send a newer "
            "event instead (see docs/API.md).",
            param=param,
        )
    event = replace(event_of(item, payload=False), identifier=identifier, event_name=event_name)
    bucket = item["bucket"]["S"]
    actions = [
        cancel_mark(account, identifier, now),
        additive_update(bucket, floor_to(event.timestamp, HOUR), [event], formula, sign=-1),
    ]
    if SECONDS_MARK in item:  # events stored before per-second items existed have none to correct
        actions += [update for _, update in seconds_updates(bucket, [event], formula, sign=-1)]
    if SEGMENT_MARK in item:  # a meter with dimensions: its segment's buckets lose it too
        segment = UsageKeys.segment_bucket(bucket, item[SEGMENT_MARK]["S"])
        actions.append(additive_update(segment, floor_to(event.timestamp, HOUR), [event], formula, sign=-1))
        actions += [update for _, update in seconds_updates(segment, [event], formula, sign=-1)]
    for _ in range(figures.ATTEMPTS):
        # The customer's running figure loses the event in the same transaction (created bare when
        # absent, so a registration reading the buckets meanwhile starts over: `figures.register`).
        figure = figures.read(account, event.meter_id, event.customer)
        STATS.requests += 1
        try:
            dynamodb().transact_write_items(
                TransactItems=[*actions, figures.read_action(account, formula, [event], figure, sign=-1)]
            )
        except ClientError as exc:
            if errors.code_of(exc) != errors.CANCELLED:
                raise
            reasons = errors.cancellation_codes(exc)
            if reasons and reasons[-1] == errors.CONDITION_FAILED and reasons[0] != errors.CONDITION_FAILED:
                continue  # the figure was registered meanwhile: read it again
            raise InvalidRequest(
                f"The meter event '{identifier}' is already cancelled.", param=param
            ) from exc
        STATS.write_units += BUCKET_UNITS * (len(actions) + 1)
        return
    raise Conflict("The meter event's usage is contended right now; retry the request (it is safe to retry).")
