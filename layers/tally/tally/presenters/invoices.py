"""The Stripe `invoice` object and its line items, from a stored `Invoice` record or from an
assembled draft (a preview: `InvoiceView`, turned into the same record, never stored)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tally.domain.invoices import Draft, totals
from tally.domain.records import Customer, Invoice, InvoiceLine, LineCredit, Price, Subscription
from tally.presenters.invoice_items import pricing
from tally.presenters.prices import amount_fields


@dataclass(frozen=True)
class InvoiceView:
    id: str
    line_ids: Sequence[str]
    draft: Draft
    subscription: Subscription
    customer: Customer
    prices: Mapping[str, Price]
    created: int
    billing_reason: str = "upcoming"
    status: str = "draft"
    # lines of the customer's pending invoice items the invoice would sweep (a preview shows them)
    items: tuple[InvoiceLine, ...] = ()

    def as_record(self) -> Invoice:
        """The invoice record of this draft: lines keep their price's unit amount, and the
        customer and subscription fields Stripe shows are copied (an invoice does not follow them)."""
        d, s, c, t = self.draft, self.subscription, self.customer, self.draft.totals
        pairs = zip(self.line_ids, d.lines, strict=True)
        lines = (*(ln.stored(line_id, self.prices[ln.price]) for line_id, ln in pairs), *self.items)
        if self.items:
            t = totals(lines, t.starting_balance)
        return Invoice(
            id=self.id,
            customer=c.id,
            subscription=s.id,
            created=self.created,
            livemode=s.livemode,
            currency=d.currency,
            period_start=d.period.start,
            period_end=d.period.end,
            lines=lines,
            subtotal=t.subtotal,
            total=t.total,
            amount_due=t.amount_due,
            amount_remaining=t.amount_remaining,
            starting_balance=t.starting_balance,
            status=self.status,
            billing_reason=self.billing_reason,
            customer_email=c.email,
            customer_name=c.name,
            customer_phone=c.phone,
            subscription_metadata=dict(s.metadata),
            test_clock=s.test_clock,
        )


def _item_line(inv: Invoice, ln: InvoiceLine) -> dict[str, Any]:
    """A line made from an invoice item (`InvoiceLine.invoice_item`): Stripe's `invoice_item_details`."""
    return {
        "id": ln.id,
        "object": "line_item",
        "amount": ln.amount,
        "currency": ln.currency,
        "description": ln.description or None,
        "discount_amounts": [],
        "discountable": ln.discountable,
        "discounts": [],
        "invoice": inv.id,
        "livemode": inv.livemode,
        "metadata": dict(ln.metadata),
        "parent": {
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": ln.invoice_item,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": inv.subscription,
            },
            "subscription_item_details": None,
        },
        "period": {"end": ln.period_end, "start": ln.period_start},
        "pretax_credit_amounts": pretax_credit_amounts(ln.credits),
        "pricing": pricing(ln.price, ln.product, ln.unit_amount),
        "quantity": ln.quantity,
        "quantity_decimal": str(ln.quantity),
        "subscription": inv.subscription,
        "subtotal": ln.amount,
        "taxes": [],
    }


def pretax_credit_amounts(credits: Iterable[LineCredit]) -> list[dict[str, Any]]:
    """Stripe's `pretax_credit_amounts` for billing credits: one per `credits_applied` ledger entry
    (`discount` is absent: Stripe sends it only on `type: discount`)."""
    return [
        {
            "amount": c.amount,
            "credit_balance_transaction": c.credit_balance_transaction,
            "type": "credit_balance_transaction",
        }
        for c in credits
    ]


def _plan_line(inv: Invoice, ln: InvoiceLine) -> dict[str, Any]:
    """A cadence invoice's line (`InvoiceLine.plan`): parent `pricing_plan_subscription_details`,
    pricing `rate_card_rate_details` or `license_fee_details` (Stripe's preview shapes)."""
    src = ln.plan
    assert src is not None
    if src.rate_card_rate is not None:
        pricing: dict[str, Any] = {
            "type": "rate_card_rate_details",
            "rate_card_rate_details": {
                "metered_item": src.metered_item,
                "rate_card": src.rate_card,
                "rate_card_rate": src.rate_card_rate,
            },
        }
        if src.dimensions:  # Tally: the metered item's invoice_presentation_dimensions' values
            pricing["rate_card_rate_details"]["dimensions"] = dict(src.dimensions)
    else:
        pricing = {
            "type": "license_fee_details",
            "license_fee_details": {
                "license_fee": src.license_fee,
                "license_fee_version": src.license_fee_version,
                "licensed_item": src.licensed_item,
            },
        }
    pricing["unit_amount_decimal"] = amount_fields("unit_amount", ln.unit_amount)["unit_amount_decimal"]
    return {
        "id": ln.id,
        "object": "line_item",
        "amount": ln.amount,
        "currency": ln.currency,
        "description": ln.description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": inv.id,
        "livemode": inv.livemode,
        "metadata": {},
        "parent": {
            "type": "pricing_plan_subscription_details",
            "invoice_item_details": None,
            "pricing_plan_subscription_details": {
                "invoice_item": None,
                "pricing_plan_subscription": src.pricing_plan_subscription,
                "pricing_plan_version": src.pricing_plan_version,
            },
            "subscription_item_details": None,
        },
        "period": {"end": ln.period_end, "start": ln.period_start},
        "pretax_credit_amounts": pretax_credit_amounts(ln.credits),
        "pricing": pricing,
        "quantity": ln.quantity,
        "quantity_decimal": str(ln.quantity),
        "subscription": None,
        "subtotal": ln.amount,
        "taxes": [],
    }


