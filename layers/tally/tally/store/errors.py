"""The one translator from DynamoDB error codes to Tally errors, for every store module.

By error code, never by message text. botocore's `ClientError` (the usage store's low-level
client) and PynamoDB's exceptions (the object store) carry the same codes in different places;
`code_of` and `cancellation_codes` read both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tally.errors import Conflict, RateLimited, StripeError

THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    }
)
# Worth retrying at once inside a request: the store was busy, nothing was written.
TRANSIENT = THROTTLED | {"TransactionInProgressException", "InternalServerError"}
CANCELLED = "TransactionCanceledException"
CONDITION_FAILED = "ConditionalCheckFailed"
# A BatchExecuteStatement statement's own error codes (BatchStatementErrorCodeEnum): its key was
# taken (an INSERT's `DuplicateItem`, a condition), or the store was busy — retry that statement.
STATEMENT_TAKEN = frozenset({"DuplicateItem", CONDITION_FAILED})
STATEMENT_BUSY = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded", "InternalServerError",
     "TransactionConflict"}
)  # fmt: skip
_CONFLICTING_REASONS = frozenset({"ThrottlingError", "TransactionConflict"})


def code_of(exc: BaseException) -> str | None:
    """The DynamoDB error code of a botocore or PynamoDB exception (None if it has none)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    code = getattr(exc, "cause_response_code", None)
    return code if isinstance(code, str) else None


def cancellation_codes(exc: BaseException) -> list[str | None]:
    """Per-action reason codes of a cancelled transaction, in action order ([] if not one)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return [r.get("Code") for r in response.get("CancellationReasons") or []]
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return [r.code if r is not None else None for r in reasons]


def translate(
    exc: BaseException, claim_errors: Sequence[StripeError | None] = (), *, transaction: bool = False
) -> Exception:
    """The Tally error for a failed read or write; `exc` itself when it is not a known case.

    `claim_errors[i]` is the error to raise when the transaction's i-th action (a uniqueness
    claim, an existence check, a counter guard) failed its condition (None: a plain race), in
    the order the actions were sent. A busy store answers 409 inside a transaction (the SDKs
    retry it) and 429 elsewhere. Use as `raise translate(exc, ...) from exc`.
    """
    reasons = cancellation_codes(exc)
    for i, reason in enumerate(reasons):
        if reason == CONDITION_FAILED and i < len(claim_errors) and (error := claim_errors[i]) is not None:
            return error
    code = code_of(exc)
    if transaction:
        if code in THROTTLED or any(r in _CONFLICTING_REASONS for r in reasons):
            return Conflict("Another request changed this object at the same time; retry.")
        if CONDITION_FAILED in reasons:
            return Conflict("This object was changed by another request; retry.")
    if code in THROTTLED:
        return RateLimited()
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def raise_translated(
    exc: BaseException, claim_errors: Sequence[StripeError | None] = (), *, transaction: bool = False
) -> Any:
    raise translate(exc, claim_errors, transaction=transaction) from exc
