"""Customers: create, update, delete, read."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tally.billing import changes
from tally.clock import Clock
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.records import Customer
from tally.ids import new_id
from tally.presenters.customers import customer as present
from tally.settings import settings
from tally.store import lists, objects

# Fields a caller may set: name, email, description, phone (None clears).
FIELDS = ("name", "email", "description", "phone")


def create(account: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock) -> Customer:
    customer = Customer(
        id=new_id("cus", 14),
        created=clock.now,
        livemode=settings().livemode,
        invoice_prefix=new_id("x", 8)[2:].upper(),
        metadata=apply_metadata({}, metadata),
        **fields,
    )
    objects.create(account, changes.created(customer, "customer.created", present(customer)), clock)
    return customer


def retrieve(account: str, customer_id: str, clock: Clock) -> Customer:
    return objects.get(account, customer_id, Customer, clock)


def update(
    account: str, customer_id: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock
) -> Customer:
    stored = objects.load(account, customer_id, Customer, clock)
    before = stored.record
    after = replace(before, **fields, metadata=apply_metadata(before.metadata, metadata))
    change = changes.updated(after, "customer.updated", present(before), present(after))
    if change is None:
        return before
    objects.update(account, stored, change, clock)
    return after


def delete(account: str, customer_id: str, clock: Clock) -> Customer:
    stored = objects.load(account, customer_id, Customer, clock)
    objects.delete(
        account, stored, changes.created(stored.record, "customer.deleted", present(stored.record)), clock
    )
    return stored.record


def list_(account: str, window: Window, clock: Clock, *, email: str | None = None) -> Page[Customer]:
    if not email:
        return lists.list_records(account, Customer, window, clock)
    return lists.list_records(
        account, Customer, window, clock, where=lambda c: c.email == email, any_of=[("email", email)]
    )
