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


ACACIA = "2025-02-24.acacia"


def test_an_acacia_app_reads_price_and_unit_amount(api: support.Api) -> None:
    # GIVEN an item of 3 × a 12.5-cent one-time price on a one-off draft
    customer = _customer(api)
    price = _one_time_price(api)
    item = api.post("/v1/invoiceitems", {"customer": customer, "price": price, "quantity": 3}).json
    inv = api.post("/v1/invoices", {"customer": customer, "pending_invoice_items_behavior": "include"}).json
    # WHEN an app pinned to acacia reads them
    old = api.get(f"/v1/invoiceitems/{item['id']}", headers={"Stripe-Version": ACACIA}).json
    lines = api.get(f"/v1/invoices/{inv['id']}", headers={"Stripe-Version": ACACIA}).json["lines"]["data"]
    # THEN acacia's fields: the price object, unit_amount_decimal, no basil `pricing`/`parent`
    assert old["price"]["id"] == price and old["unit_amount"] is None and old["unit_amount_decimal"] == "12.5"
    assert "pricing" not in old and "parent" not in old and old["amount"] == 38
    assert (lines[0]["type"], lines[0]["invoice_item"], lines[0]["price"]["id"]) == (
        "invoiceitem",
        item["id"],
        price,
    )


def test_the_preview_shows_the_pending_items_the_close_would_sweep(api: support.Api) -> None:
    # GIVEN a subscription to a 10.00 monthly price and a pending 15.00 item
    customer = _customer(api)
    product = api.post("/v1/products", {"name": "Seats"}).json["id"]
    monthly = api.post(
        "/v1/prices",
        {"currency": "usd", "unit_amount": 1000, "product": product, "recurring": {"interval": "month"}},
    ).json["id"]
    assert api.post("/v1/subscriptions", {"customer": customer, "items": [{"price": monthly}]}).status == 200
    fee = api.post("/v1/invoiceitems", {"customer": customer, "amount": 1500, "currency": "usd"}).json
    # WHEN the next invoice is previewed THEN it shows the item: 1,000 + 1,500
    preview = api.post("/v1/invoices/create_preview", {"customer": customer}).json
    assert preview["total"] == 2500
    assert preview["lines"]["data"][-1]["parent"]["invoice_item_details"]["invoice_item"] == fee["id"]
    assert problems(preview) == []


CLOCKS = "/v1/test_helpers/test_clocks"
FROZEN = 1_900_000_000


def test_a_one_off_invoice_on_a_test_clock_finalizes_when_the_clock_passes_its_grace(
    api: support.Api, functions: support.Functions
) -> None:
    # GIVEN a customer on a test clock, a 15.00 item and an auto-advancing one-off draft
    clock = api.post(CLOCKS, {"frozen_time": FROZEN}).json["id"]
    customer = _customer(api, test_clock=clock)
    item = api.post("/v1/invoiceitems", {"customer": customer, "amount": 1500, "currency": "usd"}).json
    assert (item["date"], item["test_clock"]) == (FROZEN, clock)
    body = {"customer": customer, "pending_invoice_items_behavior": "include", "auto_advance": "true"}
    draft = api.post("/v1/invoices", body).json
    assert (draft["created"], draft["automatically_finalizes_at"], draft["test_clock"]) == (
        FROZEN,
        FROZEN + 3600,
        clock,
    )
    # WHEN the clock advances past the grace period
    support.advance_clock(api, functions, clock, FROZEN + 7200)
    # THEN the draft was finalized at the clock's time, numbered
    inv = api.get(f"/v1/invoices/{draft['id']}").json
    assert (inv["status"], inv["amount_due"], inv["status_transitions"]["finalized_at"]) == (
        "open",
        1500,
        FROZEN + 3600,
    )
    # WHEN the clock is deleted THEN its customer's items go with it
    assert api.delete(f"{CLOCKS}/{clock}").status == 200
    assert api.get(f"/v1/invoiceitems/{item['id']}").status == 404


def test_mark_uncollectible_and_void_a_one_off_invoice(api: support.Api) -> None:
    customer = _customer(api)
    api.post("/v1/invoiceitems", {"customer": customer, "amount": 900, "currency": "usd"})
    inv = api.post("/v1/invoices", {"customer": customer, "pending_invoice_items_behavior": "include"}).json
    assert api.post(f"/v1/invoices/{inv['id']}/finalize").json["amount_due"] == 900
    assert api.post(f"/v1/invoices/{inv['id']}/mark_uncollectible").json["status"] == "uncollectible"
    assert api.post(f"/v1/invoices/{inv['id']}/void").json["status"] == "void"
    types = [e["type"] for e in support.stored_events(api.account.id)]
    assert {"invoice.marked_uncollectible", "invoice.voided"} <= set(types)
