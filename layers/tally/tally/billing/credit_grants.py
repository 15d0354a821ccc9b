"""Credit grants (`/v1/billing/credit_grants`): create, retrieve, list, update (`expires_at`,
`metadata`), expire, void.

Each change is ONE transaction (all or nothing; crash points: before it, nothing is written; after
it, a retry finds the grant already changed or, for a create, writes a second grant only if the
client sends no Idempotency-Key — Stripe's rule):

- create: the grant with `billing.credit_grant.created` (+ thin `v1.billing.credit_grant.created`),
  its `credits_granted` ledger entry with its events, its remaining credits (= its amount), the
  customer's grant list with the grant added (version-checked: the limit of unused grants holds
  under concurrent creates) and a check that the customer still exists;
- expire / void: the grant (`expires_at` / `voided_at` = now) with `billing.credit_grant.updated`,
  the `credits_expired` / `credits_voided` entry of exactly what is left (the debit fails if an
  invoice spent from the grant meanwhile: re-read, retry), and the grant off the customer's list;
- update: the grant alone (version-checked), with `billing.credit_grant.updated`.

A grant takes its time from its customer: on a test clock, `created`, `effective_at` defaults and
the expiry instant follow the clock's frozen time (`billing.clocks`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from tally.billing import changes, clocks
from tally.billing import credit_ledger as ledger
from tally.billing.references import referenced
from tally.clock import Clock
from tally.domain import credits, limits
from tally.domain.credits import (
    DEFAULT_PRIORITY,
    EXPIRED,
    GRANTED,
    METERED,
    PAID,
    VOIDED,
    CreditGrant,
    GrantBalance,
    Scope,
)
from tally.domain.listing import Page, Window
from tally.domain.metadata import MetadataUpdate, apply_metadata
from tally.domain.records import Customer, Price
from tally.errors import Conflict, InvalidRequest, NotFound, invalid
from tally.ids import new_id
from tally.presenters.credits import grant as present
from tally.presenters.credits import related_grant
from tally.settings import settings
from tally.store import credits as store
from tally.store import lists, objects, transactions
from tally.store.changes import Change, Exists, Stored, Write

LABEL = "billing.credit_grant"
CREATED = "billing.credit_grant.created"
UPDATED = "billing.credit_grant.updated"
THIN_CREATED = credits.THIN_GRANT_CREATED
THIN_UPDATED = credits.THIN_GRANT_UPDATED
ATTEMPTS = 4
_UNSET = object()


@dataclass(frozen=True)
class GrantSpec:
    """What `POST /v1/billing/credit_grants` asks for (checked for form by the api)."""

    customer: str
    currency: str
    amount: int
    scope: Scope
    category: str = PAID
    priority: int = DEFAULT_PRIORITY
    effective_at: int | None = None
    expires_at: int | None = None
    name: str | None = None
    metadata: MetadataUpdate = None
    id: str | None = None  # Tally-internal: a grant whose id is derived (an automatic top-up's)


def _check_prices(account: str, spec: GrantSpec, clock: Clock) -> None:
    """Each price of a `prices` scope exists, is metered and is in the grant's currency."""
    for i, price_id in enumerate(spec.scope.prices):
        param = f"applicability_config[scope][prices][{i}][id]"
        price = referenced(account, price_id, Price, param, clock)
        if price.recurring is None or price.recurring.usage_type != METERED:
            raise invalid(
                param, f"The price {price_id} is not metered: credit grants apply to metered prices only."
            )
        if price.currency != spec.currency:
            raise invalid(
                param,
                f"The price {price_id} is in {price.currency} but the credit grant is in {spec.currency}: "
                "its credits could never apply to it.",
            )


def _check_expiry(expires_at: int | None, effective_at: int, now: int, param: str = "expires_at") -> None:
    if expires_at is None:
        return
    if expires_at <= now:
        raise invalid(param, f"Invalid {param}: must be in the future (after {now}).")
    if expires_at <= effective_at:
        raise invalid(param, f"Invalid {param}: must be after effective_at ({effective_at}).")


