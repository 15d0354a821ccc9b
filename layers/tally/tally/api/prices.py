"""/v1/prices: create, retrieve, update, list.

Shapes follow Stripe's price object, with two documented differences:
- `tiers` is always included on tiered prices (Stripe returns it only with `expand[]=tiers`;
  `expand[]=tiers` is accepted and changes nothing). Per-unit prices have no `tiers` key.
- `tiered` prices must be recurring (Stripe only offers tiers on recurring prices).

Amounts are integers in the currency's minor unit, at most 99,999,999 (the `*_decimal` forms
too, with up to 12 decimal places). When an amount is given as a decimal with a fraction,
the integer field reads null; `unit_amount_decimal` is always a string on per-unit prices.
For the three-decimal currencies (BHD JOD KWD OMR TND) every amount must be a multiple of 10.

`lookup_key` is unique among an account's prices (a uniqueness claim in the store).
`transfer_lookup_key=true` first removes it from the price holding it (a `price.updated`
event), then claims it: two writes, so a concurrent claim in between makes this request fail
with the usual "already uses" error and leaves the old price without the key.
`product_data` creates the product (its own `product.created` event) before the price.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tally.api import lists, products
from tally.api.http import Request
from tally.api.lists import envelope, list_args
from tally.api.params import Params, apply_metadata
from tally.api.routing import Routes
from tally.domain import periods
from tally.domain.currencies import SUPPORTED_CURRENCIES
from tally.domain.pricing import (
    BILLING_SCHEMES,
    ROUNDINGS,
    THREE_DECIMAL_CURRENCIES,
    TIERS_MODES,
    PriceModel,
)
from tally.errors import InvalidRequest, invalid
from tally.ids import new_id
from tally.settings import settings
from tally.store import objects
from tally.store.objects import Change, Unique

routes = Routes()
KIND = "price"
LOOKUP_KEY = "price_lookup_key"
LOOKUP_KEY_MAX = 200
MAX_AMOUNT = 99_999_999
MAX_TIERS = 100
METER_KIND = "billing.meter"


# -- parsing ------------------------------------------------------------------------------------
def format_decimal(value: Decimal) -> str:
    """A decimal amount as Stripe writes it: no exponent, no trailing zeros ("2000", "0.05")."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _amount(params: Params, name: str) -> tuple[int | None, Decimal | None]:
    """`name` or `name_decimal` (not both), bounded to [0, MAX_AMOUNT]."""
    integer = params.int(name, min=0, max=MAX_AMOUNT)
    decimal = params.decimal(f"{name}_decimal", min=Decimal(0))
    if integer is not None and decimal is not None:
        raise invalid(
            params.path(f"{name}_decimal"),
            f"You may only specify one of these parameters: {params.path(name)}, "
            f"{params.path(name + '_decimal')}.",
        )
    if decimal is not None and decimal > MAX_AMOUNT:
        param = params.path(f"{name}_decimal")
        raise invalid(param, f"Invalid {param}: must be at most {MAX_AMOUNT}.")
    return integer, decimal


def _amount_fields(name: str, integer: int | None, decimal: Decimal | None) -> dict[str, Any]:
    if integer is not None:
        return {name: integer, f"{name}_decimal": str(integer)}
    if decimal is not None:
        whole = decimal == decimal.to_integral_value()
        return {name: int(decimal) if whole else None, f"{name}_decimal": format_decimal(decimal)}
    return {name: None, f"{name}_decimal": None}


def _check_three_decimal(
    currency: str, params: Params, name: str, amount: tuple[int | None, Decimal | None]
) -> None:
    integer, decimal = amount
    value = integer if decimal is None else decimal
    param = params.path(name if decimal is None else f"{name}_decimal")
    if currency in THREE_DECIMAL_CURRENCIES and value is not None and value % 10 != 0:
        raise invalid(
            param,
            f"Amounts in {currency.upper()} must be multiples of 10 (the last decimal place must be 0; "
            f"e.g. 12340, not 12345).",
        )


