"""What a write of the object store is made of: the records read (`Stored`), the `Change` of one
record with its event, and what a change claims, checks, counts or keeps in step beside it.

Plain data, no I/O: `tally.store.transactions` turns a list of `Write`s into one
TransactWriteItems, `tally.store.event_log` turns a `Change` into its `evt_…` entry, and
`tally.store.objects` reads and writes single records with them.

Counters (`Counter`, `Guard`) keep how many objects of a kind were ever created for an owner (a
product's prices, a customer's subscriptions) in a small item beside the owner's, bumped in the
creating transaction. Deleting the owner is conditional on the count it read (and removes the
counter), and the creating transaction checks that the owner still exists (`Exists`): of a
delete and a concurrent create, whichever commits second fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from tally.errors import StripeError
from tally.store.models import ObjectItem


class Record(Protocol):
    OBJECT: Any  # ClassVar[str] on every record
    id: str


R = TypeVar("R", bound=Record)


@dataclass
class Unique:
    """A claim that `value` of `kind` belongs to one object, enforced by a conditional put."""

    kind: str
    value: str
    error: StripeError
    data: dict[str, Any] | None = None  # kept on the claim: what a reader needs without the owner
    from_owner: str | None = None  # a transfer: taken over from this owner, if it still holds it


@dataclass
class Counter:
    """Bump the count of `kind` objects created for `owner` (e.g. a product's prices)."""

    owner: str
    kind: str


@dataclass
class Guard:
    """`owner`'s count of `kind` is still `count` (0: none ever); the counter goes with its owner."""

    owner: str
    kind: str
    count: int
    error: StripeError


@dataclass
class Exists:
    """The object `object_id` must still exist when the transaction commits."""

    object_id: str
    error: StripeError


@dataclass
class Side:
    """Another item a change keeps in step, written in its transaction (an alert's watch list):
    Put `item` if its stored `version` is still the one read (0: it must not exist yet). A
    concurrent change of the same item cancels the transaction (409, retry)."""

    item: ObjectItem
    version: int


@dataclass
class Amount:
    """Move the figure kept at (`owner`, `kind`) by `delta` (an atomic `ADD`), never below 0: a
    negative `delta` needs at least `-delta` left, else the transaction fails with `error`. With
    `exactly`, the figure must also still be the one read (a debit taking all that is left). With
    `start`, the item is new and holds `delta` (it must not exist yet). A credit grant's remaining
    credits (`tally.billing.credit_ledger`)."""

    owner: str
    kind: str
    delta: int
    error: StripeError
    exactly: int | None = None
    start: bool = False


@dataclass
class Stored(Generic[R]):
    record: R
    version: int
    created_ms: int


@dataclass
class Change:
    """What one write does: the record after it, the event it records, what to claim or release.

    `event_object` is the Stripe object the event carries (`data.object`), presented by the
    caller; `previous_attributes` is Stripe's `data.previous_attributes` for updates. An
    `event_type` of None records no event: Stripe has none for that change (an alert's status).
    """

    record: Any
    event_type: str | None
    event_object: dict[str, Any]
    previous_attributes: dict[str, Any] | None = None
    claim: list[Unique] = field(default_factory=list)
    release: list[tuple[str, str]] = field(default_factory=list)
    bump: list[Counter] = field(default_factory=list)
    requires: list[Exists] = field(default_factory=list)
    guards: list[Guard] = field(default_factory=list)
    sides: list[Side] = field(default_factory=list)
    amounts: list[Amount] = field(default_factory=list)
    # further events the write records, in order after the first (`event_type`, `data.object`):
    # an invoice created and finalized at once records `invoice.created` then `invoice.finalized`
    also: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # thin events (Stripe's v2 style, `v1.billing.credit_grant.created`): the type and the
    # `related_object` ({id, type, url}) each carries instead of the object's snapshot
    thin: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    related_object: dict[str, Any] | None = None  # set on the event change of a thin event
    # more of a thin event's `data`, by its type (`v2.billing.cadence.billed`: `invoices`)
    thin_data: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def actions(self) -> int:
        """Transaction actions this change takes: record, events, claims, checks, counters, sides."""
        parts = (
            self.claim,
            self.release,
            self.bump,
            self.requires,
            self.guards,
            self.sides,
            self.amounts,
            self.also,
            self.thin,
        )
        return 1 + (self.event_type is not None) + sum(len(p) for p in parts)

    def events(self) -> list[Change]:
        """Each event this change records, as a change of its own (this one first, unless its
        `event_type` is None)."""
        first = [self] if self.event_type is not None else []
        also = [Change(self.record, kind, shown) for kind, shown in self.also]
        # a thin event's `data.object` names its object (and customer: notification filters read it)
        shown = {"id": "", "object": ""}
        customer = getattr(self.record, "customer", None)
        if isinstance(customer, str):
            shown["customer"] = customer
        thin = [
            Change(
                self.record,
                kind,
                {**shown, "id": rel["id"], "object": rel["type"]},
                related_object=rel,
                thin_data={kind: self.thin_data[kind]} if kind in self.thin_data else {},
            )
            for kind, rel in self.thin
        ]
        return [*first, *also, *thin]


@dataclass
class Write:
    """One change of a `commit`: a create (`stored` None), an update, or a delete of `stored`."""

    change: Change
    stored: Stored[Any] | None = None
    delete: bool = False


@dataclass
class Aux:
    """An item a commit writes beside its records, with no event of its own (what an invoice
    billed: `tally.store.billed`). A Put of `body` at (`pk`, `sk`): new when `version` is None,
    else only over `version` (then bumped); or, with `body` None, a delete if still at `version`.
    A failed condition raises `error`."""

    pk: str
    sk: str
    body: str | None
    version: int | None
    error: StripeError
    kind: str = "aux"
