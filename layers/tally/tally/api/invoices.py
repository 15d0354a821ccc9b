"""/v1/invoices/create_preview: the next invoice of a subscription, computed and not stored.

The preview is the invoice that will be created at the end of the current period (Stripe's
semantics; see `tally.domain.invoices`):
- metered items bill the usage recorded in the current period `[current_period_start,
  current_period_end)`, in arrears — so the preview grows as usage arrives;
- licensed items bill `quantity × price` for the next period, in advance.

`subscription` picks the subscription; `customer` alone picks, among the customer's active
subscriptions, the one whose period ends first (Stripe: "the next upcoming invoice from among
the customer's subscriptions"). A customer without one gets 400 `invoice_upcoming_none`.
The preview's id is `upcoming_in_…` and changes on every call; `created` is when the invoice
will be created (the period end). One line per subscription item (tiers are not split into
lines); a line's `quantity` is what is billed (seats, or usage after `transform_quantity`, as Stripe
shows it; the raw usage is in the description) and its
`amount` applies `transform_quantity` and the tiers.
"""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.products import referenced
from tally.api.routing import Routes
from tally.api.subscriptions import current_period, interval_of
from tally.domain import invoices
from tally.errors import InvalidRequest, invalid
from tally.ids import new_id
from tally.settings import settings
from tally.store import objects, usage

routes = Routes()


def _no_upcoming(what: str, object_id: str) -> InvalidRequest:
    return InvalidRequest(f"No upcoming invoices for {what}: {object_id}", code="invoice_upcoming_none")


def _next_subscription(account: str, customer_id: str, now: int) -> dict[str, Any]:
    """The customer's active subscription whose current period ends first (oldest on a tie)."""
    page = objects.list_objects(
        account,
        "subscription",
        objects.Window(limit=100),
        customer=customer_id,
        where=lambda s: s["status"] == "active",
    )
    if not page.data:
        raise _no_upcoming("customer", customer_id)
    return min(reversed(page.data), key=lambda s: current_period(s, now)[1])


def _inputs(account: str, subscription: dict[str, Any], cycle: invoices.Cycle) -> list[invoices.ItemInput]:
    names: dict[str, str] = {}
    inputs = []
    for item in subscription["items"]["data"]:
        price = item["price"]
        product_id = price["product"]
        if product_id not in names:
            names[product_id] = objects.get(account, product_id, "product")["name"]
        meter_id = (price.get("recurring") or {}).get("meter")
        used = None
        if price["recurring"]["usage_type"] == invoices.METERED and meter_id:
            meter = objects.get(account, meter_id, "billing.meter", label="billing meter")
            used = usage.aggregate(
                account, meter, subscription["customer"], cycle.usage.start, cycle.usage.end
            )
        inputs.append(
            invoices.ItemInput(item["id"], price, names[product_id], quantity=item["quantity"], usage=used)
        )
    return inputs


def _line(line: invoices.Line, invoice_id: str, subscription: dict[str, Any], price: dict) -> dict[str, Any]:
    return {
        "id": new_id("il_tmp"),
        "object": "line_item",
        "amount": line.amount,
        "currency": price["currency"],
        "description": line.description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": settings().livemode,
        "metadata": dict(subscription["metadata"]),
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription["id"],
                "subscription_item": line.subscription_item,
            },
        },
        "period": {"end": line.period.end, "start": line.period.start},
        "pretax_credit_amounts": [],
        "pricing": {
            "type": "price_details",
            "price_details": {"price": line.price, "product": line.product},
            "unit_amount_decimal": price.get("unit_amount_decimal"),
        },
        "quantity": line.quantity,
        "quantity_decimal": str(line.quantity),
        "subscription": subscription["id"],
        "subtotal": line.amount,
        "taxes": [],
    }


def _invoice(
    draft: invoices.Draft, subscription: dict[str, Any], customer: dict[str, Any], created: int
) -> dict[str, Any]:
    invoice_id = f"upcoming_{new_id('in')}"
    prices = {item["id"]: item["price"] for item in subscription["items"]["data"]}
    lines = [_line(line, invoice_id, subscription, prices[line.subscription_item]) for line in draft.lines]
    t = draft.totals
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": None,
        "account_name": None,
        "account_tax_ids": None,
        "amount_due": t.amount_due,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": t.amount_remaining,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": False,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": "upcoming",
        "collection_method": "charge_automatically",
        "created": created,
        "currency": draft.currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": customer.get("address"),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": customer.get("shipping"),
        "customer_tax_exempt": customer.get("tax_exempt", "none"),
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": settings().livemode,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription["metadata"]),
                "subscription": subscription["id"],
            },
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": draft.period.end,
        "period_start": draft.period.start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": t.starting_balance,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": subscription["id"],
        "subtotal": t.subtotal,
        "subtotal_excluding_tax": t.subtotal,
        "test_clock": None,
        "total": t.total,
        "total_discount_amounts": [],
        "total_excluding_tax": t.total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


@routes.route("POST /v1/invoices/create_preview")
def create_preview(request: Request) -> dict[str, Any]:
    params = request.params()
    subscription_id = params.str("subscription", max_length=255)
    customer_id = params.str("customer", max_length=255)
    params.expand()
    params.done()
    account, now = request.account, int(request.now)
    if subscription_id is not None:
        subscription = referenced(account, subscription_id, "subscription", "subscription")
        if customer_id is not None and subscription["customer"] != customer_id:
            raise invalid("customer", f"The subscription {subscription_id} belongs to another customer.")
        if subscription["status"] == "canceled":
            raise _no_upcoming("subscription", subscription_id)
    elif customer_id is not None:
        referenced(account, customer_id, "customer", "customer")
        subscription = _next_subscription(account, customer_id, now)
    else:
        raise InvalidRequest(
            "You must pass customer or subscription.", code="parameter_missing", param="customer"
        )
    customer = referenced(account, subscription["customer"], "customer", "customer")
    interval, count = interval_of(subscription)
    cycle = invoices.cycle_at_period_end(
        subscription["start_date"], subscription["billing_cycle_anchor"], interval, count, now
    )
    draft = invoices.assemble(
        _inputs(account, subscription, cycle), cycle, starting_balance=int(customer.get("balance") or 0)
    )
    return _invoice(draft, subscription, customer, created=cycle.usage.end)