def _limit(index: store.Index, account: str, grant: CreditGrant, now: int) -> list[str]:
    """The grants the customer's list keeps (every one listed: an expired grant stays until its
    expiry is recorded, `credit_ledger.record_expiries`), or a 400 when `MAX_UNUSED_GRANTS` are
    unused or when the customer's credits in the grant's currency would pass `MAX_AMOUNT` (every
    balance then stays a figure every SDK reads exactly)."""
    listed = [s.record for s in store.grants(account, index.grants)]
    live = [g for g in listed if g.live(now)]
    held = ledger.balances(account, live)
    same = sum(b.remaining for b in held if b.grant.currency == grant.currency)
    limits.check_amount(
        "The customer's credits in this currency", same + grant.amount, "amount[monetary][value]"
    )
    most = settings().max_unused_credit_grants  # MAX_UNUSED_GRANTS unless the deployment says
    if credits.unused(held, now) >= most:
        raise InvalidRequest(
            f"A customer can have at most {most} unused credit grants; void or expire one first.",
            code="credit_grant_limit_exceeded",
            param="customer",
        )
    return [g.id for g in listed]


def create(account: str, spec: GrantSpec, clock: Clock) -> CreditGrant:
    """A new grant for `spec.customer` with its `credits_granted` entry. Raises 400 naming the
    parameter for an unknown customer or price, a price not metered or in another currency, an
    expiry not after now and `effective_at`, or a customer with as many unused grants as the
    deployment allows (`MAX_UNUSED_GRANTS`, 20, by default)."""
    customer = referenced(account, spec.customer, Customer, "customer", clock)
    at = clocks.clock_for(account, customer.id, clock, changing=True)
    now = at.now
    _check_prices(account, spec, clock)
    effective = now if spec.effective_at is None else spec.effective_at
    _check_expiry(spec.expires_at, effective, now)
    grant = CreditGrant(
        id=spec.id or new_id("credgr"),
        created=now,
        updated=now,
        livemode=settings().livemode,
        customer=customer.id,
        currency=spec.currency,
        amount=spec.amount,
        effective_at=effective,
        scope=spec.scope,
        category=spec.category,
        priority=spec.priority,
        expires_at=spec.expires_at,
        name=spec.name,
        metadata=apply_metadata({}, spec.metadata),
        test_clock=customer.test_clock,
    )
    commit_new(account, grant, at)
    return grant


def commit_new(account: str, grant: CreditGrant, at: Clock, *, limited: bool = True) -> None:
    """Write a new grant in ONE transaction: the grant with its events, its `credits_granted`
    entry (effective at `effective_at`), its remaining credits, the customer's grant list with it
    added (version-checked) and a check that the customer still exists. `limited`: the customer's
    unused grants and credits are counted first (`_limit`); a service action's grant is not
    (`billing.service_grants`: at most one per component and service interval). Raises Conflict
    when the grant's id exists or the list kept changing."""
    granted = ledger.entry(grant, GRANTED, grant.amount, effective_at=grant.effective_at, now=grant.created)
    gone = NotFound("customer", grant.customer)
    for attempt in range(ATTEMPTS):
        index = store.index(account, grant.customer)
        live = _limit(index, account, grant, at.now) if limited else list(index.grants)
        change = changes.created(grant, CREATED, present(grant))
        change.thin.append((THIN_CREATED, related_grant(grant.id)))
        change.requires.append(Exists(grant.customer, gone))
        change.sides.append(store.index_side(account, index, [*live, grant.id]))
        try:
            transactions.commit(account, [Write(change), ledger.ledger_write(granted, start=True)], at)
        except Conflict:  # another grant of this customer changed its list: count again
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return
    raise AssertionError("unreachable")


def _load(account: str, grant_id: str, clock: Clock) -> Stored[CreditGrant]:
    return objects.load(account, grant_id, CreditGrant, clock, label=LABEL)


def retrieve(account: str, grant_id: str, clock: Clock) -> CreditGrant:
    return _load(account, grant_id, clock).record


def list_(account: str, window: Window, clock: Clock, *, customer: str | None = None) -> Page[CreditGrant]:
    """The account's grants (or one customer's), newest first."""
    if customer is not None:
        referenced(account, customer, Customer, "customer", clock)
    return lists.list_records(account, CreditGrant, window, clock, customer=customer, label=LABEL)


