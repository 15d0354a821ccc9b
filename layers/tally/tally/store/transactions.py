"""The transaction machinery of the object store: every change written with its event, at once.

Every change is one TransactWriteItems: the record, any uniqueness claims, counters and checks
(`tally.store.changes`), and the `evt_…` event-log entry (`tally.store.event_log`). A change
without its event, or an event without its change, cannot exist. `commit` writes several changes
(a product and its price, two prices trading a lookup key, a customer and its subscriptions) in
one transaction. Conditional checks turn races into clean domain errors (`tally.store.errors`).
Records are encoded by `tally.store.codec`; every key starts with the account id
(`tally.store.models`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from tally.clock import Clock
from tally.errors import StripeError
from tally.settings import settings
from tally.store import bodies, codec, event_log, filters, recent, search_index, subscription_periods
from tally.store.changes import Amount, Aux, Change, Unique, Write
from tally.store.due import due_shard
from tally.store.errors import raise_translated
from tally.store.models import OBJECT_SK, ObjectItem, bind

MAX_ACTIONS = 100  # DynamoDB's limit of actions in one TransactWriteItems

_connections: dict[tuple[str, str | None], Connection] = {}


def connection() -> Connection:
    """One PynamoDB connection per (region, endpoint), reused: a new one costs a botocore client."""
    s = settings()
    key = (s.region, s.endpoint_url)
    if key not in _connections:
        _connections[key] = Connection(region=s.region, host=s.endpoint_url)
    return _connections[key]


class _Tx:
    """A TransactWrite that remembers, per action, the error its failed condition means.

    PynamoDB sends a transaction's actions grouped by type — condition checks, deletes, puts,
    updates — whatever order they were added in; `errors` follows that order, which is the order
    of DynamoDB's cancellation reasons.
    """

    def __init__(self, tx: TransactWrite) -> None:
        self.tx = tx
        self._errors: dict[str, list[StripeError | None]] = {
            k: [] for k in ("check", "delete", "put", "update")
        }

    @property
    def errors(self) -> list[StripeError | None]:
        return [e for kind in ("check", "delete", "put", "update") for e in self._errors[kind]]

    def save(self, item: ObjectItem, condition: Any = None, error: StripeError | None = None) -> None:
        self.tx.save(item, condition=condition)
        self._errors["put"].append(error)

    def delete(self, item: ObjectItem, condition: Any = None, error: StripeError | None = None) -> None:
        self.tx.delete(item, condition=condition)
        self._errors["delete"].append(error)

    def update(
        self, item: ObjectItem, actions: list[Any], condition: Any = None, error: StripeError | None = None
    ) -> None:
        self.tx.update(item, actions=actions, condition=condition)
        self._errors["update"].append(error)

    def check(self, pk: str, sk: str, condition: Any, error: StripeError) -> None:
        self.tx.condition_check(ObjectItem, pk, sk, condition=condition)
        self._errors["check"].append(error)


def _run(account: str, write: Callable[[_Tx], None]) -> None:
    """One transaction of `account`; a failed condition raises the error its action names, other
    races a 409. Whatever came of it, nothing the meter-event routes kept of the account
    (`store.recent`) answers again in this process."""
    bind()
    tx: _Tx | None = None
    try:
        with TransactWrite(connection=connection()) as raw:
            tx = _Tx(raw)
            write(tx)
    except TransactWriteError as exc:
        raise_translated(exc, tx.errors if tx is not None else [], transaction=True)
    finally:
        recent.forget(account)


def _record_item(account: str, record: Any, created_ms: int, version: int) -> ObjectItem:
    sort = ObjectItem.list_sort(created_ms, record.id)
    customer = getattr(record, "customer", None) if record.OBJECT != "customer" else None
    owned = isinstance(customer, str)
    item = ObjectItem(
        pk=ObjectItem.object_key(account, record.id),
        sk=OBJECT_SK,
        lpk=ObjectItem.list_key(account, record.OBJECT),
        lsk=sort,
        # Objects that belong to a customer (subscriptions) are also listed per customer.
        cpk=ObjectItem.customer_list_key(account, str(customer), record.OBJECT) if owned else None,
        csk=sort if owned else None,
        kind=record.OBJECT,
        version=version,
    )
    # a grant: its expiry; a v2 cadence: its next tick; a pricing plan subscription: its next
    # servicing event or service action grant (`tally.billing.plan_servicing`, `service_grants`)
    scheduled = (
        "subscription",
        "invoice",
        "billing.credit_grant",
        "v2.billing.cadence",
        "v2.billing.pricing_plan_subscription",
    )
    due = getattr(record, "due_at", None) if record.OBJECT in scheduled else None
    if due is not None:  # the scheduled close finds it (`tally.store.due`); gone once it ends
        wakes = getattr(record, "wakes_at", None) or due  # a reminder before a period end
        item.dpk = ObjectItem.due_key(due_shard(account, record.id))
        item.dsk = ObjectItem.due_sort(wakes, account, record.id, due)
    item.set_body(codec.dumps(record))
    return item


def _fits(item: ObjectItem, change: Change, what: str) -> ObjectItem:
    """`item`, checked against DynamoDB's 400 KB before anything is written: otherwise a 400
    `object_too_large` naming the largest field of the object (where shortening helps most)."""
    attributes = item.serialize()
    if bodies.item_size(attributes) >= bodies.MAX_ITEM_BYTES:
        fields = {**change.event_object, **(change.previous_attributes or {})}
        largest = max(fields, key=lambda k: len(json.dumps(fields[k], ensure_ascii=False)), default=None)
        bodies.check_item(attributes, largest, what)
    return item


def record_items(account: str, record: Any, created_ms: int) -> list[ObjectItem]:
    """Every item stored for a new record (bulk loads): the record item and its filter entries."""
    item = _record_item(account, record, created_ms, 1)
    return [
        item,
        *filters.entries(account, record.OBJECT, record.id, str(item.lsk), filters.of_record(record)),
    ]


def _claim_item(account: str, claim: Unique, owner: str) -> ObjectItem:
    return ObjectItem(
        pk=ObjectItem.unique_key(account, claim.kind, claim.value),
        owner=owner,
        body=codec.dumps(claim.data) if claim.data is not None else None,
    )


def _counter_item(account: str, owner: str, kind: str) -> ObjectItem:
    return ObjectItem(pk=ObjectItem.object_key(account, owner), sk=ObjectItem.counter_sk(kind))


def _conditions(tx: _Tx, account: str, change: Change) -> None:
    """Claims (first), releases, existence checks, guards and counters of one change."""
    for claim in change.claim:
        free = ObjectItem.pk.does_not_exist()
        taken = free if claim.from_owner is None else ObjectItem.owner == claim.from_owner
        tx.save(_claim_item(account, claim, change.record.id), condition=taken, error=claim.error)
    for kind, value in change.release:
        tx.delete(ObjectItem(pk=ObjectItem.unique_key(account, kind, value), sk=OBJECT_SK))
    for needed in change.requires:
        pk = ObjectItem.object_key(account, needed.object_id)
        tx.check(pk, OBJECT_SK, ObjectItem.pk.exists(), needed.error)
    for guard in change.guards:
        same = ObjectItem.pk.does_not_exist() if guard.count == 0 else ObjectItem.version == guard.count
        tx.delete(_counter_item(account, guard.owner, guard.kind), condition=same, error=guard.error)
    for counter in change.bump:
        tx.update(_counter_item(account, counter.owner, counter.kind), [ObjectItem.version.add(1)])
    for side in change.sides:
        same = ObjectItem.pk.does_not_exist() if side.version == 0 else ObjectItem.version == side.version
        tx.save(side.item, condition=same)
    for amount in change.amounts:
        _amount(tx, account, amount)


def _amount(tx: _Tx, account: str, a: Amount) -> None:
    """An `Amount` move: a new figure, or an `ADD` that never takes the figure below 0."""
    item = ObjectItem(pk=ObjectItem.object_key(account, a.owner), sk=ObjectItem.amount_sk(a.kind))
    if a.start:
        item.kind, item.amount = "amount", a.delta
        tx.save(item, condition=ObjectItem.pk.does_not_exist(), error=a.error)
        return
    condition = ObjectItem.pk.exists()
    if a.delta < 0:
        condition &= ObjectItem.amount >= -a.delta
    if a.exactly is not None:
        condition &= ObjectItem.amount == a.exactly
    tx.update(item, [ObjectItem.amount.add(a.delta)], condition=condition, error=a.error)


def _record(tx: _Tx, account: str, w: Write, clock: Clock) -> str:
    """Add the record's own action; returns its list sort key."""
    record = w.change.record
    if w.stored is None:
        item = _record_item(account, record, event_log.sort_stamp(clock), 1)
        tx.save(_fits(item, w.change, record.OBJECT), condition=ObjectItem.pk.does_not_exist())
        return str(item.lsk)
    if w.delete:
        key = ObjectItem(pk=ObjectItem.object_key(account, record.id), sk=OBJECT_SK)
        tx.delete(key, condition=ObjectItem.version == w.stored.version)
    else:
        item = _record_item(account, record, w.stored.created_ms, w.stored.version + 1)
        tx.save(_fits(item, w.change, record.OBJECT), condition=ObjectItem.version == w.stored.version)
    return ObjectItem.list_sort(w.stored.created_ms, record.id)


