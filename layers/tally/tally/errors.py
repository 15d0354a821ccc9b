"""Domain errors, each carrying the Stripe error it becomes on the wire.

The API layer maps any `StripeError` to `{"error": {...}}` with its status in one place
(`tally.api.http`); code elsewhere only raises.
"""

from __future__ import annotations


class StripeError(Exception):
    status = 400
    type = "invalid_request_error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param

    def to_body(self) -> dict:
        error: dict = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


class InvalidRequest(StripeError):
    """A parameter is missing, unknown or invalid (400)."""


class NotFound(StripeError):
    status = 404

    def __init__(self, kind: str, object_id: str, *, param: str = "id") -> None:
        super().__init__(f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


class RouteNotFound(StripeError):
    status = 404

    def __init__(self, method: str, path: str) -> None:
        super().__init__(
            f"Unrecognized request URL ({method}: {path}). Tally does not serve this route: see "
            '"Not supported yet" in Tally\'s docs/API.md for what Tally serves instead.',
        )


class AuthenticationError(StripeError):
    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)


class SessionExpired(AuthenticationError):
    """A v2 meter-event session token that expired or was never issued (401): Stripe's v2 error,
    which the SDKs raise as `TemporarySessionExpiredError` so a client knows to open a new session."""

    type = "temporary_session_expired"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = "billing_meter_event_session_expired"


class IdempotencyError(StripeError):
    type = "idempotency_error"


class Conflict(StripeError):
    """The request conflicts with another in flight (409); it may be retried."""

    status = 409

    def __init__(self, message: str, *, code: str = "lock_timeout") -> None:
        super().__init__(message, code=code)


class RateLimited(StripeError):
    status = 429
    type = "invalid_request_error"

    def __init__(self, message: str = "Too many requests hit the store at once; retry with backoff.") -> None:
        super().__init__(message, code="rate_limit")


class PayloadTooLarge(StripeError):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body exceeds {limit} bytes.", code="request_too_large")


def invalid(param: str, message: str, code: str = "parameter_invalid") -> InvalidRequest:
    return InvalidRequest(message, code=code, param=param)


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required param: {param}.", code="parameter_missing", param=param)


def unknown(param: str) -> InvalidRequest:
    return InvalidRequest(f"Received unknown parameter: {param}", code="parameter_unknown", param=param)
