"""PynamoDB models and key builders: the only place table layouts are spelled out.

Every key starts with the account id (`acct_…#…`), so no query can cross tenants. See
docs/DATA-MODEL.md for the access patterns. Table names and the endpoint come from settings at
first use (`bind()`), never at import time.
"""

from __future__ import annotations

import hashlib

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from tally.settings import settings
from tally.store import bodies

OBJECT_SK = "obj"


class ByTypeIndex(GlobalSecondaryIndex["ObjectItem"]):
    """List an account's objects of one type, newest first: lpk = acct#type, lsk = created_ms#id."""

    class Meta:
        index_name = "by_type"
        projection = AllProjection()

    lpk = UnicodeAttribute(hash_key=True)
    lsk = UnicodeAttribute(range_key=True)


class ByCustomerIndex(GlobalSecondaryIndex["ObjectItem"]):
    """A customer's objects of one type, newest first: cpk = acct#customer#type, csk = lsk."""

    class Meta:
        index_name = "by_customer"
        projection = AllProjection()

    cpk = UnicodeAttribute(hash_key=True)
    csk = UnicodeAttribute(range_key=True)


class ByFieldIndex(GlobalSecondaryIndex["ObjectItem"]):
    """An account's objects of one kind whose `field` is `value`, newest first (list filters):
    xpk = acct#kind#field=value, xsk = lsk. Sparse: only filter entries carry xpk. Keys only —
    a list reads the objects of its page by key."""

    class Meta:
        index_name = "by_field"
        projection = KeysOnlyProjection()

    xpk = UnicodeAttribute(hash_key=True)
    xsk = UnicodeAttribute(range_key=True)


class ByDueIndex(GlobalSecondaryIndex["ObjectItem"]):
    """Subscriptions due for their period close, across accounts (`tally.store.due`):
    dpk = due#<shard>, dsk = <due time, 12 digits>#<account>#<subscription id>. Sparse: only
    active subscription records (and invoices to finalize) carry it. Keys only — the close
    enqueues (account, id) pairs."""

    class Meta:
        index_name = "by_due"
        projection = KeysOnlyProjection()

    dpk = UnicodeAttribute(hash_key=True)
    dsk = UnicodeAttribute(range_key=True)


class ObjectItem(Model):
    """A Stripe object (body as JSON), an event-log entry, a uniqueness claim or an API key."""

    class Meta:
        table_name = "tally-objects"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=OBJECT_SK)
    lpk = UnicodeAttribute(null=True)
    lsk = UnicodeAttribute(null=True)
    cpk = UnicodeAttribute(null=True)
    csk = UnicodeAttribute(null=True)
    xpk = UnicodeAttribute(null=True)
    xsk = UnicodeAttribute(null=True)
    dpk = UnicodeAttribute(null=True)
    dsk = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    body = UnicodeAttribute(null=True)
    zbody = BinaryAttribute(null=True, legacy_encoding=False)  # `body` zlib-compressed when large
    owner = UnicodeAttribute(null=True)
    version = NumberAttribute(default=1)
    expires = NumberAttribute(null=True)  # the table's TTL attribute (unix seconds)
    amount = NumberAttribute(null=True)  # an `Amount` item's figure (a credit grant's remaining credits)
    by_type = ByTypeIndex()
    by_customer = ByCustomerIndex()
    by_field = ByFieldIndex()
    by_due = ByDueIndex()

    @property
    def text(self) -> str | None:
        """The body, whether kept as text or compressed (`tally.store.bodies`)."""
        return bodies.unpack(self.body, self.zbody)

    def set_body(self, text: str) -> None:
        self.body, self.zbody = bodies.pack(text)

    @staticmethod
    def object_key(account: str, object_id: str) -> str:
        return f"{account}#{object_id}"

    @staticmethod
    def list_key(account: str, kind: str) -> str:
        return f"{account}#{kind}"

    @staticmethod
    def customer_list_key(account: str, customer: str, kind: str) -> str:
        return f"{account}#{customer}#{kind}"

    @staticmethod
    def list_sort(created_ms: int, object_id: str) -> str:
        return f"{created_ms:015d}#{object_id}"

    @staticmethod
    def counter_sk(kind: str) -> str:
        """Sort key of the counter of an owner's `kind` objects (pk is the owner's object key)."""
        return f"count#{kind}"

    @staticmethod
    def amount_sk(kind: str) -> str:
        """Sort key of an owner's `kind` amount (`changes.Amount`; pk is the owner's object key)."""
        return f"amount#{kind}"

    @staticmethod
    def field_key(account: str, kind: str, field: str, value: str) -> str:
        """The by_field partition of `kind` objects whose `field` is `value` (long values hashed,
        so the key stays under DynamoDB's 2,048 bytes; readers re-check the value)."""
        return f"{account}#{kind}#{field}={_short(value)}"

    @staticmethod
    def field_sort(field: str, value: str) -> str:
        """The sort key of an object's filter entry (its pk is the object's own)."""
        return f"ix#{field}={_short(value)}"

    @staticmethod
    def due_key(shard: int) -> str:
        """The by_due partition of one shard (the only key not starting with an account id:
        the close reads across accounts, and only ever enqueues the (account, id) it finds)."""
        return f"due#{shard:02d}"

    @staticmethod
    def due_sort(due: int, account: str = "", object_id: str = "", period_end: int | None = None) -> str:
        """The by_due sort key: due time first, so `dsk < due_sort(t)` is everything due before t.
        An entry due before its period end (a reminder, `tally.billing.reminders`) names the
        period end after the id."""
        if not account:
            return f"{due:012d}#"
        key = f"{due:012d}#{account}#{object_id}"
        return key if period_end is None or period_end == due else f"{key}#{period_end}"

    @staticmethod
    def unique_key(account: str, kind: str, value: str) -> str:
        return f"{account}#unique#{kind}#{value}"

    @staticmethod
    def watch_sk(scope: str) -> str:
        """Sort key of an alert watch list (`tally.store.alerts`): `alerts#<meter id>` in the
        meter's event-name claim partition (alerts on every customer), `alerts#<customer id>` in
        the meter's own partition (alerts on one customer)."""
        return f"alerts#{scope}"

    @staticmethod
    def api_key_key(account: str, key_hash: str) -> str:
        return f"{account}#apikey#{key_hash}"


def _short(value: str) -> str:
    if len(value.encode()) <= 400:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


_bound: tuple | None = None


def bind() -> None:
    """Point the models at the configured table and endpoint (idempotent, cheap)."""
    global _bound
    s = settings()
    wanted = (s.objects_table, s.region, s.endpoint_url)
    if _bound == wanted:
        return
    for model in (ObjectItem,):
        model.Meta.table_name = s.objects_table
        model.Meta.region = s.region
        model.Meta.host = s.endpoint_url  # type: ignore[attr-defined]
        model._connection = None
        model.by_type.Meta.model = model  # type: ignore[attr-defined]
        model.by_customer.Meta.model = model  # type: ignore[attr-defined]
        model.by_field.Meta.model = model  # type: ignore[attr-defined]
        model.by_due.Meta.model = model  # type: ignore[attr-defined]
    _bound = wanted
