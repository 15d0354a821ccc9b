"""Bulk loading without events or claims: fixtures for tests and bench/, and backfills.

`put_records` writes records as `objects.create` stores them (the record item and what lists
need to find it), with BatchWriteItem instead of one transaction each: no event is written and
no uniqueness is claimed, so only load records whose claims (lookup keys, active meters' event
names) do not matter. `put_events` writes event-log entries as `event_log.entry` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tally.store import event_log, subscription_periods
from tally.store.models import ObjectItem, bind
from tally.store.transactions import record_items


def put_records(account: str, records: Iterable[tuple[Any, int]]) -> int:
    """Write (record, created_ms) pairs; returns the number of items written. A loaded
    subscription makes its customer's `subscription_periods` item unknown (deleted): alerts then
    query the subscriptions."""
    bind()
    written = 0
    customers: set[str] = set()
    with ObjectItem.batch_write() as batch:
        for record, created_ms in records:
            for item in record_items(account, record, created_ms):
                batch.save(item)
                written += 1
            if record.OBJECT == "subscription":
                customers.add(record.customer)
        for customer in sorted(customers):
            pk, sk = subscription_periods.key(account, customer)
            batch.delete(ObjectItem(pk=pk, sk=sk))
    return written


def put_events(account: str, bodies: Iterable[tuple[dict[str, Any], int]]) -> int:
    """Write (Stripe event body, sort_ms) pairs; returns the number of items written."""
    bind()
    written = 0
    with ObjectItem.batch_write() as batch:
        for body, sort_ms in bodies:
            for item in event_log.items(account, body, sort_ms):
                batch.save(item)
                written += 1
    return written
