"""/v1/webhook_endpoints: create (the answer holds the signing `secret`, once), retrieve, update,
list, delete; and Tally's `GET /v1/webhook_endpoints/{id}/attempts` (delivery attempts)."""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import webhooks
from tally.domain.webhooks import MAX_URL_LENGTH
from tally.errors import invalid, missing
from tally.presenters.webhooks import attempt, deleted
from tally.presenters.webhooks import endpoint as present

routes = Routes()
URL = "/v1/webhook_endpoints"
EVENT_MAX = 100  # characters of one enabled_events entry
EVENTS_MAX = 100  # entries of enabled_events


def _events(params: Params, *, required: bool) -> list[str] | None:
    """`enabled_events`: None when absent (an update keeps the endpoint's); sent empty (`""`,
    `null`, `[]`) it is 400 `parameter_invalid_empty`, as Stripe answers for a list it cannot unset."""
    sent = params.has("enabled_events")
    if required and not sent:
        raise missing("enabled_events")
    events = params.strings("enabled_events", max_items=EVENTS_MAX, max_length=EVENT_MAX)
    if sent and not events:
        raise invalid(
            "enabled_events",
            "You passed an empty value for 'enabled_events'; it cannot be unset. "
            "Name at least one event type, or '*'.",
            code="parameter_invalid_empty",
        )
    return events


@routes.route(f"POST {URL}")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    url = params.str("url", required=True, max_length=MAX_URL_LENGTH)
    events = _events(params, required=True)
    description = params.str("description", max_length=5000)
    metadata = params.metadata()
    api_version = params.str("api_version", max_length=64)
    params.ignore("connect")  # Connect endpoints do not exist in Tally; false is the only meaning
    params.expand()
    params.done()
    if url is None or events is None:  # `required` refuses absence; this keeps mypy (and -O) honest
        raise missing("url" if url is None else "enabled_events")
    endpoint, secret = webhooks.create(
        request.account, url, events, description, metadata, api_version, request.clock
    )
    return present(endpoint, secret)


@routes.route(f"GET {URL}/{{id}}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(webhooks.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route(f"POST {URL}/{{id}}")
def update(request: Request) -> dict[str, Any]:
    params = request.params()
    url_sent = params.has("url")
    url = params.str("url", max_length=MAX_URL_LENGTH)
    if url_sent and not url:  # `url=` would be ignored: say so, as Stripe does
        raise invalid(
            "url", "You passed an empty value for 'url'; it cannot be unset.", "parameter_invalid_empty"
        )
    events = _events(params, required=False)
    description = params.str("description", max_length=5000, empty_ok=True)
    disabled = params.bool("disabled")
    metadata = params.metadata()
    params.expand()
    params.done()
    return present(
        webhooks.update(
            request.account,
            request.path_params["id"],
            request.clock,
            url=url,
            enabled_events=events,
            description=description or None,
            clear_description=description == "",
            disabled=disabled,
            metadata=metadata,
        )
    )


@routes.route(f"DELETE {URL}/{{id}}")
def delete(request: Request) -> dict[str, Any]:
    request.params().done()
    return deleted(webhooks.delete(request.account, request.path_params["id"], request.clock).id)


@routes.route(f"GET {URL}")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params, created=True)
    params.done()
    return envelope(URL, webhooks.list_(request.account, window, request.clock), present)


@routes.route(f"GET {URL}/{{id}}/attempts")
def attempts(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params)
    params.done()
    endpoint_id = request.path_params["id"]
    page = webhooks.attempts(request.account, endpoint_id, window, request.clock)
    return envelope(f"{URL}/{endpoint_id}/attempts", page, attempt)
