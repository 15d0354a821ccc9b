"""The fields each search can name, what they accept, and whether a record matches a query.

Fields follow Stripe's query fields for the resources Tally keeps (customers: email, name, phone;
products: name, active, description; prices: active, currency, lookup_key, product, type;
subscriptions: status; invoices: currency, customer, number, receipt_number, status,
subscription, total; all: created and metadata). Exact matches (`:`) on text are case
insensitive, except ids and lookup keys (exact); `~` is a case-insensitive substring match of at
least 3 characters on the text fields that allow it; `>`, `<`, `>=`, `<=` compare numbers;
`field:null` matches a missing value (`metadata['k']:null`: the key is absent).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tally.domain.search_query import Clause, Query, query_error

MIN_SUBSTRING = 3
TEXT, EXACT, BOOL, NUMBER = "text", "exact", "bool", "number"  # EXACT: case-sensitive (ids, keys)
_INTEGER = re.compile(r"-?[0-9]{1,18}")  # ASCII digits only (str.isdigit accepts "²")
_COMPARE = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Field:
    type: str
    read: Callable[[Any], Any]
    substring: bool = False  # `~` allowed
    nullable: bool = False  # `:null` allowed
    choices: tuple[str, ...] = ()


def _text(name: str, *, substring: bool = True, nullable: bool = True) -> Field:
    return Field(TEXT, operator.attrgetter(name), substring=substring, nullable=nullable)


_CREATED = Field(NUMBER, operator.attrgetter("created"))
FIELDS: dict[str, dict[str, Field]] = {
    "customer": {
        "created": _CREATED,
        "email": _text("email"),
        "name": _text("name"),
        "phone": _text("phone"),
    },
    "product": {
        "created": _CREATED,
        "active": Field(BOOL, operator.attrgetter("active")),
        "description": _text("description"),
        "name": _text("name", nullable=False),
    },
    "price": {
        "created": _CREATED,
        "active": Field(BOOL, operator.attrgetter("active")),
        "currency": _text("currency", substring=False, nullable=False),
        "lookup_key": Field(EXACT, operator.attrgetter("lookup_key"), nullable=True),
        "product": Field(EXACT, operator.attrgetter("product")),
        "type": Field(
            TEXT,
            lambda p: "one_time" if p.recurring is None else "recurring",
            choices=("one_time", "recurring"),
        ),
    },
    "subscription": {
        "created": _CREATED,
        "status": _text("status", substring=False, nullable=False),
    },
    "invoice": {
        "created": _CREATED,
        "currency": _text("currency", substring=False, nullable=False),
        "customer": Field(EXACT, operator.attrgetter("customer")),
        "number": _text("number", substring=False),
        "receipt_number": Field(TEXT, lambda inv: None, nullable=True),  # Tally collects no payments
        "status": Field(
            TEXT,
            operator.attrgetter("status"),
            choices=("draft", "open", "paid", "uncollectible", "void"),
        ),
        "subscription": Field(EXACT, operator.attrgetter("subscription"), nullable=True),
        "total": Field(NUMBER, operator.attrgetter("total")),
    },
}
_METADATA = Field(TEXT, lambda record: record.metadata, nullable=True)


def check(kind: str, query: Query) -> Query:
    """The query with its values converted to each field's type; raises a `parameter_invalid`
    error on `query` for a field the resource does not search, or an operator or value the field
    does not take."""
    return replace(query, clauses=tuple(_check(kind, clause) for clause in query.clauses))


def _check(kind: str, c: Clause) -> Clause:
    fields = FIELDS[kind]
    field = _METADATA if c.field == "metadata" else fields.get(c.field)
    if field is None:
        names = ", ".join(sorted([*fields, "metadata"]))
        raise query_error(c.at, f"{kind}s cannot be searched by {c.field}; the fields are {names}.")
    value = c.value
    if c.op == "~":
        if not field.substring:
            raise query_error(c.at, f"{c.label} does not take ~ (substring); use : for an exact match.")
        if not isinstance(value, str) or len(value) < MIN_SUBSTRING:
            raise query_error(c.at, f"~ needs a quoted value of at least {MIN_SUBSTRING} characters.")
    elif c.op in _COMPARE or field.type == NUMBER:
        if field.type != NUMBER:
            numeric = ", ".join(n for n, f in FIELDS[kind].items() if f.type == NUMBER)
            raise query_error(c.at, f"{c.label} does not take {c.op}; only numeric fields ({numeric}) do.")
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            example = "created>1609459200" if c.field == "created" else f"{c.field}>1000"
            raise query_error(c.at, f"{c.label} takes a number (unix seconds for created), as in {example}.")
    elif value is None:
        if not field.nullable:
            raise query_error(c.at, f"{c.label} is never null.")
    elif field.type == BOOL:
        if value not in (True, False, "true", "false"):
            raise query_error(c.at, f"{c.label} takes true or false.")
        value = value in (True, "true")
    elif not isinstance(value, str):
        raise query_error(c.at, f"{c.label} takes a quoted string, as in {c.label}:'value'.")
    elif field.choices and value.casefold() not in field.choices:
        raise query_error(c.at, f"{c.label} is one of {', '.join(field.choices)}.")
    return replace(c, value=value)


def matches(kind: str, query: Query, record: Any) -> bool:
    """Whether `record` satisfies the (checked) query."""
    results = (_matches(FIELDS[kind], clause, record) for clause in query.clauses)
    return any(results) if query.any_of else all(results)


def _matches(fields: dict[str, Field], c: Clause, record: Any) -> bool:
    if c.field == "metadata":
        have: Any = record.metadata.get(str(c.key))
        field = _METADATA
    else:
        field = fields[c.field]
        have = field.read(record)
    want = c.value
    if c.op == "~":
        found = isinstance(have, str) and str(want).casefold() in have.casefold()
    elif c.op in _COMPARE:
        found = have is not None and _COMPARE[c.op](have, want)
    elif want is None:
        found = have is None or have == ""
    elif field.type == EXACT or not isinstance(want, str):
        found = have == want
    else:
        found = isinstance(have, str) and have.casefold() == want.casefold()
    return found != c.negated