def _up_to(tier: Params) -> int | None:
    raw = tier.str("up_to", required=True, max_length=20)
    if raw == "inf":
        return None
    if raw is None or not raw.isdigit() or int(raw) < 1 or int(raw) > 2**53:
        raise invalid(tier.path("up_to"), f"Invalid up_to: {raw!r} (a positive integer or 'inf').")
    return int(raw)


def _tiers(params: Params, currency: str) -> list[dict[str, Any]] | None:
    tiers = params.sublist("tiers", max_items=MAX_TIERS)
    if tiers is None:
        return None
    out = []
    for tier in tiers:
        up_to = _up_to(tier)
        unit = _amount(tier, "unit_amount")
        flat = _amount(tier, "flat_amount")
        tier.done()
        _check_three_decimal(currency, tier, "unit_amount", unit)
        _check_three_decimal(currency, tier, "flat_amount", flat)
        out.append(
            {
                **_amount_fields("flat_amount", *flat),
                **_amount_fields("unit_amount", *unit),
                "up_to": up_to,
            }
        )
    return out


def _transform(params: Params) -> dict[str, Any] | None:
    transform = params.sub("transform_quantity")
    if transform is None:
        return None
    divide_by = transform.int("divide_by", required=True, min=1, max=10**12)
    rounding = transform.str("round", required=True, choices=ROUNDINGS)
    transform.done()
    return {"divide_by": divide_by, "round": rounding}


def _recurring(request: Request, params: Params) -> dict[str, Any] | None:
    recurring = params.sub("recurring")
    if recurring is None:
        return None
    interval = recurring.str("interval", required=True, choices=periods.INTERVALS)
    interval_count = recurring.int("interval_count", min=1)
    usage_type = recurring.str("usage_type", choices=("licensed", "metered")) or "licensed"
    meter_id = recurring.str("meter", max_length=255)
    recurring.done()
    assert interval is not None
    count = 1 if interval_count is None else interval_count
    try:
        periods.validate_interval(interval, count)
    except ValueError as exc:
        raise invalid("recurring[interval_count]", str(exc)) from None
    if usage_type == "metered" and meter_id is None:
        raise InvalidRequest(
            "Metered prices need a meter: pass recurring[meter].",
            code="parameter_missing",
            param="recurring[meter]",
        )
    if usage_type == "licensed" and meter_id is not None:
        raise invalid("recurring[meter]", "recurring[meter] can only be set when usage_type is metered.")
    if meter_id is not None:
        meter = products.referenced(
            request.account, meter_id, METER_KIND, "recurring[meter]", label="billing meter"
        )
        if meter.get("status") != "active":
            raise invalid("recurring[meter]", f"The meter {meter_id} is inactive; reactivate it first.")
    return {
        "interval": interval,
        "interval_count": count,
        "meter": meter_id,
        "trial_period_days": None,
        "usage_type": usage_type,
    }


def _currency(params: Params) -> str:
    raw = params.str("currency", required=True, max_length=3) or ""
    currency = raw.lower()
    if currency not in SUPPORTED_CURRENCIES:
        raise invalid("currency", f"Invalid currency: {raw}. Use a supported three-letter ISO code.")
    return currency


def validate_model(price: dict[str, Any]) -> None:
    """Run the pricing model's own checks (tiers order, `inf`, transform) on a built price."""
    try:
        PriceModel.from_price(price)
    except ValueError as exc:
        param = "tiers" if price["billing_scheme"] == "tiered" else "unit_amount"
        raise invalid(param, str(exc)) from None


# -- lookup keys --------------------------------------------------------------------------------
def _lookup_key_taken(key: str, owner: str | None) -> InvalidRequest:
    holder = f"A price (`{owner}`)" if owner else "Another price"
    return InvalidRequest(
        f"{holder} already uses the lookup key '{key}'. Pass transfer_lookup_key=true to move it.",
        code="resource_already_exists",
        param="lookup_key",
    )


