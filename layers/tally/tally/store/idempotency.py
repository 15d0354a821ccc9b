"""Idempotency-Key handling on Powertools idempotency with DynamoDB.

The record key starts with the account id (`acct_…#idempotency#<hash of the key>`); the payload
fingerprint (method, path, params) is validated on replay. Results are kept 24 h. A handler that
raises (any 4xx/5xx) leaves no record, so a corrected or retried request runs again; only
successful results are replayed (see docs/API.md for why this differs from Stripe's 500 replay).
"""

from __future__ import annotations

import logging
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
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from botocore.exceptions import ClientError

from tally.errors import Conflict, IdempotencyError
from tally.settings import settings
from tally.store import bodies
from tally.store.aws import dynamodb

TTL_SECONDS = 24 * 3600
logger = logging.getLogger(__name__)
PACKED_ATTR = "zdata"  # the saved answer, zlib-compressed, when it is large
SAVE_BUDGET = bodies.MAX_ITEM_BYTES - 4 * 1024  # room for the key, status, hash and expiries


class SizedPersistenceLayer(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB layer, sized for DynamoDB's 400 KB items.

    A large answer is saved zlib-compressed in `zdata` (Binary). One that still does not fit is
    not saved: the in-progress record is deleted, so the same key simply runs the request again
    (never a stuck 409, never a 500) — safe because writes are exactly-once by their own
    conditions (meter event identifiers, ids), and documented in docs/API.md.
    """

    def _update_record(self, data_record: DataRecord) -> None:
        raw = (data_record.response_data or "").encode("utf-8")
        if len(raw) <= bodies.COMPRESS_OVER:
            return super()._update_record(data_record)
        _, packed = bodies.pack(data_record.response_data or "")
        assert packed is not None
        if len(packed) > SAVE_BUDGET:
            self._forget(data_record, len(packed))
            return None
        values: dict[str, Any] = {
            ":expiry": {"N": str(data_record.expiry_timestamp)},
            ":packed": {"B": packed},
            ":status": {"S": data_record.status},
        }
        names = {"#expiry": self.expiry_attr, "#packed": PACKED_ATTR, "#status": self.status_attr}
        update = "SET #packed = :packed, #expiry = :expiry, #status = :status"
        if self.payload_validation_enabled:
            update += ", #validation_key = :validation_key"
            values[":validation_key"] = {"S": data_record.payload_hash}
            names["#validation_key"] = self.validation_key_attr
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._get_key(data_record.idempotency_key),
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            self._forget(data_record, len(packed))
        return None

    def _forget(self, data_record: DataRecord, size: int) -> None:
        logger.warning("idempotent answer of %d bytes (compressed) too large to save; the key re-runs", size)
        self._delete_record(data_record)

    def _item_to_data_record(self, item: dict[str, Any]) -> DataRecord:
        record = super()._item_to_data_record(item)
        packed = item.get(PACKED_ATTR)
        if packed is not None:
            record.response_data = bodies.unpack(None, bytes(packed["B"]))
        return record


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
    store = SizedPersistenceLayer(table_name=settings().idempotency_table, boto3_client=dynamodb())

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
