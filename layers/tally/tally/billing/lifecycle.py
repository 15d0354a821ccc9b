"""The invoice lifecycle (Stripe's): `draft` → `open` → `paid` | `void` | `uncollectible`.

- **finalize** (`draft` → `open`): at the end of the grace period (`automatically_finalizes_at`,
  the close's due index sends it: `advance_due`) or early (`POST /v1/invoices/{id}/finalize`).
  The metered lines are rebuilt from the usage stored NOW over their period, so late usage that
  arrived during the grace period counts; licensed lines stay. The true-up lines of earlier
  finalized periods are recomputed (`tally.billing.true_ups`), and what this invoice billed is
  recorded (`tally.store.billed`) in the same transaction, conditional on the versions read.
  The invoice gets its number `<customer.invoice_prefix>-<NNNN>` from the customer's
  `next_invoice_sequence`, bumped in the same transaction (invoice Put conditional on the
  draft's version, customer Put conditional on its version, `invoice.finalized` and
  `customer.updated` events): two invoices never share a number, and a number is never skipped.
  Billing credits apply in that same transaction, before the customer balance
  (`tally.billing.credit_application`: `credits_applied` entries, each grant debited once and only
  if that much is left), and a void reinstates them in the void's transaction.
- **paid**: only out of band (`paid_out_of_band=true`), Tally collects no payments. An invoice
  with nothing to pay is paid right after it is finalized (Stripe).
- **void** (`open`/`uncollectible`), **mark_uncollectible** (`open`).
- **update** (`description`, `metadata`, `auto_advance` on drafts; `metadata` on any invoice).

Each state change is ONE transaction with its event. Finalizing a zero invoice is two (finalize,
then pay). Crash points: before/inside the finalize transaction → nothing written, the draft is
still due (the close re-sends it; an API caller retries); between it and the pay transaction →
the invoice is `open` with nothing remaining, which keeps it in the due index
(`Invoice.due_at`), so the next close pays it. A duplicate message finds no draft: nothing done.
Concurrent writers: the version checks refuse the second; we re-read and re-decide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from tally.billing import account_settings, balances, changes, credit_application, true_ups
from tally.clock import Clock
from tally.domain import invoices as domain
from tally.domain.listing import Page, Window, page_of
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.records import METERED, Customer, Invoice, InvoiceLine, Meter, Price, Product
from tally.errors import Conflict, InvalidRequest, NotFound
from tally.presenters.invoices import invoice as present
from tally.store import objects, transactions, usage
from tally.store.changes import Change, Stored, Write

ATTEMPTS = 3
T = TypeVar("T")


def _retrying(step: Callable[[], T]) -> T:
    """Run `step` (read, decide, write); on a version conflict read again, up to ATTEMPTS times."""
    for attempt in range(ATTEMPTS):
        try:
            return step()
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _state_error(message: str) -> InvalidRequest:
    return InvalidRequest(message, code="invoice_not_editable")


# -- finalize -------------------------------------------------------------------------------------
def _line_now(account: str, ln: InvoiceLine, customer: str, clock: Clock) -> InvoiceLine:
    """A metered line re-rated from the usage stored now over its period (late usage counts)."""
    price = objects.get(account, ln.price, Price, clock)
    if ln.usage_type != METERED or not price.meter:
        return ln
    meter = objects.get(account, price.meter, Meter, clock, label="billing meter")
    since, end = ln.usage_span  # the span the draft counted
    used = usage.aggregate(account, meter, customer, since, end) if since < end else 0
    name = objects.get(account, price.product, Product, clock).name
    period = domain.Period(ln.period_start, ln.period_end)
    item = domain.ItemInput(ln.subscription_item, price, name, usage=used)
    fresh = domain.item_line(item, domain.Cycle(period, period))
    return replace(ln, quantity=fresh.quantity, amount=fresh.amount, description=fresh.description)


def rerated(account: str, inv: Invoice, clock: Clock) -> tuple[Invoice, list[true_ups.Recheck]]:
    """The draft `inv` as finalizing it now makes it (reads only): metered lines re-rated with the
    usage stored now, true-up lines recomputed (`billing.true_ups`), totals before billing credits;
    and the true-up checks its transaction records. The real-time credit burndown
    (`tally.billing.burndown`) prices a draft with this same function."""
    kept = tuple(
        _line_now(account, ln, inv.customer, clock) if ln.usage_type == METERED and not ln.proration else ln
        for ln in inv.lines
        if not ln.true_up
    )
    ups: list[InvoiceLine] = []
    checks: list[true_ups.Recheck] = []
    if inv.subscription is not None:  # a one-off invoice (`billing.one_off_invoices`) has no usage
        ups, checks = true_ups.finalized(account, inv.id, inv.subscription, inv.customer, inv.lines, clock)
    lines = (*ups, *kept)
    totals = domain.totals(lines, inv.starting_balance)
    return replace(inv, lines=lines, subtotal=totals.subtotal, total=totals.total), checks


def _finalize_once(
    account: str, stored: Stored[Invoice], clock: Clock, settle_until: int | None = None
) -> Stored[Invoice]:
    inv, checks = rerated(account, stored.record, clock)
    lines = inv.lines
    owner = objects.load(account, inv.customer, Customer, clock)
    c = owner.record
    opened = replace(
        inv,
        status="open",
        number=f"{c.invoice_prefix}-{c.next_invoice_sequence:04d}",
        finalized_at=clock.now,
    )
    # billing credits first (`billing.credit_application`), then the customer balance meets the
    # rest (`billing.balances`): total, amount_due, starting/ending balance
    credited = credit_application.apply(account, opened, clock)
    settled = balances.settle(credited.invoice, c, clock.now, credits=credited.amount)
    after = settled.invoice
    bumped = replace(settled.customer, next_invoice_sequence=c.next_invoice_sequence + 1)
    writes = [
        Write(Change(after, "invoice.finalized", present(after)), stored),
        Write(balances.customer_change(c, bumped), owner),  # version-checked: the balance once
        *balances.written(settled.transaction),
        *credited.writes,  # each grant debited once, only if that much is left
    ]
    settles = clock.now if settle_until is None else min(clock.now, settle_until)
    billed = (
        []
        if inv.subscription is None
        else true_ups.writes(account, inv.subscription, inv.id, lines, checks, settles)
    )
    transactions.commit(account, writes, clock, aux=billed)
    return Stored(after, stored.version + 1, stored.created_ms)


def _finalized(
    account: str, stored: Stored[Invoice], clock: Clock, settle_until: int | None = None
) -> Invoice:
    """Finalize a draft; with nothing to pay, pay it (a second transaction, see module doc)."""
    opened = _finalize_once(account, stored, clock, settle_until)
    if opened.record.amount_remaining == 0:
        return _pay_once(account, opened, clock, out_of_band=False)
    return opened.record


def finalize(account: str, invoice_id: str, clock: Clock) -> Invoice:
    """`POST /v1/invoices/{id}/finalize`: finalize a draft now (400 when it is not a draft)."""

    def step() -> Invoice:
        stored = objects.load(account, invoice_id, Invoice, clock)
        if stored.record.status != "draft":
            raise _state_error(
                "This invoice is already finalized, you can't re-finalize a non-draft invoice."
            )
        return _finalized(account, stored, clock)

    return _retrying(step)


def advance_due(
    account: str, invoice_id: str, clock: Clock, *, settle_until: int | None = None
) -> tuple[str, Invoice | None]:
    """The close's message for a due invoice: finalize a draft whose grace period ended, pay an
    open invoice with nothing remaining; anything else (a duplicate, a draft finalized early, one
    with `auto_advance` off, a grace period not ended) is left alone. A draft whose customer was
    deleted cannot be numbered: its `auto_advance` is turned off, so it stops coming back (it stays
    a draft). Returns (outcome, invoice).

    `settle_until` (a test clock's advance: the clock's time when it began) caps the instant at
    which billed periods are settled (`true_ups.writes`): a request that read the clock before the
    advance may still add usage relative to that time, so no period it can reach is forgotten."""

    def step() -> tuple[str, Invoice | None]:
        stored = objects.load(account, invoice_id, Invoice, clock)
        inv = stored.record
        if inv.status == "open" and inv.amount_remaining == 0:
            return "paid", _pay_once(account, stored, clock, out_of_band=False)
        if inv.status != "draft":
            return "already_finalized", None
        if inv.due_at is None or inv.due_at > clock.now:
            return "not_due", None
        try:
            objects.get(account, inv.customer, Customer, clock)
        except NotFound:  # deleted during the grace period: no number to give; stop advancing it
            return "customer_deleted", _stop(account, stored, clock)
        return "finalized", _finalized(account, stored, clock, settle_until)

    return _retrying(step)


def _stop(account: str, stored: Stored[Invoice], clock: Clock) -> Invoice:
    """Turn `auto_advance` off (the invoice leaves the due index), with `invoice.updated`."""
    after = replace(stored.record, auto_advance=False)
    change = changes.updated(after, "invoice.updated", present(stored.record), present(after))
    assert change is not None  # auto_advance changed
    objects.update(account, stored, change, clock)
    return after


# -- pay, void, mark_uncollectible ----------------------------------------------------------------
def _pay_once(account: str, stored: Stored[Invoice], clock: Clock, *, out_of_band: bool) -> Invoice:
    inv = stored.record
    after = replace(
        inv,
        status="paid",
        amount_paid=inv.amount_remaining + inv.amount_paid,
        amount_remaining=0,
        paid_at=clock.now,
        paid_out_of_band=out_of_band,
    )
    objects.update(account, stored, Change(after, "invoice.paid", present(after)), clock)
    return after


def pay(account: str, invoice_id: str, paid_out_of_band: bool, clock: Clock) -> Invoice:
    """`POST /v1/invoices/{id}/pay`: record a payment made outside Tally. A draft is finalized
    first (Stripe); a paid or void invoice cannot be paid."""

    def step() -> Invoice:
        stored = objects.load(account, invoice_id, Invoice, clock)
        status = stored.record.status
        if status == "paid":
            raise _state_error("Invoice is already paid.")
        if status == "void":
            raise _state_error("This invoice has been voided and can no longer be paid.")
        if not paid_out_of_band:
            raise InvalidRequest(
                "Tally collects no payments: pass paid_out_of_band=true to record that this invoice "
                "was paid outside Tally.",
                param="paid_out_of_band",
            )
        if status == "draft":
            stored = _finalize_once(account, stored, clock)
        return _pay_once(account, stored, clock, out_of_band=True)

    return _retrying(step)


def _transition(
    account: str,
    invoice_id: str,
    clock: Clock,
    *,
    allowed: tuple[str, ...],
    status: str,
    event: str,
    message: str,
    give_back: bool = False,
) -> Invoice:
    def step() -> Invoice:
        stored = objects.load(account, invoice_id, Invoice, clock)
        if stored.record.status not in allowed:
            raise _state_error(message.format(status=stored.record.status))
        stamp = {"void": "voided_at", "uncollectible": "marked_uncollectible_at"}[status]
        after = replace(stored.record, status=status, **{stamp: clock.now})
        writes = [Write(Change(after, event, present(after)), stored)]
        if give_back:  # the customer balance, and billing credits (`credit_application`)
            writes += _given_back(account, stored.record, clock)
            writes += credit_application.reinstated(account, stored.record, clock)
        transactions.commit(account, writes, clock)
        return after

    return _retrying(step)


def _given_back(account: str, inv: Invoice, clock: Clock) -> list[Write]:
    """The customer (version-checked) and its `unapplied_from_invoice` entry, when `inv` took from
    its balance; nothing for a deleted customer (no balance left to restore)."""
    try:
        owner = objects.load(account, inv.customer, Customer, clock)
    except NotFound:
        return []
    back = balances.unapply(inv, owner.record, clock.now)
    if back is None:
        return []
    customer, txn = back
    return [Write(balances.customer_change(owner.record, customer), owner), *balances.written(txn)]


def void(account: str, invoice_id: str, clock: Clock) -> Invoice:
    """`POST /v1/invoices/{id}/void`: open or uncollectible invoices only (Stripe). What the invoice
    took from the customer balance goes back (`unapplied_from_invoice`), and what it took from
    credit grants (`credits_application_invoice_voided`), in the same transaction."""
    return _transition(
        account,
        invoice_id,
        clock,
        allowed=("open", "uncollectible"),
        status="void",
        event="invoice.voided",
        message="You can only void an open or uncollectible invoice; this invoice is {status}.",
        give_back=True,
    )


def mark_uncollectible(account: str, invoice_id: str, clock: Clock) -> Invoice:
    """`POST /v1/invoices/{id}/mark_uncollectible`: open invoices only."""
    return _transition(
        account,
        invoice_id,
        clock,
        allowed=("open",),
        status="uncollectible",
        event="invoice.marked_uncollectible",
        message="You can only mark an open invoice as uncollectible; this invoice is {status}.",
    )


# -- update, lines --------------------------------------------------------------------------------
_UNSET = object()


def update(
    account: str,
    invoice_id: str,
    clock: Clock,
    *,
    description: object = _UNSET,
    metadata: MetadataUpdate = None,
    auto_advance: bool | None = None,
) -> Invoice:
    """`POST /v1/invoices/{id}`: `description` and `auto_advance` on drafts, `metadata` on any."""

    def step() -> Invoice:
        stored = objects.load(account, invoice_id, Invoice, clock)
        inv = stored.record
        if inv.status != "draft" and (description is not _UNSET or auto_advance is not None):
            param = "description" if description is not _UNSET else "auto_advance"
            raise InvalidRequest(
                f"You can only update {param} on a draft invoice; this invoice is {inv.status}.",
                code="invoice_not_editable",
                param=param,
            )
        after = replace(
            inv,
            description=inv.description if description is _UNSET else description,  # type: ignore[arg-type]
            metadata=apply_metadata(inv.metadata, metadata),
            auto_advance=inv.auto_advance if auto_advance is None else auto_advance,
        )
        if after.status == "draft" and after.auto_advance and after.automatically_finalizes_at is None:
            # a draft written before every draft had one (issue 12): it finalizes after the grace
            grace = account_settings.invoice_grace(account, clock)
            after = replace(after, automatically_finalizes_at=clock.now + grace)
        change = changes.updated(after, "invoice.updated", present(inv), present(after))
        if change is not None:
            objects.update(account, stored, change, clock)
        return after

    return _retrying(step)


def lines(invoice: Invoice, window: Window) -> Page[InvoiceLine]:
    """`GET /v1/invoices/{id}/lines`: a page of the (already read) invoice's lines, in order."""

    def missing(cursor: str, param: str) -> Exception:
        return NotFound("line item", cursor, param=param)

    return page_of(invoice.lines, window, lambda ln: ln.id, missing)
