"""Filter entries: what list filters find through the `by_field` index.

For each value a list can filter on, an object gets one small entry item beside its record:
pk = the object's own pk, sk = `ix#<field>=<value>`, xpk = `acct#<kind>#<field>=<value>`,
xsk = the record's list sort key (`created_ms#id`). Entries are written, and removed when the value
changes or the object is deleted, in the record's own transaction (`objects`, `event_log`), so a
filtered list queries one partition of matching objects and never reads unrelated ones.

Indexed fields (the names `lists.list_records(any_of=...)` takes):

- customer: `email`
- product: `active` (`true`/`false`)
- billing.meter: `status`
- price: `product`, `active`, `type`, `currency`, `recurring.interval`, `recurring.usage_type`,
  `recurring.meter`
- subscription: `status`, `price` (one entry per distinct price of its items), `test_clock` (only
  on a test clock)
- invoice: `status`, `subscription` (an invoice's `customer` is listed through `by_customer`)
- invoiceitem: `pending_for` = its customer while pending, else `invoice` (its customer: `by_customer`)
- billing.alert: `usage_threshold.meter`
- v2.billing.rate_card and v2.billing.pricing_plan: `active`; v2.billing.rate_card_rate and
  v2.billing.rate_card_version: `rate_card`; v2.billing.license_fee_version: `license_fee`;
  v2.billing.pricing_plan_version and v2.billing.pricing_plan_component: `pricing_plan`
- event: `type`, and `type` = `<prefix>.*` for each dotted prefix (`customer.*`,
  `customer.subscription.*`)

Price `lookup_keys` need no entry: the uniqueness claims already map a key to its price.

Search reads the same partitions (`tally.store.search`, `search_partitions`). Its exact match
ignores case on text fields (`email:'JENNY@example.com'` finds `jenny@example.com`) while a list
filter is exact (Stripe's `email=` is case-sensitive), so each field search reads in any case
(`ANY_CASE`) gets one more entry when — and only when — its value is not already case-folded:
`casefold(<field>)=<value.casefold()>`. A value equal to its case-folded form (every status,
currency and type, and nearly every email) is found in its own partition; the others in the
twin's. So a case-insensitive search for v reads the partitions `<field>=<v.casefold()>` and
`casefold(<field>)=<v.casefold()>`, which together hold exactly the objects whose value folds to
v's, and a lower-case email costs no extra write.
"""

from __future__ import annotations

from typing import Any

from pynamodb.transactions import TransactWrite

from tally.store.models import ObjectItem

Fields = frozenset[tuple[str, str]]
Partition = tuple[str, str]  # (field, value): one partition of the by_field index

# Fields searched case-insensitively (tally.domain.search_fields: TEXT fields with an index):
# their values that are not case-folded also get a `casefold(<field>)` twin entry.
ANY_CASE: dict[str, frozenset[str]] = {
    "customer": frozenset({"email"}),
    "price": frozenset({"currency", "type"}),
    "subscription": frozenset({"status"}),
    "invoice": frozenset({"status"}),  # always lower case: no twin is ever written
}


def _flag(value: bool) -> str:
    return "true" if value else "false"


def of_record(record: Any) -> Fields:
    """The (field, value) pairs a record is listed under."""
    kind = record.OBJECT
    out: set[tuple[str, str]] = set()
    if kind == "customer":
        if record.email:
            out.add(("email", record.email))
    elif kind == "product":
        out.add(("active", _flag(record.active)))
    elif kind == "billing.meter":
        out.add(("status", record.status))
    elif kind == "price":
        out |= {
            ("product", record.product),
            ("active", _flag(record.active)),
            ("type", record.type),
            ("currency", record.currency),
        }
        if record.recurring is not None:
            out |= {
                ("recurring.interval", record.recurring.interval),
                ("recurring.usage_type", record.recurring.usage_type),
            }
            if record.recurring.meter:
                out.add(("recurring.meter", record.recurring.meter))
    elif kind == "subscription":
        out.add(("status", record.status))
        out |= {("price", item.price) for item in record.items}
        if record.test_clock is not None:
            out.add(("test_clock", record.test_clock))
    elif kind == "invoice":
        out.add(("status", record.status))
        if record.subscription is not None:  # a one-off invoice has none
            out.add(("subscription", record.subscription))
    elif kind == "invoiceitem":
        # pending items of one customer (what a sweep reads), or the items of one invoice
        out.add(("pending_for", record.customer) if record.invoice is None else ("invoice", record.invoice))
    elif kind in ("v2.billing.rate_card_rate", "v2.billing.rate_card_version"):
        out.add(("rate_card", record.rate_card))
    elif kind in ("v2.billing.rate_card", "v2.billing.pricing_plan"):
        out.add(("active", _flag(record.active)))
    elif kind == "v2.billing.license_fee_version":
        out.add(("license_fee", record.license_fee))
    elif kind in ("v2.billing.pricing_plan_version", "v2.billing.pricing_plan_component"):
        out.add(("pricing_plan", record.pricing_plan))
    elif kind == "billing.alert" and record.usage_threshold is not None:
        out.add(("usage_threshold.meter", record.usage_threshold.meter))
    folds = ANY_CASE.get(kind, frozenset())
    out |= {
        (_folded(field), value.casefold())
        for field, value in out
        if field in folds and value.casefold() != value
    }
    return frozenset(out)


def _folded(field: str) -> str:
    return f"casefold({field})"


def search_partitions(kind: str, field: str, value: str, *, any_case: bool) -> list[Partition]:
    """The partitions holding every `kind` object whose `field` is `value` — in any case when
    `any_case` (then `value` must be case-folded): the exact partition and the folded twins'."""
    if not any_case:
        return [(field, value)]
    if field not in ANY_CASE.get(kind, frozenset()):
        raise ValueError(f"{kind} {field} has no case-folded entries")
    if value.casefold() != value:
        raise ValueError("a case-insensitive lookup takes the case-folded value")
    return [(field, value), (_folded(field), value)]


def of_event_type(event_type: str) -> Fields:
    """An event is listed under its type and each dotted prefix of it (`a.*`, `a.b.*`)."""
    parts = event_type.split(".")
    prefixes = {("type", ".".join(parts[:n]) + ".*") for n in range(1, len(parts))}
    return frozenset({("type", event_type)} | prefixes)


def entry(
    account: str, kind: str, object_id: str, sort: str, field: str, value: str, expires: int | None = None
) -> ObjectItem:
    return ObjectItem(
        pk=ObjectItem.object_key(account, object_id),
        sk=ObjectItem.field_sort(field, value),
        xpk=ObjectItem.field_key(account, kind, field, value),
        xsk=sort,
        expires=expires,
    )


def entries(
    account: str, kind: str, object_id: str, sort: str, fields: Fields, expires: int | None = None
) -> list[ObjectItem]:
    return [entry(account, kind, object_id, sort, f, v, expires) for f, v in sorted(fields)]


def write(
    tx: TransactWrite,
    account: str,
    record: Any,
    sort: str,
    before: Any | None = None,
    *,
    deleted: bool = False,
) -> None:
    """Add `tx`'s entry puts and deletes for `record` (after the change) given `before`."""
    old = of_record(before) if before is not None else frozenset()
    new = frozenset() if deleted else of_record(record)
    for item in entries(account, record.OBJECT, record.id, sort, new - old):
        tx.save(item)
    for field, value in sorted(old - new):
        tx.delete(
            ObjectItem(pk=ObjectItem.object_key(account, record.id), sk=ObjectItem.field_sort(field, value))
        )
