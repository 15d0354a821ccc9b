"""One-off invoices (`POST /v1/invoices`) and invoice items (`/v1/invoiceitems`) through the API:
items swept into a one-off invoice, the same lifecycle, numbering and events as a subscription's
invoices (`tally.billing.one_off_invoices`, `invoice_items`, `pending_items`).

Hand-computed: a 15.00 setup fee (1500) + 3 × a one-time price of 12.5 cents (37.5 → 38, half-up,
once per line) − a 3.00 credit (−300) = 1,238 cents.
"""

from __future__ import annotations

import pytest
import support
from stripe_shapes import problems

pytestmark = pytest.mark.usefixtures("moto_tables")


def _customer(api: support.Api, **extra: str) -> str:
    return api.post("/v1/customers", {"name": "Jenny", "email": "jenny@example.com", **extra}).json["id"]


def _one_time_price(api: support.Api, cents: str = "12.5") -> str:
    r = api.post(
        "/v1/prices",
        {"currency": "usd", "unit_amount_decimal": cents, "product_data": {"name": "Consulting hour"}},
    )
    assert r.status == 200, r.json
    return r.json["id"]


def _items(api: support.Api, customer: str, price: str) -> list[dict]:
    made = [
        api.post(
            "/v1/invoiceitems",
            {"customer": customer, "amount": 1500, "currency": "usd", "description": "Setup fee"},
        ),
        api.post("/v1/invoiceitems", {"customer": customer, "pricing": {"price": price}, "quantity": 3}),
        api.post("/v1/invoiceitems", {"customer": customer, "amount": -300, "currency": "usd"}),
    ]
    for r in made:
        assert r.status == 200, r.json
    return [r.json for r in made]


def test_items_swept_into_a_one_off_invoice_finalized_and_paid(api: support.Api) -> None:
    # GIVEN three pending items of a customer
    customer = _customer(api)
    price = _one_time_price(api)
    items = _items(api, customer, price)
    assert [i["amount"] for i in items] == [1500, 38, -300]
    assert items[1]["pricing"] == {
        "type": "price_details",
        "price_details": {"price": price, "product": items[1]["pricing"]["price_details"]["product"]},
        "unit_amount_decimal": "12.5",
    }
    for item in items:
        assert item["invoice"] is None and problems(item) == []
    pending = api.get("/v1/invoiceitems", {"customer": customer, "pending": "true"}).json
    assert [i["id"] for i in pending["data"]] == [i["id"] for i in reversed(items)]

    # WHEN a one-off invoice includes them
    r = api.post("/v1/invoices", {"customer": customer, "pending_invoice_items_behavior": "include"})
    assert r.status == 200, r.json
    inv = r.json

    # THEN a draft of 1,238 with one line per item, Stripe's manual shape
    assert problems(inv) == []
    assert (inv["status"], inv["billing_reason"], inv["subscription"], inv["parent"]) == (
        "draft",
        "manual",
        None,
        None,
    )
    assert (inv["subtotal"], inv["total"], inv["amount_due"], inv["auto_advance"]) == (
        1238,
        1238,
        1238,
        False,
    )
    assert inv["automatically_finalizes_at"] is None  # auto_advance off (Stripe's API default)
    lines = inv["lines"]["data"]
    assert [ln["parent"]["invoice_item_details"]["invoice_item"] for ln in lines] == [i["id"] for i in items]
    assert [ln["amount"] for ln in lines] == [1500, 38, -300]
    assert api.get("/v1/invoiceitems", {"customer": customer, "pending": "true"}).json["data"] == []
    on_invoice = api.get("/v1/invoiceitems", {"invoice": inv["id"]}).json["data"]
    assert {i["id"] for i in on_invoice} == {i["id"] for i in items}

    # WHEN it is finalized and paid out of band: numbered like every invoice of the customer
    opened = api.post(f"/v1/invoices/{inv['id']}/finalize").json
    assert opened["status"] == "open" and opened["amount_due"] == 1238
    assert opened["number"].endswith("-0001")
    paid = api.post(f"/v1/invoices/{inv['id']}/pay", {"paid_out_of_band": "true"}).json
    assert (paid["status"], paid["amount_paid"], paid["amount_remaining"]) == ("paid", 1238, 0)

    # THEN its items can no longer change, and the events are the lifecycle's
    r = api.delete(f"/v1/invoiceitems/{items[0]['id']}")
    support.assert_stripe_error(r.status, r.json, 400, code="invoice_not_editable")
    r = api.post(f"/v1/invoiceitems/{items[0]['id']}", {"amount": 1})
    support.assert_stripe_error(r.status, r.json, 400, code="invoice_not_editable")
    types = [e["type"] for e in support.stored_events(api.account.id)]
    assert types.count("invoiceitem.created") == 3
    for kind in ("invoice.created", "invoice.finalized", "invoice.paid"):
        assert types.count(kind) == 1
