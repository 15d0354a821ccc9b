"""/v1/prices: create, retrieve, update, list.

Shapes follow Stripe's price object, with two documented differences:
- `tiers` is always included on tiered prices (Stripe returns it only with `expand[]=tiers`;
  `expand[]=tiers` is accepted and changes nothing). Per-unit prices have no `tiers` key.
- `tiered` prices must be recurring (Stripe only offers tiers on recurring prices).

Amounts are integers in the currency's minor unit, at most 99,999,999 (the `*_decimal` forms
too, with up to 12 decimal places). When an amount is given as a decimal with a fraction,
the integer field reads null; `unit_amount_decimal` is always a string on per-unit prices.
The billing rules (three-decimal currencies, active meters, lookup keys, `product_data`) are
`tally.billing.prices`'.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tally.api.forms import product_fields
from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import prices
from tally.billing.prices import Amount, NewPrice, PriceFilter
from tally.domain import periods
from tally.domain.currencies import SUPPORTED_CURRENCIES
from tally.domain.pricing import BILLING_SCHEMES, ROUNDINGS, TIERS_MODES, Tier
from tally.domain.records import Recurring, Transform
from tally.errors import InvalidRequest, invalid
from tally.presenters.prices import price as present

routes = Routes()
LOOKUP_KEY_MAX = 200
MAX_AMOUNT = 99_999_999
MAX_TIERS = 100


# -- parsing ------------------------------------------------------------------------------------
def _amount(params: Params, name: str) -> Amount | None:
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
    if integer is not None:
        return Amount(Decimal(integer), params.path(name))
    if decimal is not None:
        return Amount(decimal, params.path(f"{name}_decimal"))
    return None


def _up_to(tier: Params) -> int | None:
    raw = tier.str("up_to", required=True, max_length=20)
    if raw == "inf":
        return None
    if raw is None or not raw.isdigit() or int(raw) < 1 or int(raw) > 2**53:
        raise invalid(tier.path("up_to"), f"Invalid up_to: {raw!r} (a positive integer or 'inf').")
    return int(raw)


def _tiers(params: Params) -> tuple[tuple[Tier, ...] | None, tuple[Amount, ...]]:
    """The tiers, and every amount in them as given."""
    tiers = params.sublist("tiers", max_items=MAX_TIERS)
    if tiers is None:
        return None, ()
    out: list[Tier] = []
    amounts: list[Amount] = []
    for tier in tiers:
        up_to = _up_to(tier)
        unit = _amount(tier, "unit_amount")
        flat = _amount(tier, "flat_amount")
        tier.done()
        amounts.extend(a for a in (unit, flat) if a is not None)
        out.append(Tier(up_to, unit and unit.value, flat and flat.value))
    return tuple(out), tuple(amounts)


def _transform(params: Params) -> Transform | None:
    transform = params.sub("transform_quantity")
    if transform is None:
        return None
    divide_by = transform.int("divide_by", required=True, min=1, max=10**12)
    rounding = transform.str("round", required=True, choices=ROUNDINGS)
    transform.done()
    assert divide_by is not None and rounding is not None
    return Transform(divide_by, rounding)


def _recurring(params: Params) -> Recurring | None:
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
    return Recurring(interval, count, usage_type, meter_id)


def _currency(params: Params) -> str:
    raw = params.str("currency", required=True, max_length=3) or ""
    currency = raw.lower()
    if currency not in SUPPORTED_CURRENCIES:
        raise invalid("currency", f"Invalid currency: {raw}. Use a supported three-letter ISO code.")
    return currency


def _product(params: Params) -> dict[str, Any]:
    """`product` (an existing product's id) or `product_data` (a product to create)."""
    product_id = params.str("product", max_length=255)
    product_data = params.sub("product_data")
    if (product_id is None) == (product_data is None):
        raise InvalidRequest(
            "You must pass exactly one of product or product_data.",
            code="parameter_missing" if product_id is None else "parameter_invalid",
            param="product",
        )
    if product_data is None:
        return {"product": product_id}
    fields = product_fields(product_data, creating=True)
    metadata = product_data.metadata()
    product_data.done()
    return {"product_fields": fields, "product_metadata": metadata}


# -- routes -------------------------------------------------------------------------------------
@routes.route("POST /v1/prices")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    currency = _currency(params)
    product = _product(params)
    billing_scheme = params.str("billing_scheme", choices=BILLING_SCHEMES) or "per_unit"
    tiers_mode = params.str("tiers_mode", choices=TIERS_MODES)
    unit_amount = _amount(params, "unit_amount")
    tiers, tier_amounts = _tiers(params)
    new = NewPrice(
        currency=currency,
        **product,
        billing_scheme=billing_scheme,
        tiers_mode=tiers_mode,
        unit_amount=unit_amount,
        tiers=tiers,
        tier_amounts=tier_amounts,
        transform=_transform(params),
        recurring=_recurring(params),
        active=params.bool("active"),
        nickname=params.str("nickname", max_length=5000),
        lookup_key=params.str("lookup_key", max_length=LOOKUP_KEY_MAX),
        transfer_lookup_key=bool(params.bool("transfer_lookup_key")),
        tax_behavior=params.str("tax_behavior", choices=("exclusive", "inclusive", "unspecified")),
        metadata=params.metadata(),
    )
    params.expand()
    params.done()
    return present(prices.create(request.account, new, request.clock))


@routes.route("GET /v1/prices/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(prices.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v1/prices/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    fields: dict[str, Any] = {}
    active = params.bool("active")
    if active is not None:
        fields["active"] = active
    if params.has("nickname"):
        fields["nickname"] = params.str("nickname", max_length=5000, empty_ok=True) or None
    if params.has("lookup_key"):
        fields["lookup_key"] = params.str("lookup_key", max_length=LOOKUP_KEY_MAX, empty_ok=True) or None
    transfer = bool(params.bool("transfer_lookup_key"))
    metadata = params.metadata()
    params.expand()
    params.done()
    price = prices.update(
        request.account,
        request.path_params["id"],
        fields,
        metadata,
        request.clock,
        transfer_lookup_key=transfer,
    )
    return present(price)


@routes.route("GET /v1/prices")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params, created=True)
    active = params.bool("active")
    product = params.str("product", max_length=255)
    kind = params.str("type", choices=("one_time", "recurring"))
    currency = _currency(params) if params.has("currency") else None
    lookup_keys = params.strings("lookup_keys", max_items=10, max_length=LOOKUP_KEY_MAX)
    recurring: dict[str, str] = {}
    sub = params.sub("recurring")
    if sub is not None:
        wanted = {
            "interval": sub.str("interval", choices=periods.INTERVALS),
            "usage_type": sub.str("usage_type", choices=("licensed", "metered")),
            "meter": sub.str("meter", max_length=255),
        }
        sub.done()
        recurring = {name: value for name, value in wanted.items() if value is not None}
    params.done()
    filters = PriceFilter(
        active=active,
        product=product,
        type=kind,
        currency=currency,
        lookup_keys=frozenset(lookup_keys) if lookup_keys is not None else None,
        recurring=recurring,
    )
    return envelope("/v1/prices", prices.list_(request.account, window, request.clock, filters), present)