def actions(w: Write) -> int:
    """The transaction actions `w` takes, search-index entries aside (they take the room left):
    its change's own, its filter entries added or removed, and its event's filter entries."""
    before = filters.of_record(w.stored.record) if w.stored is not None else frozenset()
    after = frozenset() if w.delete else filters.of_record(w.change.record)
    types = sum(len(filters.of_event_type(c.event_type or "")) for c in w.change.events())
    return w.change.actions + len(before ^ after) + types


def fits(writes: Sequence[Write]) -> bool:
    return sum(actions(w) for w in writes) <= MAX_ACTIONS


def _aux(tx: _Tx, a: Aux) -> None:
    if a.body is None:
        assert a.version is not None  # a delete is of an item read
        key = ObjectItem(pk=a.pk, sk=a.sk)
        tx.delete(key, condition=ObjectItem.version == a.version, error=a.error)
        return
    item = ObjectItem(pk=a.pk, sk=a.sk, kind=a.kind, body=a.body, version=(a.version or 0) + 1)
    same = ObjectItem.pk.does_not_exist() if a.version is None else ObjectItem.version == a.version
    tx.save(item, condition=same, error=a.error)


def commit(account: str, writes: Sequence[Write], clock: Clock, aux: Sequence[Aux] = ()) -> None:
    """Every change and its event in ONE TransactWriteItems: all or nothing, ≤ 100 actions.

    Conditions come first, so a failed claim, check or guard raises its own error; a record
    changed since it was read (optimistic lock) or any other race is a 409. No two writes may name
    the same item (DynamoDB rejects a transaction touching one item twice). `aux` items (each
    version-checked, `Aux`) ride in the same transaction, with the customer's
    `subscription_periods` item when a subscription write changes it (what alerts read).
    """
    aux = [*aux, *subscription_periods.aux_for(account, writes)]
    used = sum(actions(w) for w in writes) + len(aux)
    if used > MAX_ACTIONS:
        raise ValueError(f"one transaction takes at most {MAX_ACTIONS} actions")
    later: list[ObjectItem] = []

    def write(tx: _Tx) -> None:
        room = MAX_ACTIONS - used
        for a in aux:
            _aux(tx, a)
        for w in writes:
            _conditions(tx, account, w.change)
        sorts = []
        for w in writes:
            sort = _record(tx, account, w, clock)
            sorts.append(sort)
            before = w.stored.record if w.stored is not None else None
            filters.write(tx, account, w.change.record, sort, before, deleted=w.delete)
            for change in w.change.events():
                event, *entries = event_log.items_of(account, event_log.entry(account, change, clock))
                tx.save(_fits(event, change, "event"))
                for entry in entries:
                    tx.save(entry)
        for w, sort in zip(writes, sorts, strict=True):  # the search index, in the room left
            before = w.stored.record if w.stored is not None else None
            added, left = search_index.write(
                tx, account, w.change, before=before, sort=sort, room=room, deleted=w.delete
            )
            room -= added
            later.extend(left)

    _run(account, write)
    search_index.write_after(later)


