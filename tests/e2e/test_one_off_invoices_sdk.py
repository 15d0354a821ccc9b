"""One-off invoices and invoice items with the official `stripe` SDK against the local server
(issue 13 point 5): create items, a one-off invoice that includes them, finalize, pay.

Hand-computed: a 15.00 setup fee (1,500) + 3 × a 12.5-cent one-time price (37.5 → 38, rounded
half-up once) − a 3.00 credit (−300) = 1,238 cents; then an item added to a second draft
(add_lines, 250) and one deleted before it is finalized.
"""

from __future__ import annotations

import pytest
import stripe

pytestmark = pytest.mark.e2e


def test_items_a_one_off_invoice_finalized_and_paid(client: stripe.StripeClient) -> None:
    # GIVEN a customer, a one-time price and three pending invoice items
    customer = client.v1.customers.create({"name": "Jenny Rosen", "email": "jenny@example.com"})
    price = client.v1.prices.create(
        {"currency": "usd", "unit_amount_decimal": "12.5", "product_data": {"name": "Consulting"}}
    )
    fee = client.v1.invoice_items.create(
        {"customer": customer.id, "amount": 1500, "currency": "usd", "description": "Setup fee"}
    )
    hours = client.v1.invoice_items.create(
        {"customer": customer.id, "pricing": {"price": price.id}, "quantity": 3}
    )
    credit = client.v1.invoice_items.create({"customer": customer.id, "amount": -300, "currency": "usd"})
    assert (fee.amount, hours.amount, credit.amount) == (1500, 38, -300)
    assert hours.pricing is not None and hours.pricing.price_details is not None
    assert hours.pricing.price_details.price == price.id
    pending = client.v1.invoice_items.list({"customer": customer.id, "pending": True})
    assert {i.id for i in pending.data} == {fee.id, hours.id, credit.id}

    # WHEN a one-off invoice includes them
    invoice = client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include", "description": "Onboarding"}
    )
    # THEN a manual draft of 1,238 with one line per item
    assert invoice.id is not None
    assert (invoice.status, invoice.billing_reason, invoice.parent) == ("draft", "manual", None)
    assert (invoice.subtotal, invoice.total, invoice.amount_due) == (1238, 1238, 1238)
    lines = invoice.lines.data
    assert [
        ln.parent.invoice_item_details.invoice_item
        for ln in lines
        if ln.parent and ln.parent.invoice_item_details
    ] == [
        fee.id,
        hours.id,
        credit.id,
    ]
    assert client.v1.invoice_items.retrieve(fee.id).invoice == invoice.id

    # WHEN it is finalized and paid out of band
    opened = client.v1.invoices.finalize_invoice(invoice.id)
    assert opened.status == "open" and opened.number and opened.number.endswith("-0001")
    paid = client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
    # THEN it is paid in full; its items can no longer be deleted
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 1238, 0)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.invoice_items.delete(fee.id)
    assert refused.value.code == "invoice_not_editable"


def test_add_lines_update_and_delete_on_a_draft(client: stripe.StripeClient) -> None:
    # GIVEN an empty one-off draft (Stripe's default excludes pending items)
    customer = client.v1.customers.create({"name": "Ada"})
    draft = client.v1.invoices.create({"customer": customer.id, "currency": "usd", "auto_advance": False})
    assert draft.total == 0 and draft.lines.data == []
    # WHEN two lines are added, one raised and one deleted
    grown = client.v1.invoices.add_lines(
        draft.id, {"lines": [{"amount": 250, "description": "Extra"}, {"amount": 100, "description": "Oops"}]}
    )
    assert grown.total == 350
    extra, oops = (ln.parent.invoice_item_details.invoice_item for ln in grown.lines.data)
    client.v1.invoice_items.update(extra, {"amount": 400})
    client.v1.invoice_items.delete(oops)
    # THEN the draft follows: 400, one line
    shown = client.v1.invoices.retrieve(draft.id)
    assert shown.total == 400 and len(shown.lines.data) == 1
    assert client.v1.invoices.finalize_invoice(draft.id).amount_due == 400
