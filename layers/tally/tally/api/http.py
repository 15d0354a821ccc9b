"""API Gateway HTTP API (payload 2.0) events in, Stripe-shaped responses out.

One pipeline for every route: size limit → decode → authenticate → parse params → idempotency
(POST with Idempotency-Key) → handler → JSON. Every `StripeError` becomes Stripe's error envelope
here; anything else becomes a 500 `api_error` with no stack trace on the wire.

A route with `key_with_lookups` (meter events) is authenticated in two steps: the header's form
here, the key's stored hash by the use case, in the one consistent BatchGetItem that also reads
the meter and the customer. Whatever else happens, an unconfirmed key is read before the answer
(and before Powertools' idempotency record), so a bad key is still a 401 before anything else.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tally import errors
from tally.api import auth, versions
from tally.api.params import Params
from tally.api.parsing import parse_body, parse_form
from tally.api.routing import Route
from tally.clock import Clock
from tally.context import RequestInfo, current_request
from tally.ids import new_id
from tally.observability import logger
from tally.settings import settings

MAX_IDEMPOTENCY_KEY = 255

if TYPE_CHECKING:  # only portal routes build one; the ingest path never imports it
    from tally.billing.accounts import Presented
    from tally.domain.portal import PortalSession


@dataclass
class Request:
    method: str
    path: str
    route_key: str
    path_params: dict[str, str]
    headers: dict[str, str]
    data: dict[str, Any]
    account: str
    request_id: str
    clock: Clock = field(default_factory=Clock.system)  # the request's instant, for everything below
    api_version: str | None = None  # the `Stripe-Version` header, checked (None: the account's)
    replayed: bool = False  # set by a route with its own idempotency when it answers a replay
    portal: PortalSession | None = None  # on a portal route: the customer its link grants
    # On a `key_with_lookups` route: the key, for the use case to confirm with its own reads.
    presented: Presented | None = None

    def params(self) -> Params:
        """The parameters for the handler to take. On v1 the pipeline owns `expand` (checked and
        applied for every route, `_call`), so handlers never see it; v2 has no `expand`."""
        if is_v2(self.route_key):
            return Params(self.data)
        return Params({k: v for k, v in self.data.items() if k != "expand"})


def is_v2(route_key: str) -> bool:
    """Whether a route (`POST /v2/…`) is in Stripe's v2 namespace: JSON, no `expand`, v2 errors."""
    return route_key.split(" ", 1)[-1].startswith("/v2/")


def to_json(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


@dataclass(frozen=True)
class RawBody:
    """A handler's answer that is not a JSON object (a report file's contents): sent as it is."""

    text: str
    content_type: str


def response(
    status: int, body: str, headers: dict[str, str] | None = None, content_type: str = "application/json"
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, **(headers or {})},
        "body": body,
        "isBase64Encoded": False,
    }


# v2 errors always carry a `code` (Stripe's v2 SDKs dispatch on type and code); where the v1 error
# has none, the status's.
V2_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    409: "conflict",
    500: "internal_error",
}


def error_body(exc: errors.StripeError, v2: bool) -> dict[str, Any]:
    """Stripe's error envelope; for a v2 endpoint the v2 shape (`type`, `code` always, `message`,
    `param` when one parameter is at fault)."""
    body = exc.to_body()
    if v2 and "code" not in body["error"]:
        body["error"]["code"] = V2_CODES.get(exc.status, "invalid_request")
    return body


