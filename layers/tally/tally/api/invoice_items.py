"""/v1/invoiceitems: create, retrieve, update, delete, list (`tally.billing.invoice_items`), and
`POST /v1/invoices/{id}/add_lines` (invoice items created on, or attached to, a draft).

An item's charge is `amount` + `currency`, or `price` (acacia) / `pricing[price]` (basil) with
`quantity`; `unit_amount_decimal`, `price_data`, `discounts`, `tax_rates` and `subscription` are
not taken (400 `parameter_unknown`, docs/API.md "One-off invoices and invoice items").
"""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import invoice_items, invoice_lines, invoices
from tally.billing.invoice_items import MAX_QUANTITY, Charge
from tally.domain.currencies import SUPPORTED_CURRENCIES
from tally.errors import invalid
from tally.presenters.invoice_items import invoice_item as present
from tally.presenters.invoices import invoice as present_invoice

routes = Routes()


def _currency(params: Params) -> str | None:
    raw = params.str("currency", max_length=3)
    if raw is None:
        return None
    if raw.lower() not in SUPPORTED_CURRENCIES:
        raise invalid("currency", f"Invalid currency: {raw}. Use a supported three-letter ISO code.")
    return raw.lower()


def _charge(params: Params, *, creating: bool, currency_param: bool = True) -> Charge | None:
    """`amount` [+ `currency`], or `price` / `pricing[price]` [+ `quantity`]; None when none given
    (an update). An update takes no `currency`, nor does a line of add_lines (the invoice's)."""
    amount = params.int("amount")
    currency = _currency(params) if creating and currency_param else None
    price = params.str("price", max_length=255)
    param = "price"
    pricing = params.sub("pricing")
    if pricing is not None:
        via = pricing.str("price", max_length=255)
        pricing.done()
        if via is not None and price is not None:
            raise invalid("pricing[price]", "You may only specify one of price and pricing[price].")
        if via is not None:
            price, param = via, "pricing[price]"
    quantity = params.int("quantity", min=0, max=MAX_QUANTITY)
    if amount is None and price is None and quantity is None and currency is None and not creating:
        return None
    return Charge(amount, currency, price, quantity, param)


def _period(params: Params) -> tuple[int, int] | None:
    period = params.sub("period")
    if period is None:
        return None
    start = period.int("start", required=True, min=0)
    end = period.int("end", required=True, min=0)
    period.done()
    assert start is not None and end is not None
    return start, end


def _description(params: Params) -> dict[str, Any]:
    if not params.has("description"):
        return {}
    return {"description": params.str("description", max_length=1500, empty_ok=True) or None}


@routes.route("POST /v1/invoiceitems")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    customer = params.str("customer", required=True, max_length=255)
    charge = _charge(params, creating=True)
    fields = _description(params)
    period = _period(params)
    invoice = params.str("invoice", max_length=255)
    discountable = params.bool("discountable")
    metadata = params.metadata()
    params.expand()
    params.done()
    assert customer is not None and charge is not None
    clock = invoice_items.clock_for_customer(request.account, customer, request.clock)
    item = invoice_items.create(
        request.account,
        customer,
        charge,
        clock,
        period=period,
        invoice=invoice,
        metadata=metadata,
        discountable=discountable,
        **fields,
    )
    return present(item)


@routes.route("GET /v1/invoiceitems/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(invoice_items.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v1/invoiceitems/{id}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    charge = _charge(params, creating=False)
    fields = _description(params)
    period = _period(params)
    discountable = params.bool("discountable")
    metadata = params.metadata()
    params.expand()
    params.done()
    item_id = request.path_params["id"]
    clock = invoice_items.clock_for_item(request.account, item_id, request.clock)
    item = invoice_items.update(
        request.account,
        item_id,
        clock,
        charge=charge,
        period=period,
        metadata=metadata,
        discountable=discountable,
        **fields,
    )
    return present(item)


@routes.route("DELETE /v1/invoiceitems/{id}")
def delete(request: Request) -> dict[str, Any]:
    params = request.params()
    params.done()
    item_id = request.path_params["id"]
    clock = invoice_items.clock_for_item(request.account, item_id, request.clock)
    return invoice_items.delete(request.account, item_id, clock)


@routes.route("GET /v1/invoiceitems")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params, created=True)
    customer = params.str("customer", max_length=255)
    invoice = params.str("invoice", max_length=255)
    pending = params.bool("pending")
    params.done()
    page = invoice_items.list_(
        request.account, window, request.clock, customer=customer, invoice=invoice, pending=pending
    )
    return envelope("/v1/invoiceitems", page, present)


@routes.route("POST /v1/invoices/{id}/add_lines")
def add_lines(request: Request) -> dict[str, Any]:
    params = request.params()
    lines = params.sublist("lines", required=True, max_items=invoice_lines.MAX_ADD_LINES)
    assert lines is not None
    if not lines:
        raise invalid("lines", "lines must hold at least one line.")
    asked: list[invoice_lines.NewLine] = []
    for line in lines:
        existing = line.str("invoice_item", max_length=255)
        charge = None if existing is not None else _charge(line, creating=True, currency_param=False)
        fields = _description(line)
        asked.append(
            invoice_lines.NewLine(
                invoice_item=existing,
                charge=charge,
                period=_period(line),
                discountable=line.bool("discountable"),
                metadata=line.metadata(),
                **fields,
            )
        )
        line.done()
    invoice_metadata = params.metadata("invoice_metadata")
    params.expand()
    params.done()
    invoice_id = request.path_params["id"]
    clock = invoices.clock_for_invoice(request.account, invoice_id, request.clock, changing=True)
    return present_invoice(
        invoice_lines.add_lines(request.account, invoice_id, asked, invoice_metadata, clock)
    )