def _claim_lookup_key(request: Request, key: str, transfer: bool, self_id: str) -> Unique:
    """Check `key` is free (or take it from its holder when `transfer`); returns the claim."""
    owner = objects.owner_of(request.account, LOOKUP_KEY, key)
    if owner is not None and owner != self_id:
        if not transfer:
            raise _lookup_key_taken(key, owner)
        stored = objects.load(request.account, owner, KIND)
        after = {**stored.obj, "lookup_key": None}
        change = Change(
            after, "price.updated", {"lookup_key": stored.obj["lookup_key"]}, release=[(LOOKUP_KEY, key)]
        )
        objects.update(request.account, stored, change, request.now)
    return Unique(LOOKUP_KEY, key, _lookup_key_taken(key, None))


# -- routes -------------------------------------------------------------------------------------
def _product(request: Request, params: Params) -> tuple[str | None, dict[str, Any] | None]:
    """(existing product id, or a product to create from product_data)."""
    product_id = params.str("product", max_length=255)
    product_data = params.sub("product_data")
    if (product_id is None) == (product_data is None):
        raise InvalidRequest(
            "You must pass exactly one of product or product_data.",
            code="parameter_missing" if product_id is None else "parameter_invalid",
            param="product",
        )
    if product_id is not None:
        products.referenced(request.account, product_id, products.KIND, "product")
        return product_id, None
    assert product_data is not None
    values = products.fields(product_data, creating=True)
    metadata = apply_metadata({}, product_data.metadata())
    product_data.done()
    return None, products.new_product(values, metadata, request.now)


@routes.route("POST /v1/prices")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    currency = _currency(params)
    product_id, new_product = _product(request, params)
    billing_scheme = params.str("billing_scheme", choices=BILLING_SCHEMES) or "per_unit"
    tiers_mode = params.str("tiers_mode", choices=TIERS_MODES)
    unit = _amount(params, "unit_amount")
    tiers = _tiers(params, currency)
    transform = _transform(params)
    recurring = _recurring(request, params)
    active = params.bool("active")
    nickname = params.str("nickname", max_length=5000)
    lookup_key = params.str("lookup_key", max_length=LOOKUP_KEY_MAX)
    transfer = bool(params.bool("transfer_lookup_key"))
    tax_behavior = params.str("tax_behavior", choices=("exclusive", "inclusive", "unspecified"))
    metadata = apply_metadata({}, params.metadata())
    params.expand()
    params.done()

    if billing_scheme == "tiered":
        if unit != (None, None):
            raise invalid("unit_amount", "unit_amount cannot be used with billing_scheme=tiered; use tiers.")
        if tiers_mode is None:
            raise InvalidRequest(
                "tiers_mode is required when billing_scheme=tiered.",
                code="parameter_missing",
                param="tiers_mode",
            )
        if tiers is None:
            raise InvalidRequest(
                "tiers are required when billing_scheme=tiered.", code="parameter_missing", param="tiers"
            )
        if transform is not None:
            raise invalid("transform_quantity", "transform_quantity cannot be combined with tiers.")
        if recurring is None:
            raise invalid("billing_scheme", "Tiered prices must be recurring: pass recurring[interval].")
    else:
        if tiers is not None or tiers_mode is not None:
            raise invalid(
                "tiers" if tiers is not None else "tiers_mode",
                "tiers and tiers_mode require billing_scheme=tiered.",
            )
        if unit == (None, None):
            raise InvalidRequest(
                "Missing required param: unit_amount (or unit_amount_decimal).",
                code="parameter_missing",
                param="unit_amount",
            )
        _check_three_decimal(currency, params, "unit_amount", unit)

    price_id = new_id("price")
    price: dict[str, Any] = {
        "id": price_id,
        "object": KIND,
        "active": True if active is None else active,
        "billing_scheme": billing_scheme,
        "created": int(request.now),
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": settings().livemode,
        "lookup_key": lookup_key,
        "metadata": metadata,
        "nickname": nickname,
        "product": product_id if new_product is None else new_product["id"],
        "recurring": recurring,
        "tax_behavior": tax_behavior or "unspecified",
        "tiers_mode": tiers_mode,
        "transform_quantity": transform,
        "type": "one_time" if recurring is None else "recurring",
        **_amount_fields("unit_amount", *unit),
    }
    if billing_scheme == "tiered":
        price["tiers"] = tiers
    validate_model(price)

    claims = [_claim_lookup_key(request, lookup_key, transfer, price_id)] if lookup_key else []
    if new_product is not None:
        products.create_product(request.account, new_product, request.now)
    return objects.create(request.account, Change(price, "price.created", claim=claims), request.now)


