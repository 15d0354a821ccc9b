"""Per-request facts that deep layers need (the event log records the request id and key)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestInfo:
    request_id: str | None = None
    idempotency_key: str | None = None


NO_REQUEST = RequestInfo()
current_request: ContextVar[RequestInfo] = ContextVar("current_request", default=NO_REQUEST)