def _body_text(event: dict[str, Any]) -> str:
    raw = event.get("body") or ""
    limit = settings().max_body_bytes
    if len(raw) > limit * 4 // 3 + 4:
        raise errors.PayloadTooLarge(limit)
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.InvalidRequest("The request body is not valid base64.") from exc
    else:
        data = raw.encode("utf-8", "surrogatepass")
    if len(data) > limit:
        raise errors.PayloadTooLarge(limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.InvalidRequest("The request body is not valid UTF-8.") from exc


def _parse(event: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """The query string and the body together, whatever the method (Stripe reads both, DELETE's
    body included): a name in both is refused rather than one of them silently winning."""
    query = parse_form(event.get("rawQueryString") or "")
    text = _body_text(event)
    body = parse_body(text, headers.get("content-type", "")) if text else {}
    if both := sorted(query.keys() & body.keys()):
        raise errors.InvalidRequest(
            f"Parameter {both[0]} was given both in the query string and in the body.", param=both[0]
        )
    return {**query, **body}


def _authenticate(route: Route, headers: dict[str, str], clock: Clock) -> str:
    authorization = headers.get("authorization")
    if route.session_auth and authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
        if auth.is_session_token(token):
            return auth.authenticate_session(token, clock)
    return auth.authenticate(authorization, clock)


def _call(route: Route, request: Request) -> dict[str, Any]:
    if "expand" not in request.data or is_v2(route.key):
        body = route.handler(request)
    else:
        from tally.api import expand  # lazy: expansion reads every resource; ingest never needs it

        steps = expand.paths(route.key, request.data)  # checked first: a bad path changes nothing
        body = expand.apply(request.account, request.clock, route.handler(request), steps)
    if isinstance(body, RawBody):  # not JSON: no version rendering (GET only: never idempotent)
        return {"status": route.status, "body": body.text, "content_type": body.content_type}
    body = versions.render(request.account, request.api_version, request.clock, body)
    # The body is kept as text so an idempotent replay is byte-identical to the first answer.
    return {"status": route.status, "body": to_json(body)}


def _idempotent_call(route: Route, request: Request, key: str, context: Any) -> tuple[dict[str, Any], bool]:
    from tally.store import idempotency  # lazy: only POSTs with a key pay for Powertools idempotency

    return idempotency.run(
        account=request.account,
        key=key,
        fingerprint={"method": request.method, "path": request.path, "params": request.data},
        call=lambda: _call(route, request),
        context=context,
    )


def _refusal(presented: Presented | None, clock: Clock) -> errors.StripeError | None:
    """The 401 that answers instead of another outcome when the presented key, not yet
    confirmed, turns out not to be stored (one GetItem; None when it is, or when there is none)."""
    if presented is None or presented.confirmed:
        return None
    try:
        presented.confirm(clock)
    except errors.StripeError as refused:  # the 401, or the store's own error reading the key
        return refused
    return None


def handle(event: dict[str, Any], context: Any, routes: dict[str, Route]) -> dict[str, Any]:
    """Serve one API Gateway v2 event with the given route table."""
    clock = Clock.system()  # the request's instant: everything below runs at it
    request_ctx = event.get("requestContext") or {}
    request_id = f"req_{(request_ctx.get('requestId') or new_id('x'))[-14:]}"
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    http = request_ctx.get("http") or {}
    method = (http.get("method") or "GET").upper()
    path = event.get("rawPath") or http.get("path") or "/"
    key = headers.get("idempotency-key") if method == "POST" else None
    base_headers = {"Request-Id": request_id}
    token = current_request.set(RequestInfo(request_id, key))
    logger.remove_keys(["account", "route"])  # a warm function's previous request set them
    route = routes.get(event.get("routeKey") or "")
    presented: Presented | None = None
    v2 = route is not None and is_v2(route.key)  # errors of a v2 endpoint take the v2 shape
    try:
        if route is None:
            raise errors.RouteNotFound(method, path)
        portal = auth.authenticate_portal(headers.get("authorization"), clock) if route.portal_auth else None
        if route.key_with_lookups:
            presented = auth.presented(headers.get("authorization"), session=route.session_auth)
            account = presented.account
        else:
            account = portal.account if portal else _authenticate(route, headers, clock)
        data = _parse(event, headers)
        request = Request(
            method,
            path,
            route.key,
            event.get("pathParameters") or {},
            headers,
            data,
            account,
            request_id,
            clock,
            versions.requested(headers),
            portal=portal,
            presented=presented,
        )
        logger.append_keys(account=account, route=route.key)
        if key is not None:
            if not key or len(key) > MAX_IDEMPOTENCY_KEY:
                raise errors.InvalidRequest(
                    f"Idempotency-Key must be 1–{MAX_IDEMPOTENCY_KEY} characters.", param="Idempotency-Key"
                )
            if route.own_idempotency:
                outcome = _call(route, request)
                replayed = request.replayed
            else:
                if presented is not None:  # Powertools writes its record before the handler runs
                    presented.confirm(clock)
                outcome, replayed = _idempotent_call(route, request, key, context)
            base_headers["Idempotency-Key"] = key
            if replayed:
                base_headers["Idempotent-Replayed"] = "true"
        else:
            outcome = _call(route, request)
        if presented is not None:  # a no-op when the use case read the key (it always does)
            presented.confirm(clock)
        return response(
            outcome["status"], outcome["body"], base_headers, outcome.get("content_type", "application/json")
        )
    except errors.StripeError as exc:
        exc = _refusal(presented, clock) or exc
        if exc.status >= 500 or exc.status == 429:
            logger.warning("request failed", extra={"error": exc.message, "status": exc.status})
        return response(exc.status, to_json(error_body(exc, v2)), base_headers)
    except Exception:
        if refused := _refusal(presented, clock):
            return response(refused.status, to_json(error_body(refused, v2)), base_headers)
        logger.exception("unhandled error")
        body = errors.StripeError("An unexpected error occurred; it has been logged. Retry the request.")
        body.type = "api_error"
        return response(500, to_json(error_body(body, v2)), base_headers)
    finally:
        current_request.reset(token)
