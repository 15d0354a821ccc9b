"""/v1/notification_subscriptions (a Tally extension): subscribe an email address, an HTTPS URL or
an SQS queue to the account's events on the notification topic; list, retrieve, delete
(`tally.billing.notifications`; docs/API.md, "Notifications")."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.routing import Routes
from tally.billing import notifications
from tally.domain.notifications import (
    ENDPOINT_MAX,
    EVENT_TYPE_MAX,
    MAX_EVENT_TYPES,
    PROTOCOLS,
    check_event_types,
)
from tally.presenters.notifications import deleted, subscription
from tally.settings import settings

routes = Routes()
URL = "/v1/notification_subscriptions"


def _present(record: Any) -> dict[str, Any]:
    return subscription(record, settings().livemode)


@routes.route(f"POST {URL}")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    protocol = params.str("protocol", required=True, choices=PROTOCOLS)
    endpoint = params.str("endpoint", required=True, max_length=ENDPOINT_MAX)
    types = check_event_types(
        params.strings("event_types", max_items=MAX_EVENT_TYPES, max_length=EVENT_TYPE_MAX)
    )
    customer = params.str("customer", max_length=255)
    params.expand()
    params.done()
    assert protocol is not None and endpoint is not None
    record = notifications.create(request.account, protocol, endpoint, types, customer, request.clock)
    return _present(record)


@routes.route(f"GET {URL}/{{id}}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return _present(notifications.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route(f"GET {URL}")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params)
    params.done()
    return envelope(URL, notifications.list_(request.account, window, request.clock), _present)


@routes.route(f"DELETE {URL}/{{id}}")
def delete(request: Request) -> dict[str, Any]:
    request.params().done()
    return deleted(notifications.delete(request.account, request.path_params["id"], request.clock).id)