def balance_of(account: str, grant: CreditGrant) -> GrantBalance:
    """The grant with what is left of it."""
    return ledger.balances(account, [grant])[0]


# -- changes ---------------------------------------------------------------------------------------
def _updated(before: CreditGrant, after: CreditGrant) -> Change | None:
    change = changes.updated(after, UPDATED, present(before), present(after))
    if change is not None:
        change.thin.append((THIN_UPDATED, related_grant(after.id)))
    return change


def _check_open(g: CreditGrant, now: int, doing: str) -> None:
    if g.voided_at is not None:
        raise InvalidRequest(f"The credit grant {g.id} is voided: you cannot {doing} it.", param="id")
    if g.expired(now):
        raise InvalidRequest(f"The credit grant {g.id} has expired: you cannot {doing} it.", param="id")


def update(
    account: str, grant_id: str, clock: Clock, *, expires_at: object = _UNSET, metadata: MetadataUpdate = None
) -> CreditGrant:
    """Change `expires_at` (None: never) and `metadata` only (Stripe's). 400 for a voided or
    expired grant, or an expiry not after now and `effective_at`."""
    for attempt in range(ATTEMPTS):
        stored = _load(account, grant_id, clock)
        before = stored.record
        now = clocks.clock_for(account, before.customer, clock, changing=expires_at is not _UNSET).now
        after = replace(before, metadata=apply_metadata(before.metadata, metadata))
        if expires_at is not _UNSET and expires_at != before.expires_at:
            _check_open(before, now, "change the expiry of")
            assert expires_at is None or isinstance(expires_at, int)
            _check_expiry(expires_at, before.effective_at, now)
            after = replace(after, expires_at=expires_at)
        if after == before:
            return before
        after = replace(after, updated=now)
        change = _updated(before, after)
        if change is None:
            return before
        try:
            objects.update(account, stored, change, clock)
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return after
    raise AssertionError("unreachable")


def _end(
    account: str,
    grant_id: str,
    clock: Clock,
    doing: str,
    kind: str,
    to: Callable[[CreditGrant, int], CreditGrant],
) -> CreditGrant:
    """Expire or void: the grant changed by `to`, the entry taking exactly what is left, the grant
    off its customer's list — one transaction, retried when a concurrent writer got there first."""
    for attempt in range(ATTEMPTS):
        stored = _load(account, grant_id, clock)
        before = stored.record
        at = clocks.clock_for(account, before.customer, clock, changing=True)
        _check_open(before, at.now, doing)
        left = balance_of(account, before).remaining
        if kind == VOIDED and left != before.amount:
            raise InvalidRequest(
                f"The credit grant {grant_id} has been applied to invoices: "
                "only unapplied grants can be voided.",
                param="id",
            )
        after = to(before, at.now)
        change = _updated(before, after)
        assert change is not None, "expire and void change a presented field"
        index = store.index(account, before.customer)
        change.sides.append(store.index_side(account, index, [i for i in index.grants if i != grant_id]))
        writes = [Write(change, stored)]
        if left > 0:
            e = ledger.entry(before, kind, left, effective_at=at.now, now=at.now)
            writes.append(ledger.ledger_write(e, exactly=left))
        try:
            transactions.commit(account, writes, at)
        except Conflict:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return after
    raise AssertionError("unreachable")


def expire(account: str, grant_id: str, clock: Clock) -> CreditGrant:
    """`POST …/expire`: the grant expires now; what is left is recorded as `credits_expired`."""
    return _end(account, grant_id, clock, "expire", EXPIRED, _expired_now)


def _expired_now(g: CreditGrant, now: int) -> CreditGrant:
    return replace(g, expires_at=now, updated=now, expiry_recorded=True)


def void(account: str, grant_id: str, clock: Clock) -> CreditGrant:
    """`POST …/void`: an unapplied grant is voided now; its credits are recorded as `credits_voided`."""
    return _end(
        account, grant_id, clock, "void", VOIDED, lambda g, now: replace(g, voided_at=now, updated=now)
    )
