"""Revenue recognition for usage billing (pure, no I/O): journal entries and their monthly report.

Stripe's "delivery-based" method (docs/API.md, "Revenue recognition"):
- **accrual**: usage is revenue in the month it is delivered — Dr UnbilledReceivables / Cr Revenue,
  rated per month as the *cumulative* difference `rate(usage to the month's end) − rate(usage to
  its start)` over the line's service span, so tiers and rounding telescope: a span's months
  sum to exactly `rate(span usage)`, the invoice's own arithmetic (`tally.domain.pricing`);
- **finalization**: the accrual is reversed (Dr Revenue / Cr UnbilledReceivables, what was accrued)
  and the invoice rebooked (Dr AccountsReceivable / Cr Revenue, its total): any difference
  (rounding, late usage, licensed fees, prorations, true-ups) lands in the finalization month;
  a customer balance it consumed or added moves between AccountsReceivable and CustomerBalance;
- **payment**: Dr Cash / Cr AccountsReceivable (`amount_paid`, at `paid_at`);
- **void** of a finalized invoice: the rebooking and the balance move reversed at `voided_at`.

Accounting periods are calendar months in UTC. Amounts are integers in the currency's minor unit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tally.domain.pricing import (
    THREE_DECIMAL_CURRENCIES,
    ZERO_DECIMAL_CURRENCIES,
    PriceModel,
    billable_quantity,
    line_amount,
)

REVENUE = "Revenue"
UNBILLED = "UnbilledReceivables"
RECEIVABLES = "AccountsReceivable"
CASH = "Cash"
CUSTOMER_BALANCE = "CustomerBalance"
ACCOUNTS = (REVENUE, UNBILLED, RECEIVABLES, CASH, CUSTOMER_BALANCE)
# license fees billed in advance (v2 cadence invoices, `tally.domain.revenue_fees`): shown only
# for a currency that has such entries, after the five
DEFERRED = "DeferredRevenue"
CREDIT_NORMAL = frozenset({REVENUE, CUSTOMER_BALANCE, DEFERRED})  # their net is credit − debit

ACCRUAL = "usage_accrual"
REVERSAL = "accrual_reversal"
REBOOKING = "invoice_rebooking"
BALANCE_APPLIED = "customer_balance_applied"
PAYMENT = "payment"
VOID = "invoice_void"

MAX_MONTHS = 120  # one report run spans at most ten years
LAST_INSTANT = 253_402_300_799  # 9999-12-31 23:59:59 UTC: later instants have no calendar month


@dataclass(frozen=True)
class Entry:
    """One journal entry: `amount` (> 0) debited to `debit` and credited to `credit` at `at`."""

    at: int
    currency: str
    debit: str
    credit: str
    amount: int
    kind: str
    source: str  # the invoice (or subscription, for an unbilled period) it comes from


def entry(
    at: int, currency: str, debit: str, credit: str, amount: int, kind: str, source: str
) -> list[Entry]:
    """The entry as a list (empty for 0; a negative amount swaps debit and credit)."""
    if amount == 0:
        return []
    if amount < 0:
        debit, credit, amount = credit, debit, -amount
    return [Entry(at, currency, debit, credit, amount, kind, source)]


# -- months ---------------------------------------------------------------------------------------
def _utc(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def month_start(ts: int) -> int:
    """The first second of the UTC month containing `ts`."""
    d = _utc(ts)
    return int(dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC).timestamp())


def next_month(ts: int) -> int:
    """The first second of the UTC month after the one containing `ts`."""
    d = _utc(ts)
    year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return int(dt.datetime(year, month, 1, tzinfo=dt.UTC).timestamp())


def is_month_start(ts: int) -> bool:
    return month_start(ts) == ts


def period_name(ts: int) -> str:
    """The accounting period (`YYYY-MM`, UTC) an instant falls in."""
    d = _utc(ts)
    return f"{d.year:04d}-{d.month:02d}"


def months(start: int, end: int) -> list[int]:
    """The month starts of `[start, end)` (both month starts)."""
    out, at = [], start
    while at < end:
        out.append(at)
        at = next_month(at)
    return out


def month_count(start: int, end: int) -> int:
    """How many months `[start, end)` (month starts) spans, without walking them."""
    a, b = _utc(start), _utc(end)
    return (b.year - a.year) * 12 + b.month - a.month


def slice_ends(start: int, end: int) -> list[int]:
    """Where a span `[start, end)` is cut into months: each month start inside it, then `end`."""
    cuts, at = [], next_month(start)
    while at < end:
        cuts.append(at)
        at = next_month(at)
    return [*cuts, end]


# -- accrual ---------------------------------------------------------------------------------------
def rated(model: PriceModel, usage: int) -> int:
    """What a metered line bills for `usage`, exactly as `tally.domain.invoices.item_line` does."""
    return line_amount(model, billable_quantity(model, max(usage, 0)))


def accrual_by_month(model: PriceModel, cumulative: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Per month of a service span, `(month start, amount recognized)`: `cumulative` is, for each
    slice end (`slice_ends`) in order, the usage from the span start up to it. The amounts sum to
    `rated(model, last cumulative)`."""
    out, before, start = [], 0, None
    for end, usage in cumulative:
        now = rated(model, usage)
        out.append((month_start(end - 1) if start is None else start, now - before))
        before, start = now, end
    return out


