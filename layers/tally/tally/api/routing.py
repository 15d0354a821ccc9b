"""Route registration. API Gateway does the path matching (template.yaml lists every route);
a function maps the event's `routeKey` (e.g. "GET /v1/customers/{id}") to its handler here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    key: str
    handler: Handler
    session_auth: bool = False  # also accepts a v2 meter event session token
    status: int = 200
    # The route keeps its own Idempotency-Key record (v1 meter events: on the event's item), so
    # the pipeline writes none (`api.http.handle`); the handler sets `Request.replayed`.
    own_idempotency: bool = False
    portal_auth: bool = False  # a customer portal link's token instead of an API key (api.portal)
    # The handler's use case reads the key's stored hash itself, in the same consistent
    # BatchGetItem as its own lookups (meter events: `Request.presented`); the pipeline only
    # checks the header's form up front, and reads the key itself before any error it answers.
    key_with_lookups: bool = False


class Routes:
    def __init__(self) -> None:
        self.table: dict[str, Route] = {}

    def route(
        self,
        key: str,
        *,
        session_auth: bool = False,
        status: int = 200,
        own_idempotency: bool = False,
        portal_auth: bool = False,
        key_with_lookups: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if key in self.table:
                raise ValueError(f"route registered twice: {key}")
            self.table[key] = Route(
                key, handler, session_auth, status, own_idempotency, portal_auth, key_with_lookups
            )
            return handler

        return register


def merge(*groups: Routes) -> dict[str, Route]:
    table: dict[str, Route] = {}
    for group in groups:
        for key, route in group.table.items():
            if key in table:
                raise ValueError(f"route registered twice: {key}")
            table[key] = route
    return table
