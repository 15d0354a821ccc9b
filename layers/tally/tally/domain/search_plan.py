"""Which index answers a search (the planner), and the `page` cursor of a search result.

Every source yields objects newest first, in the order of the `by_type` index (`<created ms,
15 digits>#<id>`), so sources can be merged and one cursor (the position of the last object read)
continues any of them. Whatever the source, the store returns only objects that match the whole
query (`search_fields.matches`): an index only narrows what is read.

To serve another clause from an index (e.g. a GSI on `email` or `status`), add it to
`source_for` and teach `tally.store.search` to read that source.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from tally.domain.search_query import Clause, Query
from tally.errors import invalid

T = TypeVar("T")

BY_TYPE = "by_type"  # every object of the type, newest first (the fallback: bounded by MAX_READ)
METADATA = "metadata"  # the metadata index: objects with metadata[key] == value (case-insensitive)
LOOKUP_KEY = "lookup_key"  # the price lookup-key claim: at most one price
# When several clauses of an AND query have an index, the first kind here is read.
PREFERENCE = (LOOKUP_KEY, METADATA, BY_TYPE)
_POSITION = re.compile(r"[0-9]{15}#[A-Za-z0-9_]{1,255}")


@dataclass(frozen=True)
class Source:
    index: str
    key: str | None = None
    value: str | None = None


@dataclass
class SearchPage(Generic[T]):
    data: list[T]
    has_more: bool
    next_page: str | None = None


def source_for(kind: str, clause: Clause) -> Source | None:
    """The index that finds every object matching `clause`, if one does (only positive exact
    clauses can be answered by an index)."""
    if clause.negated or clause.op != ":" or not isinstance(clause.value, str):
        return None
    if clause.field == "metadata":
        return Source(METADATA, clause.key, clause.value)
    if kind == "price" and clause.field == "lookup_key":
        return Source(LOOKUP_KEY, value=clause.value)
    return None


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
    return (min(found, key=lambda s: PREFERENCE.index(s.index)),)


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
