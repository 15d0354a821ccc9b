"""The one-off invoice of an automatic top-up, made with the one-off invoice and invoice item use
cases (`one_off_invoices.create`, `invoice_items.create`, `lifecycle.finalize`), exactly once.

Three writes, each keyed by an id derived from the top-up (`credit_watch.invoice_id`; the item's
from the invoice's), so `ensure` is idempotent and finishes whatever a crash left undone:

1. the draft invoice (`billing_reason: manual`, the rule's `collection_method`, metadata naming
   the rule) — if it is missing;
2. the invoice item of the top-up's amount on it — if it is missing and the invoice is a draft;
3. finalization — if the invoice is still a draft (it is then `open`: Tally collects no payments,
   so it is paid out of band, `POST /v1/invoices/{id}/pay`, which sends `invoice.paid`).

Two evaluators racing on one step: the second's conditional create fails (`Conflict`), it re-reads
and finds the step done.
"""

from __future__ import annotations

from tally.billing import invoice_items, lifecycle, one_off_invoices
from tally.billing.invoice_items import Charge
from tally.billing.one_off_invoices import OneOff
from tally.clock import Clock
from tally.domain.credit_watch import RULE_METADATA, SEND_INVOICE, TopUp
from tally.domain.records import Invoice, InvoiceItem
from tally.errors import Conflict, InvalidRequest, NotFound
from tally.store import objects


def item_id(invoice_id: str) -> str:
    """The id of the top-up's invoice item: the invoice's, with the item prefix."""
    return "ii_" + invoice_id.removeprefix("in_")


def _get(account: str, object_id: str, cls: type, clock: Clock) -> object | None:
    try:
        return objects.get(account, object_id, cls, clock)
    except NotFound:
        return None


def ensure(account: str, top_up: TopUp, description: str, clock: Clock) -> Invoice:
    """The top-up's invoice, created, given its line and finalized unless it already is."""
    rule = top_up.rule
    metadata: dict[str, str | None] = {RULE_METADATA: rule.id}
    if _get(account, top_up.invoice, Invoice, clock) is None:
        ask = OneOff(
            customer=rule.customer,
            currency=rule.currency,
            collection_method=rule.collection_method,
            days_until_due=rule.days_until_due if rule.collection_method == SEND_INVOICE else None,
            auto_advance=True,
            description=description,
            metadata=metadata,
            id=top_up.invoice,
        )
        try:
            one_off_invoices.create(account, ask, clock)
        except Conflict:
            if _get(account, top_up.invoice, Invoice, clock) is None:
                raise
    line = item_id(top_up.invoice)
    inv = objects.get(account, top_up.invoice, Invoice, clock)
    if inv.status == "draft" and _get(account, line, InvoiceItem, clock) is None:
        try:
            invoice_items.create(
                account,
                rule.customer,
                Charge(amount=top_up.amount, currency=rule.currency),
                clock,
                description=description,
                invoice=top_up.invoice,
                metadata=metadata,
                item_id=line,
            )
        except (Conflict, InvalidRequest):  # a concurrent evaluator added it (and finalized) first
            if _get(account, line, InvoiceItem, clock) is None:
                raise
    inv = objects.get(account, top_up.invoice, Invoice, clock)
    if inv.status == "draft":
        try:
            return lifecycle.finalize(account, inv.id, clock)
        except (Conflict, InvalidRequest):  # finalized by a concurrent evaluator (or by hand)
            if objects.get(account, top_up.invoice, Invoice, clock).status == "draft":
                raise
    return objects.get(account, top_up.invoice, Invoice, clock)
