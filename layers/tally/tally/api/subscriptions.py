"""/v1/subscriptions: create, retrieve, list, cancel (DELETE).

Rules Tally enforces on create (Stripe's, where it has them):
- the customer and every `items[n][price]` exist (400 `resource_missing` naming the param);
- prices are active and recurring, all in one currency and one interval/interval_count, and no
  price appears twice;
- `quantity` (default 1) is for licensed prices only; metered items have `quantity: null`;
- `billing_cycle_anchor` (default: now) lies between now (5 minutes of client clock skew
  tolerated) and the first natural period end.

Periods: `current_period_start/end` (on each item and, for older clients, on the subscription)
are derived from `start_date`, `billing_cycle_anchor` and the interval at read time, so they
roll over without a background job; a canceled subscription keeps the period it ended in.
Each item embeds a snapshot of its price as it was when the subscription was created (a
price's amounts never change; only active/metadata/nickname/lookup_key can).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tally.api import lists
from tally.api.http import Request
from tally.api.lists import envelope, list_args
from tally.api.params import apply_metadata
from tally.api.products import referenced
from tally.api.routing import Routes
from tally.domain import periods
from tally.errors import InvalidRequest, invalid
from tally.ids import new_id
from tally.settings import settings
from tally.store import objects
from tally.store.objects import Change

routes = Routes()
KIND = "subscription"
MAX_ITEMS = 20
ANCHOR_SKEW_SECONDS = 300
MAX_QUANTITY = 10**12
STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)


# -- periods ------------------------------------------------------------------------------------
def interval_of(subscription: dict[str, Any]) -> tuple[str, int]:
    """The (interval, interval_count) every item of the subscription shares."""
    recurring = subscription["items"]["data"][0]["price"]["recurring"]
    return recurring["interval"], recurring["interval_count"]


def current_period(subscription: dict[str, Any], now: int) -> tuple[int, int]:
    interval, count = interval_of(subscription)
    return periods.current_period(
        subscription["start_date"], subscription["billing_cycle_anchor"], interval, count, now
    )


def _with_period(subscription: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    items = [
        {**item, "current_period_start": start, "current_period_end": end}
        for item in subscription["items"]["data"]
    ]
    return {
        **subscription,
        "current_period_start": start,
        "current_period_end": end,
        "items": {**subscription["items"], "data": items},
    }


def present(subscription: dict[str, Any], now: float) -> dict[str, Any]:
    """The subscription as of `now` (its current period refreshed unless it has ended)."""
    if subscription["status"] == "canceled":
        return subscription
    return _with_period(subscription, *current_period(subscription, int(now)))


# -- shapes -------------------------------------------------------------------------------------
def _plan(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy `plan` view of a recurring price (older integrations still read it)."""
    recurring = price["recurring"]
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": price["livemode"],
        "metadata": price["metadata"],
        "meter": recurring["meter"],
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": price["tiers_mode"],
        "transform_usage": price["transform_quantity"],
        "trial_period_days": None,
        "usage_type": recurring["usage_type"],
    }


def _item(
    sub_id: str, price: dict[str, Any], quantity: int | None, metadata: dict[str, str], created: int
) -> dict[str, Any]:
    return {
        "id": new_id("si", 14),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": created,
        "current_period_end": None,
        "current_period_start": None,
        "discounts": [],
        "metadata": metadata,
        "plan": _plan(price),
        "price": price,
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }


def _subscription(
    sub_id: str,
    customer: str,
    items: list[dict[str, Any]],
    anchor: int,
    created: int,
    description: str | None,
    metadata: dict[str, str],
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": KIND,
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "classic"},
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": items[0]["price"]["currency"],
        "current_period_end": None,
        "current_period_start": None,
        "customer": customer,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": settings().livemode,
        "metadata": metadata,
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": "active",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


# -- validation ---------------------------------------------------------------------------------
def _check_price(price: dict[str, Any], param: str) -> None:
    if not price["active"]:
        raise invalid(param, f"The price {price['id']} is inactive; this field only accepts active prices.")
    if price["type"] != "recurring":
        raise invalid(
            param,
            f"The price {price['id']} is a one_time price; subscriptions only accept prices with "
            "type=recurring.",
        )


def _check_together(prices: list[dict[str, Any]]) -> None:
    first = prices[0]
    for i, price in enumerate(prices[1:], start=1):
        param = f"items[{i}][price]"
        if price["id"] in {p["id"] for p in prices[:i]}:
            raise invalid(param, f"The price {price['id']} appears in more than one item.")
        if price["currency"] != first["currency"]:
            raise invalid(
                param,
                f"All prices of a subscription must share one currency: {price['id']} is in "
                f"{price['currency']}, {first['id']} in {first['currency']}.",
            )
        a, b = price["recurring"], first["recurring"]
        if (a["interval"], a["interval_count"]) != (b["interval"], b["interval_count"]):
            raise invalid(
                param,
                "All prices of a subscription must share one billing interval: "
                f"{price['id']} is every {a['interval_count']} {a['interval']}, {first['id']} every "
                f"{b['interval_count']} {b['interval']}.",
            )


