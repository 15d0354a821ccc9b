"""Stripe's search query language, parsed (pure; no knowledge of which fields exist).

    query   := clause ( join clause )*          at most 10 clauses
    join    := spaces ( AND | OR ) spaces | spaces   (a bare space is AND; AND/OR any case)
    clause  := [ "-" ] field op value            "-" negates the clause
    field   := name | metadata[ quoted ]          name: [a-z_][a-z0-9_]*
    op      := ":" | "~" | ">" | "<" | ">=" | "<="
    value   := quoted | integer | true | false | null
    quoted  := '…' | "…"                          a backslash escapes the next character

AND and OR cannot be mixed in one query and there are no parentheses (Stripe's rules). What a
field accepts (which operators, which values) is checked per resource by `search_fields`.
A malformed query raises a `parameter_invalid` error on `query` naming the character where it
went wrong (1-based).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tally.errors import InvalidRequest, invalid

MAX_CLAUSES = 10
OPERATORS = (">=", "<=", ":", "~", ">", "<")  # two-character operators first
Value = str | int | bool | None  # None is `null`

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_BARE = re.compile(r"-?[0-9]{1,18}|null|true|false")
_JOIN = re.compile(r"(AND|OR)(?=\s|$)", re.IGNORECASE)
_SPACE = " \t\r\n"


@dataclass(frozen=True)
class Clause:
    field: str  # "email", "created", "metadata", …
    op: str  # one of OPERATORS
    value: Value
    key: str | None = None  # the metadata key of `metadata['key']`
    negated: bool = False
    at: int = 0  # where the clause starts (0-based), for error messages

    @property
    def label(self) -> str:
        return f"metadata['{self.key}']" if self.field == "metadata" else self.field


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    any_of: bool = False  # True: the clauses are joined by OR; False: by AND


def query_error(at: int, message: str) -> InvalidRequest:
    return invalid("query", f"Invalid search query at character {at + 1}: {message}")


def parse(text: str) -> Query:
    """Parse a search query; raises a `parameter_invalid` error on `query` saying where."""
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def fail(self, message: str, at: int | None = None) -> InvalidRequest:
        return query_error(self.i if at is None else at, message)

    def spaces(self) -> bool:
        start = self.i
        while self.i < len(self.text) and self.text[self.i] in _SPACE:
            self.i += 1
        return self.i > start

    def query(self) -> Query:
        self.spaces()
        if self.i == len(self.text):
            raise self.fail("the query is empty; expected a clause such as email:'jenny@example.com'.")
        clauses = [self.clause()]
        joins: set[str] = set()
        while True:
            spaced = self.spaces()
            if self.i == len(self.text):
                break
            if not spaced:
                raise self.fail("expected a space, AND or OR after the clause.")
            join = _JOIN.match(self.text, self.i)
            if join:
                joins.add(join.group(1).upper())
                self.i = join.end()
                self.spaces()
                if self.i == len(self.text):
                    raise self.fail(f"expected a clause after {join.group(1).upper()}.")
            else:
                joins.add("AND")  # clauses separated by spaces only are joined by AND
            if len(clauses) == MAX_CLAUSES:
                raise self.fail(f"a query may have at most {MAX_CLAUSES} clauses.")
            clauses.append(self.clause())
        if len(joins) > 1:
            raise self.fail("AND and OR cannot be combined in one query (there are no parentheses).", 0)
        return Query(tuple(clauses), any_of=joins == {"OR"})

    def clause(self) -> Clause:
        start = self.i
        negated = self.text.startswith("-", self.i)
        if negated:
            self.i += 1
        key = None
        if self.text.startswith("metadata[", self.i):
            self.i += len("metadata[")
            if self.i >= len(self.text) or self.text[self.i] not in "'\"":
                raise self.fail("expected a quoted metadata key, as in metadata['order_id'].")
            key = self.quoted()
            if not key:
                raise self.fail("the metadata key is empty.", self.i - 2)
            if not self.text.startswith("]", self.i):
                raise self.fail("expected ] after the metadata key.")
            self.i += 1
            field = "metadata"
        else:
            name = _NAME.match(self.text, self.i)
            if not name:
                raise self.fail("expected a field name (such as email, created or metadata['key']).")
            field = name.group()
            self.i = name.end()
        op = next((op for op in OPERATORS if self.text.startswith(op, self.i)), None)
        if op is None:
            raise self.fail(f"expected an operator (: ~ > < >= <=) after {field}.")
        self.i += len(op)
        return Clause(field, op, self.value(), key, negated, start)

    def value(self) -> Value:
        if self.i < len(self.text) and self.text[self.i] in "'\"":
            return self.quoted()
        bare = _BARE.match(self.text, self.i)
        if not bare or (bare.end() < len(self.text) and self.text[bare.end()] not in _SPACE):
            raise self.fail("expected a quoted value ('…' or \"…\"), a number, true, false or null.")
        self.i = bare.end()
        word = bare.group()
        return None if word == "null" else word == "true" if word in ("true", "false") else int(word)

    def quoted(self) -> str:
        start, quote = self.i, self.text[self.i]
        self.i += 1
        out: list[str] = []
        while self.i < len(self.text):
            char = self.text[self.i]
            if char == "\\" and self.i + 1 < len(self.text):
                out.append(self.text[self.i + 1])
                self.i += 2
            elif char == quote:
                self.i += 1
                return "".join(out)
            else:
                out.append(char)
                self.i += 1
        raise self.fail(f"the string starting here has no closing {quote}.", start)
