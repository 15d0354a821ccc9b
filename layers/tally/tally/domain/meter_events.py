"""Stripe's meter-event rules, as pure functions: names, identifiers, timestamps, values."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from typing import Any

from tally.errors import invalid, missing

MAX_NAME = 100
MAX_IDENTIFIER = 100
MAX_PAYLOAD_KEYS = 50
MAX_PAYLOAD_KEY = 100
MAX_PAYLOAD_VALUE = 500
PAST_WINDOW = 35 * 86400
FUTURE_WINDOW = 5 * 60
MAX_ABS_VALUE = 10**15
_WHOLE = re.compile(r"-?[0-9]{1,16}")


_DERIVED = uuid.UUID("5d1c7a52-5b0e-4a4e-9a43-7d6f0b1c2e31")  # namespace of derived identifiers


def identifier_or_new(identifier: str | None) -> str:
    return identifier if identifier else str(uuid.uuid4())


def request_seed(path: str, idempotency_key: str | None, params: Any) -> str:
    """What makes a request "the same request" again: its path, its Idempotency-Key (if any) and
    a digest of its canonical parameters. A retry (same key, same body) has the same seed; the
    same key with another body, or another key, has another."""
    canonical = json.dumps(
        {"path": path, "key": idempotency_key, "params": params},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def request_tag(path: str, idempotency_key: str, params: Any) -> str:
    """What a v1 event sent with an Idempotency-Key keeps of its request, on its own item:
    "<digest of the key>:<digest of path and parameters>" (16 hex digits each)."""
    key = hashlib.sha256(idempotency_key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{key}:{request_seed(path, None, params)[:16]}"


def same_key(tag: str | None, other: str | None) -> bool:
    """Whether two request tags (`request_tag`) name the same Idempotency-Key."""
    return tag is not None and other is not None and tag.split(":", 1)[0] == other.split(":", 1)[0]


def identifier_for(identifier: str | None, account: str, seed: str | None, index: int) -> str:
    """The event's identifier: the one sent; else derived from (account, request seed, index in
    the request), so a retried request names the same events again; else (no seed) a new uuid4."""
    if identifier:
        return identifier
    if seed is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_DERIVED, f"{account}\n{seed}\n{index}"))


def check_timestamp(ts: int, now: int, param: str) -> int:
    """Raise unless `ts` is within the past 35 days and at most 5 minutes ahead."""
    if ts < now - PAST_WINDOW:
        raise invalid(
            param, f"{param} {ts} is more than 35 days in the past.", code="timestamp_too_far_in_past"
        )
    if ts > now + FUTURE_WINDOW:
        raise invalid(
            param, f"{param} {ts} is more than 5 minutes in the future.", code="timestamp_in_future"
        )
    return ts


def parse_rfc3339(text: Any, param: str) -> int:
    if not isinstance(text, str):
        raise invalid(param, f"{param} must be an RFC 3339 timestamp string.")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(
            param, f"{param} must be an RFC 3339 timestamp, e.g. 2024-06-01T12:00:00.000Z."
        ) from None
    if moment.tzinfo is None:
        raise invalid(param, f"{param} must include a time zone (e.g. Z).")
    return int(moment.timestamp())


def check_payload(payload: Any, param: str) -> dict[str, str]:
    if not isinstance(payload, dict) or not payload:
        raise missing(param) if not payload else invalid(param, f"{param} must be a hash of strings.")
    if len(payload) > MAX_PAYLOAD_KEYS:
        raise invalid(param, f"{param} may have at most {MAX_PAYLOAD_KEYS} keys.")
    out = {}
    for key, value in payload.items():
        if not key or len(key) > MAX_PAYLOAD_KEY:
            raise invalid(f"{param}[{key}]", f"Payload keys must be 1–{MAX_PAYLOAD_KEY} characters.")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise invalid(f"{param}[{key}]", f"{param}[{key}] must be a string.")
        text = str(value)
        if len(text) > MAX_PAYLOAD_VALUE:
            raise invalid(
                f"{param}[{key}]", f"Payload values must be at most {MAX_PAYLOAD_VALUE} characters."
            )
        out[key] = text
    return out


def whole_number(text: str | None, param: str) -> int:
    """The event's value: a whole number as a string (negative allowed), |value| ≤ 10^15."""
    if text is None:
        raise missing(param)
    if not _WHOLE.fullmatch(text.strip()) or abs(int(text)) > MAX_ABS_VALUE:
        raise invalid(
            param,
            f"{param} must be a whole number between -10^15 and 10^15, got {text!r}.",
            code="meter_event_invalid_value",
        )
    return int(text)
