"""Idempotency-Key handling on Powertools idempotency with DynamoDB.

The record key starts with the account id (`acct_…#idempotency#<hash of the key>`); the payload
fingerprint (method, path, params) is validated on replay. Results are kept 24 h. A handler that
raises (any 4xx/5xx) leaves no record, so a corrected or retried request runs again; only
successful results are replayed (see docs/API.md for why this differs from Stripe's 500 replay).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from tally.errors import Conflict, IdempotencyError
from tally.settings import settings
from tally.store.aws import dynamodb

TTL_SECONDS = 24 * 3600


def run(
    *, account: str, key: str, fingerprint: dict[str, Any], call: Callable[[], dict[str, Any]], context: Any
) -> tuple[dict[str, Any], bool]:
    """Run `call` once per (account, key); returns (result, replayed)."""
    replayed = False

    def on_replay(result: Any, record: Any) -> Any:
        nonlocal replayed
        replayed = True
        return result

    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="fingerprint",
        expires_after_seconds=TTL_SECONDS,
        raise_on_no_idempotency_key=True,
        response_hook=on_replay,  # type: ignore[arg-type]
    )
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)
    # A fresh persistence layer per call: Powertools configures it per decorated function, and a
    # shared one would race between concurrent requests of different accounts.
    store = DynamoDBPersistenceLayer(table_name=settings().idempotency_table, boto3_client=dynamodb())

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=store,
        config=config,
        key_prefix=f"{account}#idempotency",
    )
    def once(request: dict[str, Any]) -> dict[str, Any]:
        return call()

    try:
        result = once(request={"key": key, "fingerprint": fingerprint})
    except IdempotencyValidationError as exc:
        raise IdempotencyError(
            f"Keys for idempotent requests can only be used with the same parameters they were first used "
            f"with. Try using a key other than '{key}' if you meant to execute a different request.",
            code="idempotency_key_reused",
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict(
            "There is currently another in-progress request using this Idempotency-Key; retry later.",
            code="idempotency_key_in_use",
        ) from exc
    return result, replayed