@routes.route("GET /v1/prices/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    return lists.retrieve(request, KIND)


@routes.route("POST /v1/prices/{id}")
def update(request: Request) -> dict[str, Any]:
    stored = objects.load(request.account, request.path_params["id"], KIND)
    params = request.params()
    values: dict[str, Any] = {}
    active = params.bool("active")
    if active is not None:
        values["active"] = active
    if params.has("nickname"):
        values["nickname"] = params.str("nickname", max_length=5000, empty_ok=True) or None
    if params.has("lookup_key"):
        values["lookup_key"] = params.str("lookup_key", max_length=LOOKUP_KEY_MAX, empty_ok=True) or None
    transfer = bool(params.bool("transfer_lookup_key"))
    metadata = params.metadata()
    params.expand()
    params.done()
    before = stored.obj
    after = {**before, **values, "metadata": apply_metadata(before["metadata"], metadata)}
    previous = objects.previous_attributes(before, after)
    if not previous:
        return before
    change = Change(after, "price.updated", previous)
    if "lookup_key" in previous:
        if before["lookup_key"]:
            change.release.append((LOOKUP_KEY, before["lookup_key"]))
        if after["lookup_key"]:
            change.claim.append(_claim_lookup_key(request, after["lookup_key"], transfer, before["id"]))
    return objects.update(request.account, stored, change, request.now)


def _recurring_is(name: str, value: str) -> Callable[[dict[str, Any]], bool]:
    return lambda price: (price["recurring"] or {}).get(name) == value


@routes.route("GET /v1/prices")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    args = list_args(params, created=True)
    tests: list[Callable[[dict[str, Any]], bool]] = []
    active = params.bool("active")
    if active is not None:
        tests.append(lambda p: p["active"] == active)
    product = params.str("product", max_length=255)
    if product is not None:
        tests.append(lambda p: p["product"] == product)
    kind = params.str("type", choices=("one_time", "recurring"))
    if kind is not None:
        tests.append(lambda p: p["type"] == kind)
    if params.has("currency"):
        currency = _currency(params)
        tests.append(lambda p: p["currency"] == currency)
    lookup_keys = params.strings("lookup_keys", max_items=10, max_length=LOOKUP_KEY_MAX)
    if lookup_keys is not None:
        keys = set(lookup_keys)
        tests.append(lambda p: p["lookup_key"] in keys)
    recurring = params.sub("recurring")
    if recurring is not None:
        wanted = {
            "interval": recurring.str("interval", choices=periods.INTERVALS),
            "usage_type": recurring.str("usage_type", choices=("licensed", "metered")),
            "meter": recurring.str("meter", max_length=255),
        }
        recurring.done()
        for name, value in wanted.items():
            if value is not None:
                tests.append(_recurring_is(name, value))
    params.done()
    page = objects.list_objects(
        request.account,
        KIND,
        args,
        where=(lambda p: all(test(p) for test in tests)) if tests else None,
    )
    return envelope("/v1/prices", page)
