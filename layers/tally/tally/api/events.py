"""/v1/events: retrieve and list the event log that every object change writes (30-day retention).

`type` matches exactly or, with a trailing `*`, by prefix (`customer.*` matches
`customer.subscription.created`); `types[]` takes up to 20 exact types. An event older than
the retention window reads as missing, whether or not DynamoDB's TTL has removed it yet.
"""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.routing import Routes
from tally.billing import events

routes = Routes()
TYPE_MAX = 200


@routes.route("GET /v1/events/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return events.retrieve(request.account, request.path_params["id"], request.clock)


@routes.route("GET /v1/events")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params, created=True)
    pattern = params.str("type", max_length=TYPE_MAX)
    types = params.strings("types", max_items=20, max_length=TYPE_MAX)
    params.done()
    page = events.list_(request.account, window, request.clock, pattern=pattern, types=types)
    return envelope("/v1/events", page)
