"""Billing credits (Stripe's `billing.credit_grant` and its ledger, `billing.credit_balance_transaction`):
the records and the pure rules about them. No I/O.

A grant gives a customer `amount` minor units of `currency` to spend on metered lines (all of them,
`Scope(price_type="metered")`, or those of up to 20 prices). Its ledger is a list of entries, each a
`credit` (`credits_granted`, `credits_application_invoice_voided`) or a `debit` (`credits_applied`,
`credits_expired`, `credits_voided`) of a positive amount. What is left of a grant (`remaining`) is
the sum of its entries; the store keeps it beside the grant as one number that every ledger entry
moves in its own transaction (never below 0: `tally.store.changes.Amount`).

Ids: a grant is `credgr_…` and a ledger entry `cbtxn_61…` (Stripe's prefixes). Tally's customer
balance transactions are also `cbtxn_` (Stripe's too) but carry 24 characters after the prefix;
ledger entries carry 26 (`61` + 24), so the two sets of ids can never meet. An entry's id is derived
from its grant, its type and what it is about (`ledger_id`): writing the same entry twice (a retry,
two readers recording one expiry) fails the second conditional Put instead of counting twice.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass, field
from typing import ClassVar

Metadata = dict[str, str]

METERED = "metered"
PAID = "paid"
PROMOTIONAL = "promotional"
CATEGORIES = (PAID, PROMOTIONAL)
DEFAULT_PRIORITY = 50
MAX_PRIORITY = 100
MAX_PRICES = 20  # applicability_config.scope.prices (Stripe's "Limit 20 prices")
NAME_MAX = 100
# Stripe documents two limits: "up to 100 unused credit grants" (v1 billing credits page) and "up to
# 20 active credit grants at a time" (v2 concepts). The lower is the default (docs/API.md); a
# deployment may raise it up to 100 (`MAX_UNUSED_CREDIT_GRANTS`, `tally.settings`).
MAX_UNUSED_GRANTS = 20

# Stripe's thin (v2-style) events about credits: `related_object` instead of a snapshot
THIN_GRANT_CREATED = "v1.billing.credit_grant.created"
THIN_GRANT_UPDATED = "v1.billing.credit_grant.updated"
THIN_TRANSACTION_CREATED = "v1.billing.credit_balance_transaction.created"
THIN_EVENT_TYPES = frozenset({THIN_GRANT_CREATED, THIN_GRANT_UPDATED, THIN_TRANSACTION_CREATED})

CREDIT = "credit"
DEBIT = "debit"
GRANTED = "credits_granted"
INVOICE_VOIDED = "credits_application_invoice_voided"
APPLIED = "credits_applied"
EXPIRED = "credits_expired"
VOIDED = "credits_voided"
CREDIT_TYPES = (GRANTED, INVOICE_VOIDED)
DEBIT_TYPES = (APPLIED, EXPIRED, VOIDED)

LEDGER_PREFIX = "cbtxn_61"
_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
_TAIL = 24


@dataclass(frozen=True)
class Scope:
    """`applicability_config.scope`: every metered price (`price_type`), or the listed prices."""

    price_type: str | None = METERED
    prices: tuple[str, ...] = ()
    # v2 metered items (`bli_`): only a service action's grants have this scope (issue 14 point 5)
    billable_items: tuple[str, ...] = ()

    def covers(self, price_id: str, metered: bool) -> bool:
        """Whether a line of `price_id` (metered or not; a cadence line: its metered item) may use
        credits of this scope."""
        if not metered:
            return False  # Stripe applies credits to metered lines only
        return self.price_type == METERED or price_id in self.prices or price_id in self.billable_items


@dataclass(frozen=True)
class CreditGrant:
    """A credit grant. `effective_at` is always set (the creation instant when not given); the
    amount granted never changes; what is left of it lives in the ledger (`remaining`)."""

    OBJECT: ClassVar[str] = "billing.credit_grant"

    id: str
    created: int
    updated: int
    livemode: bool
    customer: str
    currency: str
    amount: int  # minor units granted (> 0)
    effective_at: int
    scope: Scope = field(default_factory=Scope)
    category: str = PAID
    priority: int = DEFAULT_PRIORITY
    expires_at: int | None = None
    name: str | None = None
    metadata: Metadata = field(default_factory=dict)
    test_clock: str | None = None
    voided_at: int | None = None
    # its expiry is in the ledger (`credits_expired` written, or nothing was left): no longer due
    expiry_recorded: bool = False
    # A service action's grant (issue 14 point 5, `tally.billing.service_grants`): the pricing plan
    # subscription and cadence it serves and the service action that made it. Its credits cover
    # the usage of its service interval, which the cadence invoices after the interval ends, so
    # its expiry is recorded only once that invoice is final (`held`; docs/API.md)
    pricing_plan_subscription: str | None = None
    billing_cadence: str | None = None
    service_action: str | None = None
    recheck_at: int | None = None  # a held expiry looked at too early: when to look again

    @property
    def held(self) -> bool:
        """A service action's grant: its expiry waits for the invoice of its service interval."""
        return self.billing_cadence is not None

    @property
    def due_at(self) -> int | None:
        """When the period close must record its expiry (`tally.store.due`): its `expires_at`
        until recorded (a held grant: when to look again). Grants on a test clock expire as their
        clock advances instead."""
        if self.voided_at is not None or self.expiry_recorded or self.test_clock is not None:
            return None
        if self.expires_at is not None and self.recheck_at is not None:
            return max(self.expires_at, self.recheck_at)
        return self.expires_at

    def expired(self, now: int) -> bool:
        """Whether the grant has expired at `now` (its credits are gone from then on)."""
        return self.expires_at is not None and self.expires_at <= now

    def effective(self, now: int) -> bool:
        return self.effective_at <= now

    def live(self, now: int) -> bool:
        """Neither voided nor expired at `now` (pending grants are live)."""
        return self.voided_at is None and not self.expired(now)