class _Taken(StripeError):
    """The claim of `claim_with_event` is already held (never leaves this module)."""


def claim_with_event(
    account: str,
    kind: str,
    value: str,
    owner: str,
    event_type: str,
    event_object: dict[str, Any],
    clock: Clock,
) -> bool:
    """Claim `value` of `kind` for `owner` and record an event about it, in ONE transaction:
    both or neither. False (nothing written) when the claim is already held — so of any number
    of concurrent callers exactly one records the event (an alert's trigger)."""
    change = Change(None, event_type, event_object)
    claim = ObjectItem(pk=ObjectItem.unique_key(account, kind, value), owner=owner)

    def write(tx: _Tx) -> None:
        tx.save(claim, condition=ObjectItem.pk.does_not_exist(), error=_Taken("taken"))
        event, *entries = event_log.items_of(account, event_log.entry(account, change, clock))
        tx.save(_fits(event, change, "event"))
        for entry in entries:
            tx.save(entry)

    try:
        _run(account, write)
    except _Taken:
        return False
    return True


def aux_with_events(
    account: str, aux: Sequence[Aux], events: Sequence[tuple[str, dict[str, Any]]], clock: Clock
) -> None:
    """Write `aux` items (each version-checked) and record `events` (type, `data.object`) in ONE
    transaction: all or nothing. A failed version raises the item's `error` (a credit watch's
    crossing: `tally.store.credit_watch.transition`)."""
    changes = [Change(None, kind, shown) for kind, shown in events]

    def write(tx: _Tx) -> None:
        for a in aux:
            _aux(tx, a)
        for change in changes:
            event, *entries = event_log.items_of(account, event_log.entry(account, change, clock))
            tx.save(_fits(event, change, "event"))
            for entry in entries:
                tx.save(entry)

    _run(account, write)