def _parent(inv: Invoice) -> dict[str, Any] | None:
    if inv.billing_cadence is not None:  # a v2 cadence's invoice
        return {
            "type": "billing_cadence_details",
            "billing_cadence_details": {"billing_cadence": inv.billing_cadence},
            "quote_details": None,
            "subscription_details": None,
        }
    if inv.subscription is None:  # a one-off invoice (`billing_reason: manual`) has no parent
        return None
    return {
        "type": "subscription_details",
        "quote_details": None,
        "subscription_details": {
            "metadata": dict(inv.subscription_metadata),
            "subscription": inv.subscription,
        },
    }


def line(inv: Invoice, ln: InvoiceLine) -> dict[str, Any]:
    if ln.invoice_item is not None:
        return _item_line(inv, ln)
    if ln.plan is not None:
        return _plan_line(inv, ln)
    return {
        "id": ln.id,
        "object": "line_item",
        "amount": ln.amount,
        "currency": ln.currency,
        "description": ln.description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": inv.id,
        "livemode": inv.livemode,
        "metadata": dict(inv.subscription_metadata),
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": ln.proration,
                "proration_details": {"credited_items": None},
                "subscription": inv.subscription,
                "subscription_item": ln.subscription_item,
            },
        },
        "period": {"end": ln.period_end, "start": ln.period_start},
        "pretax_credit_amounts": pretax_credit_amounts(ln.credits),
        "pricing": {
            "type": "price_details",
            "price_details": {"price": ln.price, "product": ln.product},
            "unit_amount_decimal": amount_fields("unit_amount", ln.unit_amount)["unit_amount_decimal"],
        },
        "quantity": ln.quantity,
        "quantity_decimal": str(ln.quantity),
        "subscription": inv.subscription,
        "subtotal": ln.amount,
        "taxes": [],
    }


def invoice(shown: Invoice | InvoiceView) -> dict[str, Any]:
    inv = shown.as_record() if isinstance(shown, InvoiceView) else shown
    lines = [line(inv, ln) for ln in inv.lines]
    return {
        "id": inv.id,
        "object": "invoice",
        "account_country": None,
        "account_name": None,
        "account_tax_ids": None,
        "amount_due": inv.amount_due,
        "amount_overpaid": 0,
        "amount_paid": inv.amount_paid,
        "amount_remaining": inv.amount_remaining,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": inv.auto_advance and not isinstance(shown, InvoiceView),  # a preview: False
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": inv.due_at if inv.status == "draft" else None,
        "billing_reason": inv.billing_reason,
        "collection_method": inv.collection_method,
        "created": inv.created,
        "currency": inv.currency,
        "custom_fields": None,
        "customer": inv.customer,
        "customer_account": None,
        "customer_address": None,
        "customer_email": inv.customer_email,
        "customer_name": inv.customer_name,
        "customer_phone": inv.customer_phone,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": inv.description,
        "discounts": [],
        "due_date": inv.due_date,
        "effective_at": inv.finalized_at,
        "ending_balance": inv.ending_balance,
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
            "url": f"/v1/invoices/{inv.id}/lines",
        },
        "livemode": inv.livemode,
        "metadata": dict(inv.metadata),
        "next_payment_attempt": None,
        "number": inv.number,
        "on_behalf_of": None,
        "parent": _parent(inv),
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": inv.period_end,
        "period_start": inv.period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": inv.starting_balance,
        "statement_descriptor": None,
        "status": inv.status,
        "status_transitions": {
            "finalized_at": inv.finalized_at,
            "marked_uncollectible_at": inv.marked_uncollectible_at,
            "paid_at": inv.paid_at,
            "voided_at": inv.voided_at,
        },
        "subscription": inv.subscription,
        "subtotal": inv.subtotal,
        "subtotal_excluding_tax": inv.subtotal,
        "test_clock": inv.test_clock,
        "total": inv.total,
        "total_discount_amounts": [],
        "total_excluding_tax": inv.total,
        "total_pretax_credit_amounts": pretax_credit_amounts(c for ln in inv.lines for c in ln.credits),
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }
