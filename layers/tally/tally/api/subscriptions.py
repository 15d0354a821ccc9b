"""/v1/subscriptions: create, retrieve, update, list, cancel (DELETE). Rules: `tally.billing.subscriptions`
and `tally.billing.subscription_changes` (updates)."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import (
    cancellations,
    clocks,
    subscription_changes,
    subscription_creation,
    subscriptions,
    trials,
)
from tally.billing.subscriptions import MAX_ITEMS, MAX_QUANTITY, STATUSES, ItemSpec
from tally.presenters.subscriptions import subscription as present

routes = Routes()
MAX_TIMESTAMP = 32503680000  # year 3000: later instants are typos, and every later sum stays in int64


def _timestamp(params: Params, name: str) -> int | None:
    """A unix timestamp param; `""` reads None (on update: clear it)."""
    return params.int(name, min=0, max=MAX_TIMESTAMP)


def _timestamp_or_now(params: Params, name: str) -> int | None:
    """A timestamp, or `now` (`trials.NOW`), as Stripe's `trial_end` takes."""
    text = params.str(name, max_length=30)
    if text is None:
        return None
    if text == "now":
        return trials.NOW
    return Params({name: text}).int(name, min=0, max=MAX_TIMESTAMP)


@routes.route("POST /v1/subscriptions")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    customer_id = params.str("customer", required=True, max_length=255)
    item_params = params.sublist("items", required=True, max_items=MAX_ITEMS) or []
    anchor = params.int("billing_cycle_anchor", min=0)
    trial_end = params.int("trial_end", min=0)
    trial_days = params.int("trial_period_days", min=1, max=subscriptions.MAX_TRIAL_DAYS)
    backdate = params.int("backdate_start_date", min=0, max=MAX_TIMESTAMP)
    cancel_at = params.int("cancel_at", min=0, max=MAX_TIMESTAMP)
    cancel_at_period_end = params.bool("cancel_at_period_end") or False
    description = params.str("description", max_length=500)
    metadata = params.metadata()
    params.expand()
    specs = []
    for item in item_params:
        price_id = item.str("price", required=True, max_length=255)
        quantity_given = item.has("quantity")
        quantity = item.int("quantity", min=0, max=MAX_QUANTITY)
        item_metadata = item.metadata()
        item.done()
        specs.append(
            ItemSpec(
                str(price_id),
                item.path("price"),
                quantity,
                quantity_given,
                item.path("quantity"),
                item_metadata,
            )
        )
    params.done()
    assert customer_id is not None
    shown = subscription_creation.create(
        request.account,
        customer_id,
        specs,
        clocks.clock_for(request.account, customer_id, request.clock),  # the customer's time
        anchor=anchor,
        description=description,
        metadata=metadata,
        trial_end=trial_end,
        trial_period_days=trial_days,
        backdate_start_date=backdate,
        cancel_at=cancel_at,
        cancel_at_period_end=cancel_at_period_end,
    )
    return present(shown)


@routes.route("GET /v1/subscriptions/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(subscriptions.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v1/subscriptions/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    description_given = params.has("description")
    description = params.str("description", max_length=500, empty_ok=True) or None
    metadata = params.metadata()
    cancel_at_period_end = params.bool("cancel_at_period_end")
    behavior = params.str("proration_behavior", choices=subscription_changes.BEHAVIORS)
    proration_date = params.int("proration_date", min=0)
    trial_end = _timestamp_or_now(params, "trial_end")
    cancel_at_given = params.has("cancel_at")
    cancel_at = _timestamp(params, "cancel_at")
    item_params = params.sublist("items", max_items=MAX_ITEMS) or []
    params.expand()
    changes = []
    for item in item_params:
        item_id = item.str("id", max_length=255)
        price_id = item.str("price", max_length=255)
        quantity_given = item.has("quantity")
        quantity = item.int("quantity", min=0, max=MAX_QUANTITY)
        deleted = item.bool("deleted") or False
        item_metadata = item.metadata()
        item.done()
        path = item.path("x")[: -len("[x]")]
        changes.append(
            subscription_changes.ItemChange(
                path,
                item_id,
                price_id,
                quantity,
                quantity_given and quantity is not None,
                deleted,
                item_metadata,
            )
        )
    params.done()
    upd = subscription_changes.Update(
        description=description,
        description_given=description_given,
        metadata=metadata,
        cancel_at_period_end=cancel_at_period_end,
        items=changes,
        proration_behavior=behavior or "create_prorations",
        proration_date=proration_date,
        trial_end=trial_end,
        cancel_at=cancel_at,
        cancel_at_given=cancel_at_given,
    )
    sub_id = request.path_params["id"]
    clock = clocks.clock_for_subscription(request.account, sub_id, request.clock)
    done = subscription_changes.update(request.account, sub_id, upd, clock)
    return present(done.view)


@routes.route("DELETE /v1/subscriptions/{id}")
def cancel(request: Request) -> dict[str, Any]:
    params = request.params()
    invoice_now = params.bool("invoice_now") or False
    prorate = params.bool("prorate") or False
    params.expand()
    params.done()
    sub_id = request.path_params["id"]
    clock = clocks.clock_for_subscription(request.account, sub_id, request.clock)
    shown, _ = cancellations.cancel(request.account, sub_id, clock, invoice_now=invoice_now, prorate=prorate)
    return present(shown)


@routes.route("GET /v1/subscriptions")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params, created=True)
    customer = params.str("customer", max_length=255)
    price = params.str("price", max_length=255)
    status = params.str("status", choices=STATUSES)
    test_clock = params.str("test_clock", max_length=255)
    params.done()
    page = subscriptions.list_(
        request.account,
        window,
        request.clock,
        customer=customer,
        price=price,
        status=status,
        test_clock=test_clock,
    )
    return envelope("/v1/subscriptions", page, present)