# -- the invoice's own entries -------------------------------------------------------------------
@dataclass(frozen=True)
class Booked:
    """What of an invoice the journal needs (copied from `tally.domain.records.Invoice`)."""

    id: str
    currency: str
    total: int
    amount_due: int
    amount_paid: int
    finalized_at: int | None
    paid_at: int | None
    voided_at: int | None


def invoice_entries(inv: Booked, accrued: int) -> list[Entry]:
    """Finalization (reversal of `accrued`, rebooking of the total, the customer balance applied),
    payment and void of one invoice. A draft books nothing; neither does an invoice never finalized."""
    if inv.finalized_at is None:
        return []
    c, i, at = inv.currency, inv.id, inv.finalized_at
    balance_moved = inv.amount_due - inv.total  # < 0: the customer's credit paid part of it
    out = [
        *entry(at, c, REVENUE, UNBILLED, accrued, REVERSAL, i),
        *entry(at, c, RECEIVABLES, REVENUE, inv.total, REBOOKING, i),
        *entry(at, c, RECEIVABLES, CUSTOMER_BALANCE, balance_moved, BALANCE_APPLIED, i),
    ]
    if inv.paid_at is not None:
        out += entry(inv.paid_at, c, CASH, RECEIVABLES, inv.amount_paid, PAYMENT, i)
    if inv.voided_at is not None:
        out += entry(inv.voided_at, c, REVENUE, RECEIVABLES, inv.total, VOID, i)
        out += entry(inv.voided_at, c, CUSTOMER_BALANCE, RECEIVABLES, balance_moved, VOID, i)
    return out


# -- the report --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JournalLine:
    """The entries of one accounting period and currency between one debit and one credit account."""

    period: str
    currency: str
    debit: str
    credit: str
    amount: int


@dataclass(frozen=True)
class Cell:
    period: str
    debit: int
    credit: int
    net: int  # in the account's normal direction: debit − credit, or credit − debit for Revenue


@dataclass(frozen=True)
class AccountRow:
    account: str
    cells: tuple[Cell, ...]  # one per accounting period of the interval, in order

    @property
    def debit(self) -> int:
        return sum(c.debit for c in self.cells)

    @property
    def credit(self) -> int:
        return sum(c.credit for c in self.cells)

    @property
    def net(self) -> int:
        return sum(c.net for c in self.cells)


