"""Products: create, update, read, delete.

`default_price` may be set on update to one of the product's own prices (None clears it).
A product can be deleted only while it has no prices (Stripe's rule): the delete is conditional
on the product's price counter being absent, which every price create bumps in its own
transaction (`billing.prices`), so a price created concurrently either makes the delete fail or
fails itself (its product is gone).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tally.billing import changes
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.records import Price, Product
from tally.errors import InvalidRequest, invalid
from tally.ids import new_id
from tally.presenters.products import product as present
from tally.settings import settings
from tally.store import lists, objects
from tally.store.changes import Change, Guard

# Fields a caller may set: name (required on create), active, description, unit_label (None
# clears), and on update default_price.
FIELDS = ("name", "active", "description", "unit_label")
NAME_MAX = 250
DESCRIPTION_MAX = 40000
UNIT_LABEL_MAX = 12


def new(fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock) -> Product:
    """A product not yet stored (prices' `product_data` stores it with the price)."""
    return Product(
        id=new_id("prod", 14),
        created=clock.now,
        updated=clock.now,
        livemode=settings().livemode,
        metadata=apply_metadata({}, metadata),
        **fields,
    )


def created(product: Product) -> Change:
    """The change storing a new product with its `product.created` event."""
    return changes.created(product, "product.created", present(product))


def create(account: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock) -> Product:
    product = new(fields, metadata, clock)
    objects.create(account, created(product), clock)
    return product


def delete(account: str, product_id: str, clock: Clock) -> Product:
    """Delete a product without prices (`product.deleted`); one with prices is a 400."""
    stored = objects.load(account, product_id, Product, clock)
    has_prices = InvalidRequest(
        "This product cannot be deleted because it has one or more user-created prices.", param="id"
    )
    if objects.count(account, product_id, Price.OBJECT):
        raise has_prices
    change = changes.created(stored.record, "product.deleted", present(stored.record))
    change.guards.append(Guard(product_id, Price.OBJECT, 0, has_prices))
    objects.delete(account, stored, change, clock)
    return stored.record


def retrieve(account: str, product_id: str, clock: Clock) -> Product:
    return objects.get(account, product_id, Product, clock)


def update(
    account: str, product_id: str, fields: dict[str, Any], metadata: MetadataUpdate, clock: Clock
) -> Product:
    """Apply `fields` (and `default_price`, which must be one of the product's own prices)."""
    stored = objects.load(account, product_id, Product, clock)
    before = stored.record
    default_price = fields.get("default_price")
    if default_price is not None:
        price = referenced(account, default_price, Price, "default_price", clock)
        if price.product != before.id:
            raise invalid("default_price", f"The price {default_price} belongs to another product.")
    after = replace(before, **fields, metadata=apply_metadata(before.metadata, metadata))
    previous = changes.previous_attributes(present(before), present(after))
    if not previous:
        return before
    after = replace(after, updated=clock.now)  # not itself a previous attribute
    objects.update(account, stored, Change(after, "product.updated", present(after), previous), clock)
    return after


def list_(account: str, window: Window, clock: Clock, *, active: bool | None = None) -> Page[Product]:
    if active is None:
        return lists.list_records(account, Product, window, clock)
    return lists.list_records(
        account,
        Product,
        window,
        clock,
        where=lambda p: p.active == active,
        any_of=[("active", "true" if active else "false")],
    )
