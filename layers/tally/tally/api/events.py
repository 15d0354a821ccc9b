"""/v1/events: retrieve and list the event log that every object change writes (30-day retention).

`type` matches exactly or, with a trailing `*`, by prefix (`customer.*` matches
`customer.subscription.created`); `types[]` takes up to 20 exact types. An event older than
the retention window reads as missing, whether or not DynamoDB's TTL has removed it yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tally.api import lists
from tally.api.http import Request
from tally.api.lists import envelope, list_args
from tally.api.routing import Routes
from tally.errors import invalid
from tally.store import objects

routes = Routes()
KIND = "event"
TYPE_MAX = 200


def type_matcher(pattern: str) -> Callable[[str], bool]:
    """Exact match, or prefix match for a pattern ending in `*`. Raises ValueError otherwise."""
    if "*" in pattern[:-1]:
        raise ValueError("Only a trailing '*' wildcard is supported (e.g. 'customer.*').")
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        return lambda t: t.startswith(prefix)
    return lambda t: t == pattern


@routes.route("GET /v1/events/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    return lists.retrieve(request, KIND)  # past the 30-day retention the store answers 404


@routes.route("GET /v1/events")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    args = list_args(params, created=True)
    pattern = params.str("type", max_length=TYPE_MAX)
    types = params.strings("types", max_items=20, max_length=TYPE_MAX)
    params.done()
    if pattern is not None and types is not None:
        raise invalid("types", "You may only specify one of these parameters: type, types.")
    tests: list[Callable[[str], bool]] = []
    if pattern is not None:
        try:
            tests.append(type_matcher(pattern))
        except ValueError as exc:
            raise invalid("type", str(exc)) from None
    if types is not None:
        wanted = set(types)
        tests.append(lambda t: t in wanted)
    page = objects.list_objects(
        request.account,
        KIND,
        args,
        where=(lambda e: all(test(e["type"]) for test in tests)) if tests else None,
    )
    return envelope("/v1/events", page)
