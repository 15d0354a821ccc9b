"""Credit grants' own items beside their records (docs/DATA-MODEL.md, "Billing credits"):

  remaining credits   pk = acct#<grant id>     sk = amount#remaining   `amount` = minor units left
                      (`changes.Amount`: written with the grant, moved by every ledger entry in the
                      entry's transaction, never below 0)
  a customer's grants pk = acct#<customer id>  sk = credit_grants      body `{"grants": [ids]}`
                      the grants neither voided nor with their expiry recorded, oldest first;
                      version-checked (`changes.Side`) by every create, void and expiry, so
                      concurrent creates count the limit on the same list

Reads are consistent (GetItem, BatchGetItem): a grant committed a moment ago is always seen.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pynamodb.exceptions import DeleteError, GetError, PutError

from tally.domain.credits import CreditGrant
from tally.errors import Conflict
from tally.store import codec
from tally.store.changes import Aux, Side, Stored
from tally.store.errors import code_of, raise_translated
from tally.store.items import created_ms
from tally.store.models import OBJECT_SK, ObjectItem, bind

REMAINING = "remaining"
INDEX_SK = "credit_grants"
_BATCH = 100


@dataclass(frozen=True)
class Index:
    """A customer's grant list as read (`version` 0: never written)."""

    customer: str
    grants: tuple[str, ...] = ()
    version: int = 0


def index(account: str, customer: str) -> Index:
    """The customer's list of live grants (one consistent GetItem)."""
    bind()
    try:
        item = ObjectItem.get(ObjectItem.object_key(account, customer), INDEX_SK, consistent_read=True)
    except ObjectItem.DoesNotExist:
        return Index(customer)
    except GetError as exc:
        raise_translated(exc)
    body = json.loads(item.text or "{}")
    return Index(customer, tuple(body.get("grants", ())), int(item.version))


def index_side(account: str, before: Index, grants: Sequence[str]) -> Side:
    """The write of the customer's list as `grants`, in place of `before` (version-checked)."""
    item = ObjectItem(
        pk=ObjectItem.object_key(account, before.customer),
        sk=INDEX_SK,
        kind="credit_grant_index",
        version=before.version + 1,
    )
    item.body = json.dumps({"grants": list(grants)}, separators=(",", ":"))
    return Side(item, before.version)


def write_index(account: str, before: Index, grants: Sequence[str]) -> None:
    """Replace the customer's list alone (a grant leaving it with nothing to record), if it is
    still the one read; else Conflict (409)."""
    bind()
    side = index_side(account, before, grants)
    same = ObjectItem.pk.does_not_exist() if before.version == 0 else ObjectItem.version == before.version
    try:
        side.item.save(condition=same)
    except PutError as exc:
        if code_of(exc) == "ConditionalCheckFailedException":
            raise Conflict("The customer's credit grants changed at the same time; retry.") from exc
        raise_translated(exc)


def remaining_removal(account: str, grant_id: str) -> Aux:
    """The delete of a grant's remaining-credits item, for the transaction removing the grant."""
    gone = Conflict("The credit grant changed while it was removed; retry.")
    return Aux(
        ObjectItem.object_key(account, grant_id), ObjectItem.amount_sk(REMAINING), None, 1, gone, "amount"
    )


def remove_index(account: str, index: Index) -> None:
    """Delete the customer's grant list if it is still the one read (a list never written: nothing)."""
    if index.version == 0:
        return
    bind()
    item = ObjectItem(pk=ObjectItem.object_key(account, index.customer), sk=INDEX_SK)
    try:
        item.delete(condition=ObjectItem.version == index.version)
    except DeleteError as exc:
        if code_of(exc) == "ConditionalCheckFailedException":
            raise Conflict("The customer's credit grants changed at the same time; retry.") from exc
        raise_translated(exc)


def _batch(keys: list[tuple[str, str]]) -> list[ObjectItem]:
    bind()
    out: list[ObjectItem] = []
    try:
        for i in range(0, len(keys), _BATCH):
            out.extend(ObjectItem.batch_get(keys[i : i + _BATCH], consistent_read=True))
    except GetError as exc:
        raise_translated(exc)
    return out


def grants(account: str, ids: Sequence[str]) -> list[Stored[CreditGrant]]:
    """The grant records of `ids` that exist, in the order of `ids` (consistent BatchGetItem)."""
    keys = [(ObjectItem.object_key(account, i), OBJECT_SK) for i in dict.fromkeys(ids)]
    found = {}
    for item in _batch(keys):
        if item.kind == CreditGrant.OBJECT and item.text is not None:
            found[item.pk] = Stored(codec.loads(CreditGrant, item.text), int(item.version), created_ms(item))
    return [found[pk] for pk, _ in keys if pk in found]


def remaining(account: str, ids: Sequence[str]) -> dict[str, int]:
    """What is left of each grant of `ids` (a grant without the item: absent from the answer)."""
    keys = [(ObjectItem.object_key(account, i), ObjectItem.amount_sk(REMAINING)) for i in dict.fromkeys(ids)]
    prefix = len(ObjectItem.object_key(account, ""))
    return {item.pk[prefix:]: int(item.amount or 0) for item in _batch(keys)}