def _check_anchor(anchor: int, created: int, interval: str, count: int) -> None:
    if anchor < created - ANCHOR_SKEW_SECONDS:
        raise invalid("billing_cycle_anchor", "billing_cycle_anchor cannot be in the past.")
    natural = periods.add_intervals(created, interval, count, 1)
    if anchor > natural:
        raise invalid(
            "billing_cycle_anchor",
            f"billing_cycle_anchor cannot be later than the next natural billing date ({natural}).",
        )


# -- routes -------------------------------------------------------------------------------------
@routes.route("POST /v1/subscriptions")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    customer_id = params.str("customer", required=True, max_length=255)
    item_params = params.sublist("items", required=True, max_items=MAX_ITEMS) or []
    anchor = params.int("billing_cycle_anchor", min=0)
    description = params.str("description", max_length=500)
    metadata = apply_metadata({}, params.metadata())
    params.expand()
    wanted = []
    for item in item_params:
        price_id = item.str("price", required=True, max_length=255)
        quantity_given = item.has("quantity")
        quantity = item.int("quantity", min=0, max=MAX_QUANTITY)
        item_metadata = apply_metadata({}, item.metadata())
        item.done()
        wanted.append((item, price_id, quantity_given, quantity, item_metadata))
    params.done()
    if not wanted:
        raise InvalidRequest("Missing required param: items.", code="parameter_missing", param="items")
    assert customer_id is not None

    account = request.account
    referenced(account, customer_id, "customer", "customer")
    created = int(request.now)
    sub_id = new_id("sub")
    prices = []
    for item, price_id, quantity_given, _, _ in wanted:
        param = item.path("price")
        price = referenced(account, str(price_id), "price", param)
        _check_price(price, param)
        if price["recurring"]["usage_type"] == "metered" and quantity_given:
            raise invalid(
                item.path("quantity"), "Quantity should not be specified where usage_type is metered."
            )
        prices.append(price)
    _check_together(prices)
    interval, count = prices[0]["recurring"]["interval"], prices[0]["recurring"]["interval_count"]
    anchor = created if anchor is None else anchor
    _check_anchor(anchor, created, interval, count)

    items = [
        _item(
            sub_id,
            price,
            None if price["recurring"]["usage_type"] == "metered" else (1 if quantity is None else quantity),
            item_metadata,
            created,
        )
        for price, (_, _, _, quantity, item_metadata) in zip(prices, wanted, strict=True)
    ]
    subscription = _subscription(sub_id, customer_id, items, anchor, created, description, metadata)
    subscription = present(subscription, request.now)
    return objects.create(account, Change(subscription, "customer.subscription.created"), request.now)


@routes.route("GET /v1/subscriptions/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    return present(lists.retrieve(request, KIND), request.now)


@routes.route("DELETE /v1/subscriptions/{id}")
def cancel(request: Request) -> dict[str, Any]:
    params = request.params()
    params.expand()
    params.done()
    stored = objects.load(request.account, request.path_params["id"], KIND)
    before = stored.obj
    if before["status"] == "canceled":
        raise InvalidRequest(f"The subscription {before['id']} is already canceled.", param="id")
    now = int(request.now)
    after = {
        **present(before, now),
        "status": "canceled",
        "canceled_at": now,
        "ended_at": now,
        "cancellation_details": {"comment": None, "feedback": None, "reason": "cancellation_requested"},
    }
    return objects.update(
        request.account, stored, Change(after, "customer.subscription.deleted"), request.now
    )


@routes.route("GET /v1/subscriptions")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    args = list_args(params, created=True)
    customer = params.str("customer", max_length=255)
    price = params.str("price", max_length=255)
    status = params.str("status", choices=STATUSES)
    params.done()
    tests: list[Callable[[dict[str, Any]], bool]] = []
    if customer is not None:
        tests.append(lambda s: s["customer"] == customer)
    if price is not None:
        tests.append(lambda s: any(i["price"]["id"] == price for i in s["items"]["data"]))
    if status is None:
        tests.append(lambda s: s["status"] != "canceled")
    elif status == "ended":
        tests.append(lambda s: s["status"] in ("canceled", "incomplete_expired"))
    elif status != "all":
        tests.append(lambda s: s["status"] == status)
    page = objects.list_objects(
        request.account,
        KIND,
        args,
        customer=customer,
        where=lambda s: all(test(s) for test in tests),
    )
    page.data = [present(s, request.now) for s in page.data]
    return envelope("/v1/subscriptions", page)
