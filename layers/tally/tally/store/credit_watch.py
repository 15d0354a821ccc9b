"""A customer's credit watch (`tally.domain.credit_watch.Watch`): ONE item beside the customer.

  pk = acct#<customer id>   sk = credit_watch   body = the watch (alerts and top-up rules with
  their states), `version` (optimistic lock)

Written two ways, always version-checked (a concurrent writer cancels the transaction → 409
`Conflict`, the caller re-reads and re-decides):

- by an alert or rule change (`side`), in that change's transaction, with the customer's
  `credit_watched` flag (so ingest knows to evaluate);
- by an evaluation that saw a crossing (`transition`): the watch after it and the crossing's
  events (`billing.alert.triggered|recovered`) in ONE transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pynamodb.exceptions import GetError

from tally.clock import Clock
from tally.domain.credit_watch import Watch
from tally.errors import Conflict
from tally.store import codec, transactions
from tally.store.changes import Aux, Side
from tally.store.errors import raise_translated
from tally.store.models import ObjectItem, bind

SK = "credit_watch"
KIND = "credit_watch"
CHANGED = Conflict("The customer's credit watch changed at the same time; retry.")


def key(account: str, customer: str) -> tuple[str, str]:
    return ObjectItem.object_key(account, customer), SK


def _body(watch: Watch) -> str:
    plain = codec.to_plain(watch)
    plain.pop("version", None)
    return json.dumps(plain, separators=(",", ":"), ensure_ascii=False)


def read(account: str, customer: str) -> Watch:
    """The customer's watch (an empty one, version 0, when it has none): one consistent GetItem."""
    bind()
    try:
        item = ObjectItem.get(*key(account, customer), consistent_read=True)
    except ObjectItem.DoesNotExist:
        return Watch()
    except GetError as exc:
        raise_translated(exc)
    plain = json.loads(item.body or "{}")
    return codec.from_plain(Watch, {**plain, "version": int(item.version)})


def side(account: str, customer: str, before: Watch, after: Watch) -> Side:
    """The write of `after` in place of `before` (read at `before.version`) in a change's
    transaction."""
    pk, sk = key(account, customer)
    item = ObjectItem(pk=pk, sk=sk, kind=KIND, version=before.version + 1)
    item.body = _body(after)
    return Side(item, before.version)


def transition(
    account: str,
    customer: str,
    before: Watch,
    after: Watch,
    events: Sequence[tuple[str, dict[str, Any]]],
    clock: Clock,
) -> None:
    """Write `after` over `before` (still at its version) with `events`, in ONE transaction.
    Raises `Conflict` when the watch changed since it was read (nothing written)."""
    pk, sk = key(account, customer)
    version = before.version if before.version else None
    aux = Aux(pk=pk, sk=sk, body=_body(after), version=version, error=CHANGED, kind=KIND)
    transactions.aux_with_events(account, [aux], events, clock)
