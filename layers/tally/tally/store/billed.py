"""What finalized invoices billed per metered line, kept while their periods can still change
(`tally.domain.true_ups`): one item per finalized invoice with metered lines, beside its
subscription's record.

  pk = acct#<subscription id>   sk = "billed#<period end, 12 digits>#<invoice id>"   (body, version)

Reading a subscription's open periods is ONE Query on its partition (`begins_with billed#`): the
items are deleted once settled, so it returns only the few periods of the last 36 days (plus the
interval before the check). The period close reads them with the subscription record itself, in
the one Query it needs instead of a GetItem (`with_open_periods`). Writes ride in the finalizing transaction
(`tally.store.transactions.commit`'s `aux`), each conditional on the version read.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import QueryError

from tally.clock import Clock
from tally.domain.true_ups import BilledPeriod
from tally.errors import Conflict
from tally.store import codec
from tally.store.changes import Aux, R, Stored
from tally.store.errors import raise_translated
from tally.store.items import checked, created_ms
from tally.store.models import OBJECT_SK, ObjectItem, bind

KIND = "billed_usage"
PREFIX = "billed#"


@dataclass(frozen=True)
class StoredPeriod:
    record: BilledPeriod
    version: int


def _sk(period: BilledPeriod) -> str:
    return f"{PREFIX}{period.period_end:012d}#{period.invoice}"


def _pk(account: str, subscription: str) -> str:
    return ObjectItem.object_key(account, subscription)


def open_periods(account: str, subscription: str) -> list[StoredPeriod]:
    """The subscription's billed periods not settled yet, oldest first (one Query)."""
    bind()
    try:
        found = ObjectItem.query(
            _pk(account, subscription), ObjectItem.sk.startswith(PREFIX), consistent_read=True
        )
        return [StoredPeriod(codec.loads(BilledPeriod, str(i.body)), int(i.version)) for i in found]
    except QueryError as exc:
        raise_translated(exc)
        raise


def with_open_periods(
    account: str, subscription_id: str, cls: type[R], clock: Clock
) -> tuple[Stored[R], list[StoredPeriod]]:
    """A subscription's record and its open billed periods in ONE Query of its partition (sort keys
    `billed#…` < `count#…` < `ix#…` < `obj`): the period close reads both for the price of the
    GetItem it needs anyway. Raises NotFound like `objects.load`."""
    bind()
    record: ObjectItem | None = None
    periods = []
    try:
        for item in ObjectItem.query(
            _pk(account, subscription_id), ObjectItem.sk.between(PREFIX, OBJECT_SK), consistent_read=True
        ):
            if item.sk == OBJECT_SK:
                record = item
            elif item.sk.startswith(PREFIX):
                periods.append(StoredPeriod(codec.loads(BilledPeriod, str(item.body)), int(item.version)))
    except QueryError as exc:
        raise_translated(exc)
    found = checked(record, cls.OBJECT, subscription_id, clock)
    return Stored(codec.loads(cls, str(found.text)), int(found.version), created_ms(found)), periods


def _conflict(period: BilledPeriod) -> Conflict:
    return Conflict(f"What {period.invoice} billed was changed by another request; retry.")


def created(account: str, period: BilledPeriod) -> Aux:
    """Record what a finalized invoice billed (conditional on it being new)."""
    body = codec.dumps(period)
    return Aux(_pk(account, period.subscription), _sk(period), body, None, _conflict(period), KIND)


def updated(account: str, stored: StoredPeriod, after: BilledPeriod) -> Aux:
    """Replace what was billed for a period (a true-up billed it), if unchanged since read."""
    body = codec.dumps(after)
    return Aux(_pk(account, after.subscription), _sk(after), body, stored.version, _conflict(after), KIND)


def settled(account: str, stored: StoredPeriod) -> Aux:
    """Forget a settled period (its last re-check is in the same transaction), if unchanged."""
    p = stored.record
    return Aux(_pk(account, p.subscription), _sk(p), None, stored.version, _conflict(p), KIND)
