"""Prices: create, update, read, with the billing rules a parsed request must still satisfy.

- `tiered` prices must be recurring (Stripe only offers tiers on recurring prices), take
  `tiers_mode` and `tiers` and no `unit_amount` or `transform_quantity`; per-unit prices need
  `unit_amount` and take no tiers.
- For the three-decimal currencies (BHD JOD KWD OMR TND) every amount must be a multiple of 10.
- A metered price names an active meter.
- `lookup_key` is unique among an account's prices (a uniqueness claim in the store).
  `transfer_lookup_key` moves it in ONE transaction: the claim changes owner (conditional on the
  old owner still holding it), the old price loses the key (`price.updated`, version-checked) and
  the new price is created or updated with its event. A concurrent claim makes the whole request
  fail with the usual "already uses" error and changes nothing; no price is ever left without a
  key it held.
- `product_data` creates the product (its own `product.created` event) in the same transaction
  as the price: a failed lookup-key claim leaves no product behind.
- Every price bumps its product's price counter in its transaction (and checks the product still
  exists), so deleting a product with prices is refused race-free (`billing.products.delete`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from tally.billing import changes, products
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.pricing import THREE_DECIMAL_CURRENCIES, Tier
from tally.domain.records import Meter, Price, Product, Recurring, Transform
from tally.errors import InvalidRequest, invalid
from tally.ids import new_id
from tally.presenters.prices import price as present
from tally.settings import settings
from tally.store import claims, lists, objects, transactions
from tally.store.changes import Change, Counter, Exists, Unique, Write

LOOKUP_KEY = "price_lookup_key"


@dataclass(frozen=True)
class Amount:
    """An amount as the request gave it: the value and the parameter it came in."""

    value: Decimal
    param: str  # `unit_amount`, `unit_amount_decimal`, `tiers[0][flat_amount]`…


@dataclass(frozen=True)
class NewPrice:
    """A parsed `POST /v1/prices`: exactly one of `product` and `product_fields` is set."""

    currency: str
    product: str | None = None
    product_fields: dict[str, Any] | None = None  # `product_data`: the product to create
    product_metadata: MetadataUpdate = None
    billing_scheme: str = "per_unit"
    tiers_mode: str | None = None
    unit_amount: Amount | None = None
    tiers: tuple[Tier, ...] | None = None
    tier_amounts: tuple[Amount, ...] = ()  # every amount in `tiers`, as given (currency rules)
    transform: Transform | None = None
    recurring: Recurring | None = None
    active: bool | None = None
    nickname: str | None = None
    lookup_key: str | None = None
    transfer_lookup_key: bool = False
    tax_behavior: str | None = None
    metadata: MetadataUpdate = None


@dataclass(frozen=True)
class PriceFilter:
    """`GET /v1/prices` filters; None matches everything."""

    active: bool | None = None
    product: str | None = None
    type: str | None = None
    currency: str | None = None
    lookup_keys: frozenset[str] | None = None
    recurring: dict[str, str] = field(default_factory=dict)  # interval, usage_type, meter

    def partition(self) -> tuple[str, str]:
        """The by_field partition to read (tally.store.filters): the most selective filter set."""
        r = self.recurring
        for name, value in (
            ("product", self.product),
            ("recurring.meter", r.get("meter")),
            ("currency", self.currency),
            ("recurring.interval", r.get("interval")),
            ("type", self.type),
            ("recurring.usage_type", r.get("usage_type")),
            ("active", None if self.active is None else ("true" if self.active else "false")),
        ):
            if value is not None:
                return name, value
        raise ValueError("no filter set")

    def matches(self, p: Price) -> bool:
        if self.active is not None and p.active != self.active:
            return False
        if self.product is not None and p.product != self.product:
            return False
        if self.type is not None and p.type != self.type:
            return False
        if self.currency is not None and p.currency != self.currency:
            return False
        if self.lookup_keys is not None and p.lookup_key not in self.lookup_keys:
            return False
        return all(
            p.recurring is not None and getattr(p.recurring, name) == value
            for name, value in self.recurring.items()
        )


def _check_three_decimal(currency: str, amount: Amount | None) -> None:
    if currency in THREE_DECIMAL_CURRENCIES and amount is not None and amount.value % 10 != 0:
        raise invalid(
            amount.param,
            f"Amounts in {currency.upper()} must be multiples of 10 (the last decimal place must be 0; "
            f"e.g. 12340, not 12345).",
        )


def _check_meter(account: str, recurring: Recurring | None, clock: Clock) -> None:
    if recurring is None or recurring.meter is None:
        return
    meter = referenced(account, recurring.meter, Meter, "recurring[meter]", clock, label="billing meter")
    if not meter.active:
        raise invalid("recurring[meter]", f"The meter {recurring.meter} is inactive; reactivate it first.")


def _check_scheme(new: NewPrice) -> None:
    if new.billing_scheme == "tiered":
        if new.unit_amount is not None:
            raise invalid("unit_amount", "unit_amount cannot be used with billing_scheme=tiered; use tiers.")
        if new.tiers_mode is None:
            raise InvalidRequest(
                "tiers_mode is required when billing_scheme=tiered.",
                code="parameter_missing",
                param="tiers_mode",
            )
        if new.tiers is None:
            raise InvalidRequest(
                "tiers are required when billing_scheme=tiered.", code="parameter_missing", param="tiers"
            )
        if new.transform is not None:
            raise invalid("transform_quantity", "transform_quantity cannot be combined with tiers.")
        if new.recurring is None:
            raise invalid("billing_scheme", "Tiered prices must be recurring: pass recurring[interval].")
        return
    if new.tiers is not None or new.tiers_mode is not None:
        raise invalid(
            "tiers" if new.tiers is not None else "tiers_mode",
            "tiers and tiers_mode require billing_scheme=tiered.",
        )
    if new.unit_amount is None:
        raise InvalidRequest(
            "Missing required param: unit_amount (or unit_amount_decimal).",
            code="parameter_missing",
            param="unit_amount",
        )
    _check_three_decimal(new.currency, new.unit_amount)


def _build(new: NewPrice, product: str, clock: Clock) -> Price:
    """The price record; the pricing model's own checks (tier order, `inf`) answer 400."""
    try:
        return Price(
            id=new_id("price"),
            created=clock.now,
            livemode=settings().livemode,
            currency=new.currency,
            product=product,
            billing_scheme=new.billing_scheme,
            unit_amount=None if new.unit_amount is None else new.unit_amount.value,
            tiers_mode=new.tiers_mode,
            tiers=new.tiers or (),
            transform=new.transform,
            recurring=new.recurring,
            active=True if new.active is None else new.active,
            lookup_key=new.lookup_key,
            nickname=new.nickname,
            tax_behavior=new.tax_behavior or "unspecified",
            metadata=apply_metadata({}, new.metadata),
        )
    except ValueError as exc:
        raise invalid("tiers" if new.billing_scheme == "tiered" else "unit_amount", str(exc)) from None