@dataclass(frozen=True)
class Report:
    start: int
    end: int
    periods: tuple[str, ...]
    journal: tuple[JournalLine, ...]  # by period, currency, debit, credit
    # by currency: every account, in `ACCOUNTS` order (+ DeferredRevenue: `accounts_of`)
    accounts: dict[str, tuple[AccountRow, ...]]


def report(entries: Iterable[Entry], start: int, end: int) -> Report:
    """The entries dated in `[start, end)` (month starts), summed per period and account pair, and
    per account and period (debit, credit, net), per currency."""
    names = tuple(period_name(m) for m in months(start, end))
    pairs: dict[tuple[str, str, str, str], int] = {}
    sides: dict[tuple[str, str, str, str], int] = {}  # (currency, account, period, side)
    for e in entries:
        if not start <= e.at < end:
            continue
        p = period_name(e.at)
        key = (p, e.currency, e.debit, e.credit)
        pairs[key] = pairs.get(key, 0) + e.amount
        for account, side in ((e.debit, "debit"), (e.credit, "credit")):
            k = (e.currency, account, p, side)
            sides[k] = sides.get(k, 0) + e.amount
    journal = tuple(JournalLine(*k, amount) for k, amount in sorted(pairs.items()) if amount)
    accounts: dict[str, tuple[AccountRow, ...]] = {}
    for currency in sorted({k[1] for k in pairs}):
        rows = []
        for account in accounts_of(currency, sides):
            cells = []
            for p in names:
                d = sides.get((currency, account, p, "debit"), 0)
                c = sides.get((currency, account, p, "credit"), 0)
                cells.append(Cell(p, d, c, c - d if account in CREDIT_NORMAL else d - c))
            rows.append(AccountRow(account, tuple(cells)))
        accounts[currency] = tuple(rows)
    return Report(start, end, names, journal, accounts)


def accounts_of(currency: str, sides: Iterable[tuple[str, str, str, str]]) -> tuple[str, ...]:
    """The accounts a currency's table shows: the five, and DeferredRevenue when it has entries."""
    deferred = any(c == currency and account == DEFERRED for c, account, _, _ in sides)
    return (*ACCOUNTS, DEFERRED) if deferred else ACCOUNTS


# -- CSV -------------------------------------------------------------------------------------------
def major_units(amount: int, currency: str) -> str:
    """An amount in minor units written in major units, exactly (`4000` usd → `40.00`)."""
    places = 0 if currency in ZERO_DECIMAL_CURRENCIES else 3 if currency in THREE_DECIMAL_CURRENCIES else 2
    sign, digits = ("-" if amount < 0 else ""), str(abs(amount))
    if places == 0:
        return sign + digits
    digits = digits.rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


SUMMARY_COLUMNS = ("accounting_period", "currency", "debit", "credit", "amount")
BY_ACCOUNT_COLUMNS = ("accounting_period", "currency", "account", "debit", "credit", "net")


def summary_csv(r: Report) -> str:
    """`revenue_recognition.debit_credit_summary.1`: one row per period, currency and account pair."""
    rows = [",".join(SUMMARY_COLUMNS)]
    for line in r.journal:
        amount = major_units(line.amount, line.currency)
        rows.append(f"{line.period},{line.currency},{line.debit},{line.credit},{amount}")
    return "\n".join(rows) + "\n"


def by_account_csv(r: Report) -> str:
    """`tally.revenue_recognition.debit_credit_by_account.1`: one row per period, currency and
    account (every account of a currency with entries, zero rows included, so the table is whole)."""
    rows = [",".join(BY_ACCOUNT_COLUMNS)]
    for currency, accounts in r.accounts.items():
        for i, p in enumerate(r.periods):
            for row in accounts:
                cell = row.cells[i]
                money = [major_units(x, currency) for x in (cell.debit, cell.credit, cell.net)]
                rows.append(",".join([p, currency, row.account, *money]))
    return "\n".join(rows) + "\n"