@dataclass(frozen=True)
class CreditBalanceTransaction:
    """One ledger entry of a grant: a `credit` or `debit` (`type`) of `amount` (> 0) for the reason
    `kind` (`credits_granted`, …), effective at `effective_at` (when it counts in the balance;
    `created` is when it was written). `customer` is kept to list a customer's ledger (Stripe's
    object does not show it); `invoice`/`invoice_line_item` are set for applied and reinstated
    credits."""

    OBJECT: ClassVar[str] = "billing.credit_balance_transaction"

    id: str
    created: int
    livemode: bool
    customer: str
    credit_grant: str
    currency: str
    type: str  # credit | debit
    kind: str  # credits_granted | credits_application_invoice_voided | credits_applied | …
    amount: int  # minor units, > 0
    effective_at: int
    test_clock: str | None = None
    invoice: str | None = None
    invoice_line_item: str | None = None

    @property
    def signed(self) -> int:
        """The entry's effect on the grant's balance: + for a credit, − for a debit."""
        return self.amount if self.type == CREDIT else -self.amount


def side_of(kind: str) -> str:
    """`credit` or `debit` for an entry type (ValueError for one Stripe does not have)."""
    if kind in CREDIT_TYPES:
        return CREDIT
    if kind in DEBIT_TYPES:
        return DEBIT
    raise ValueError(f"not a credit balance transaction type: {kind}")


def _base62(digest: bytes, length: int) -> str:
    number = int.from_bytes(digest, "big")
    out = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        out.append(_ALPHABET[digit])
    return "".join(out)


def ledger_id(grant_id: str, kind: str, *about: str) -> str:
    """The id of the ledger entry of `grant_id` of type `kind` about `about` (an invoice, a line):
    the same arguments always give the same id, different ones different ids (SHA-256)."""
    digest = hashlib.sha256("\x1f".join((grant_id, kind, *about)).encode()).digest()
    return LEDGER_PREFIX + _base62(digest, _TAIL)


def service_grant_id(subscription: str, component: str, start: int) -> str:
    """The id of the grant a service action component of `subscription` makes for the service
    interval starting at `start`: derived (SHA-256), so the interval's grant is claimed once."""
    digest = hashlib.sha256("\x1f".join((subscription, component, str(start))).encode()).digest()
    return "credgr_" + _base62(digest, _TAIL)


@dataclass(frozen=True)
class GrantBalance:
    """A grant with what is left of it as the store holds it (`remaining`, in minor units)."""

    grant: CreditGrant
    remaining: int

    def ledger(self, now: int) -> int:
        """What the grant contributes to the ledger balance at `now`: its remaining credits once
        effective, nothing once voided or expired (an expiry not yet recorded counts as recorded:
        its `credits_expired` entry is effective at `expires_at`)."""
        g = self.grant
        if not g.effective(now) or g.voided_at is not None or g.expired(now):
            return 0
        return self.remaining

    def expiring(self, now: int) -> int:
        """The amount a `credits_expired` entry must still take at `now` (0: none due)."""
        g = self.grant
        if g.voided_at is None and g.expired(now):
            return self.remaining
        return 0


def unused(balances: list[GrantBalance], now: int) -> int:
    """How many grants count against the limit: Stripe's "unused" — neither voided nor expired,
    and either not yet effective or with credits left."""
    return sum(1 for b in balances if b.grant.live(now) and (not b.grant.effective(now) or b.remaining > 0))