# -- lookup keys --------------------------------------------------------------------------------
def _lookup_key_taken(key: str, owner: str | None) -> InvalidRequest:
    holder = f"A price (`{owner}`)" if owner else "Another price"
    return InvalidRequest(
        f"{holder} already uses the lookup key '{key}'. Pass transfer_lookup_key=true to move it.",
        code="resource_already_exists",
        param="lookup_key",
    )


def _claim_lookup_key(
    account: str, key: str, transfer: bool, self_id: str, clock: Clock
) -> tuple[Unique, list[Write]]:
    """The claim of `key` for `self_id`, and (when `transfer`) the write taking it off its holder."""
    taken = _lookup_key_taken(key, None)
    owner = claims.owner_of(account, LOOKUP_KEY, key)
    if owner is None or owner == self_id:
        return Unique(LOOKUP_KEY, key, taken), []
    if not transfer:
        raise _lookup_key_taken(key, owner)
    return Unique(LOOKUP_KEY, key, taken, from_owner=owner), [_without_key(account, owner, key, clock)]


def _without_key(account: str, price_id: str, key: str, clock: Clock) -> Write:
    """The update removing `key` from the price holding it (its claim moves with the new owner's
    write, so nothing is released here)."""
    stored = objects.load(account, price_id, Price, clock)
    after = replace(stored.record, lookup_key=None)
    return Write(Change(after, "price.updated", present(after), {"lookup_key": key}), stored)


# -- use cases ----------------------------------------------------------------------------------
def create(account: str, new: NewPrice, clock: Clock) -> Price:
    """One transaction: the product (`product_data`), the price, their events, the lookup-key
    claim (and a transfer's update of the old holder), and the product's price counter."""
    writes: list[Write] = []
    if new.product is not None:
        product_id = referenced(account, new.product, Product, "product", clock).id
    else:
        product = products.new(new.product_fields or {}, new.product_metadata, clock)
        product_id = product.id
        writes.append(Write(products.created(product)))
    for amount in new.tier_amounts:
        _check_three_decimal(new.currency, amount)
    _check_meter(account, new.recurring, clock)
    _check_scheme(new)
    price = _build(new, product_id, clock)
    change = changes.created(price, "price.created", present(price))
    change.bump.append(Counter(product_id, Price.OBJECT))
    if new.product is not None:  # the product must still exist when the price is written
        gone = InvalidRequest(f"No such product: '{product_id}'", code="resource_missing", param="product")
        change.requires.append(Exists(product_id, gone))
    if price.lookup_key:
        claim, moves = _claim_lookup_key(account, price.lookup_key, new.transfer_lookup_key, price.id, clock)
        change.claim.append(claim)
        writes += moves
    transactions.commit(account, [*writes, Write(change)], clock)
    return price


def retrieve(account: str, price_id: str, clock: Clock) -> Price:
    return objects.get(account, price_id, Price, clock)


def update(
    account: str,
    price_id: str,
    fields: dict[str, Any],
    metadata: MetadataUpdate,
    clock: Clock,
    *,
    transfer_lookup_key: bool = False,
) -> Price:
    """Change `fields` (active, nickname, lookup_key; None clears) and metadata."""
    stored = objects.load(account, price_id, Price, clock)
    before = stored.record
    after = replace(before, **fields, metadata=apply_metadata(before.metadata, metadata))
    previous = changes.previous_attributes(present(before), present(after))
    if not previous:
        return before
    change = Change(after, "price.updated", present(after), previous)
    moves: list[Write] = []
    if "lookup_key" in previous:
        if before.lookup_key:
            change.release.append((LOOKUP_KEY, before.lookup_key))
        if after.lookup_key:
            claim, moves = _claim_lookup_key(account, after.lookup_key, transfer_lookup_key, before.id, clock)
            change.claim.append(claim)
    transactions.commit(account, [*moves, Write(change, stored)], clock)
    return after


def list_(account: str, window: Window, clock: Clock, filters: PriceFilter | None = None) -> Page[Price]:
    """Answered from the most selective index a filter has (lookup keys' claims, then the by_field
    partition of the first filter in PriceFilter.partition's order); the other filters are applied
    to what that reads."""
    if filters is None or filters == PriceFilter():
        return lists.list_records(account, Price, window, clock)
    if filters.lookup_keys is not None:
        return lists.list_claimed(
            account, Price, LOOKUP_KEY, filters.lookup_keys, window, clock, where=filters.matches
        )
    return lists.list_records(
        account, Price, window, clock, where=filters.matches, any_of=[filters.partition()]
    )
