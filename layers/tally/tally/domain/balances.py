"""The customer balance (Stripe's `customer.balance`), applied to an invoice at finalization.

Pure arithmetic, no I/O. The balance is in minor units of the customer's one currency: negative is
a credit the customer holds, positive an amount it owes. At finalization Stripe orders the
reductions of an invoice as: `total` (after discounts and taxes) → billing credits (credit
grants, applied before taxes: `tally.domain.credit_application`) → the customer balance →
`amount_due`. So:

    net = total − credits + starting_balance
    amount_due = max(net, 0)          the balance never makes an invoice negative
    ending_balance = min(net, 0)      what is left of a credit, or a negative total's credit

and the balance transaction of the invoice (`applied_to_invoice`) is `ending − starting`:
positive when the invoice consumed credit (or negative when it settled a debit the customer
owed, or turned a negative total into credit). Nothing happens when it is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.domain import limits


@dataclass(frozen=True)
class Applied:
    """How an invoice meets the customer balance."""

    starting_balance: int
    ending_balance: int
    amount_due: int

    @property
    def amount(self) -> int:
        """The balance transaction's amount (0: the invoice leaves the balance as it was)."""
        return self.ending_balance - self.starting_balance


def apply(total: int, balance: int, *, credits: int = 0) -> Applied:
    """The invoice's `total` met by billing `credits` first, then the customer `balance`.

    `credits` is what credit grants cover (≤ the positive total; `tally.billing.credit_application`),
    applied before the balance.
    Raises a 400 `amount_too_large` when a figure leaves the range Tally puts on the wire."""
    if not 0 <= credits <= max(total, 0):
        raise ValueError("credits cover at most the invoice's positive total")
    net = total - credits + balance
    return Applied(
        starting_balance=balance,
        ending_balance=limits.check_amount("The customer balance", min(net, 0)),
        amount_due=limits.check_amount("The amount due", max(net, 0)),
    )


def adjusted(balance: int, amount: int) -> int:
    """The balance after an adjustment of `amount` (400 `amount_too_large` beyond the range)."""
    return limits.check_amount("The customer balance", balance + amount, "amount")
