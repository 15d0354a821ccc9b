"""Which index answers a search (the planner), and the `page` cursor of a search result.

Every source yields objects newest first, in the order of the `by_type` index (`<created ms,
15 digits>#<id>`), so sources can be merged and one cursor (the position of the last object read)
continues any of them. Whatever the source, the store returns only objects that match the whole
query (`search_fields.matches`): an index only narrows what is read.

To serve another clause from an index, add it to `source_for` (and, for a `by_field` clause, to
`INDEXED`, after checking that `tally.store.filters.of_record` writes entries for that field) and
teach `tally.store.search` to read that source.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from tally.domain.search_fields import EXACT, FIELDS
from tally.domain.search_query import Clause, Query
from tally.errors import invalid

T = TypeVar("T")

BY_TYPE = "by_type"  # every object of the type, newest first (the fallback: bounded by MAX_READ)
METADATA = "metadata"  # the metadata index: objects with metadata[key] == value (case-insensitive)
LOOKUP_KEY = "lookup_key"  # the price lookup-key claim: at most one price
BY_FIELD = "by_field"  # the list-filter entries (`by_field` GSI): objects with field == value
BY_CUSTOMER = "by_customer"  # a customer's objects of the type (`by_customer` GSI): invoices
# The exact clauses `by_field` answers, per resource (fields tally.store.filters writes entries
# for; tests/unit/test_search_query.py checks that it does).
INDEXED: dict[str, tuple[str, ...]] = {
    "customer": ("email",),
    "product": ("active",),
    "price": ("product", "currency", "type", "active"),
    "subscription": ("status",),
    "invoice": ("status", "subscription"),
}
# When several clauses of an AND query have an index, the first here is read: a lookup key (one
# price), an email (about one customer), a metadata pair, then the other fields, likely most
# selective first.
_RANK = (
    "lookup_key",
    "email",
    "subscription",
    BY_CUSTOMER,
    "metadata",
    "product",
    "currency",
    "status",
    "type",
    "active",
)
_POSITION = re.compile(r"[0-9]{15}#[A-Za-z0-9_]{1,255}")


@dataclass(frozen=True)
class Source:
    index: str
    key: str | None = None  # the metadata key, or the by_field field
    value: str | None = None  # for by_field: the entry value ("true"/"false" for booleans)
    any_case: bool = False  # by_field: value is case-folded, objects match in any case


@dataclass
class SearchPage(Generic[T]):
    data: list[T]
    has_more: bool
    next_page: str | None = None


def source_for(kind: str, clause: Clause) -> Source | None:
    """The index that finds every object matching `clause`, if one does (only positive exact
    clauses can be answered by an index)."""
    value = clause.value
    if clause.negated or clause.op != ":" or value is None:
        return None  # a negation, a substring, a comparison or `:null` can match unindexed objects
    if clause.field == "metadata" and isinstance(value, str):
        return Source(METADATA, clause.key, value)
    if kind == "price" and clause.field == "lookup_key" and isinstance(value, str):
        return Source(LOOKUP_KEY, value=value)
    if kind == "invoice" and clause.field == "customer" and isinstance(value, str) and value:
        return Source(BY_CUSTOMER, value=value)
    if clause.field not in INDEXED.get(kind, ()):
        return None
    if isinstance(value, bool):
        return Source(BY_FIELD, clause.field, "true" if value else "false")
    if not isinstance(value, str) or value == "":
        return None  # no entry is written for an empty value (an email set to "")
    field = FIELDS[kind][clause.field]
    if field.type == EXACT:
        return Source(BY_FIELD, clause.field, value)  # ids: case-sensitive
    return Source(BY_FIELD, clause.field, value.casefold(), any_case=True)  # text: any case


def _rank(source: Source) -> int:
    return _RANK.index(source.index if source.index != BY_FIELD else str(source.key))


def plan(kind: str, query: Query) -> tuple[Source, ...]:
    """What to read: one index for an AND query (any clause's), every clause's index for an OR
    query (merged), else all objects of the type."""
    sources = [source_for(kind, clause) for clause in query.clauses]
    found = [s for s in sources if s is not None]
    if query.any_of:
        if found and len(found) == len(sources):
            return tuple(dict.fromkeys(found))
        return (Source(BY_TYPE),)
    if not found:
        return (Source(BY_TYPE),)
    return (min(found, key=_rank),)


def created_floor(query: Query) -> str:
    """The lowest position an AND query's `created` clauses allow ("" for none).

    A position's milliseconds are never earlier than the object's `created` (the store's sort
    stamp is the write's clock, bumped forward to stay strictly increasing), so every source,
    being newest first, can stop below `created*1000` without missing a match. The stamp can run
    ahead of `created` (a burst of writes, a clock set in the future), so an upper bound
    (`created<…`) cannot skip positions: those clauses are only checked on the objects read."""
    floor = 0
    for c in () if query.any_of else query.clauses:
        if c.field != "created" or c.negated or c.op not in (">", ">=", ":"):
            continue
        if isinstance(c.value, int) and not isinstance(c.value, bool):
            floor = max(floor, (c.value + 1 if c.op == ">" else c.value) * 1000)
    return "" if floor == 0 else f"{floor:015d}" if floor < 10**15 else "~"


# -- the page cursor: where the last page stopped, tied to its query ------------------------------
def _fingerprint(query_text: str) -> str:
    return hashlib.sha256(query_text.encode()).hexdigest()[:16]


def encode_page(position: str, query_text: str) -> str:
    raw = json.dumps({"p": position, "q": _fingerprint(query_text)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page(page: str, query_text: str) -> str:
    """The position a `next_page` token continues from; raises on `page` if it is not one of
    ours or was made for another query."""
    try:
        data = json.loads(base64.urlsafe_b64decode(page + "=" * (-len(page) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid("page", "Invalid page: pass the next_page of a previous search result.") from None
    position = data.get("p") if isinstance(data, dict) else None
    if not isinstance(position, str) or not _POSITION.fullmatch(position):
        raise invalid("page", "Invalid page: pass the next_page of a previous search result.")
    if data.get("q") != _fingerprint(query_text):
        raise invalid("page", "Invalid page: it belongs to a search with another query.")
    return position
