"""Webhook endpoints, their signing secrets, health and delivery attempts (objects table).

Items, all under the endpoint's key `<account>#we_…` (every key starts with the account id):

| sk | what | written by |
|---|---|---|
| `obj` | the `WebhookEndpoint` record (`by_type`: `<account>#webhook_endpoint`) | API; worker (disable) |
| `secret` | the signing secret `whsec_…` (`owner` attribute) | API (create), read by the worker |
| `health` | `failing_since`: first failed attempt since the last success | the worker |
| `attempt#wha_<ms>…` | one delivery attempt (JSON body), kept 30 days (`expires`) | the worker |

The secret lives in its own item so no read of the record (retrieve, list, the by_type index)
ever carries it: only `secret_of` reads it, and only the worker calls that. DynamoDB encrypts it
at rest (SSE) like every item; it is never logged nor returned after create.

Endpoints are not billing objects and write no event (Stripe emits none for them). A create or a
delete is one transaction (record + secret), so neither exists without the other.
"""

from __future__ import annotations

from typing import Any

from tally.clock import Clock
from tally.domain.listing import Page
from tally.domain.webhooks import MAX_ENDPOINTS, Attempt, WebhookEndpoint
from tally.errors import Conflict
from tally.settings import settings
from tally.store import codec, errors
from tally.store.aws import dynamodb
from tally.store.changes import Stored
from tally.store.models import OBJECT_SK, ObjectItem
from tally.store.objects import load

KIND = WebhookEndpoint.OBJECT
SECRET_SK = "secret"
HEALTH_SK = "health"
ATTEMPT_SK = "attempt#"
ATTEMPT_RETENTION = 30 * 86400
LABEL = "webhook_endpoint"


def _table() -> str:
    return settings().objects_table


def _key(account: str, endpoint_id: str, sk: str = OBJECT_SK) -> dict[str, Any]:
    return {"pk": {"S": ObjectItem.object_key(account, endpoint_id)}, "sk": {"S": sk}}


def _record_item(account: str, endpoint: WebhookEndpoint, created_ms: int, version: int) -> dict[str, Any]:
    return {
        **_key(account, endpoint.id),
        "lpk": {"S": ObjectItem.list_key(account, KIND)},
        "lsk": {"S": ObjectItem.list_sort(created_ms, endpoint.id)},
        "kind": {"S": KIND},
        "body": {"S": codec.dumps(endpoint)},
        "version": {"N": str(version)},
    }


def _fail(exc: Exception, conflict: str) -> Any:
    code = errors.code_of(exc)
    reasons = errors.cancellation_codes(exc)
    if code == "ConditionalCheckFailedException" or errors.CONDITION_FAILED in reasons:
        raise Conflict(conflict) from exc
    raise errors.translate(exc, transaction=bool(reasons)) from exc


# -- endpoints ------------------------------------------------------------------------------------
def create(account: str, endpoint: WebhookEndpoint, secret: str, clock: Clock) -> None:
    """The record and its secret, in one transaction."""
    from botocore.exceptions import ClientError

    absent = "attribute_not_exists(pk)"
    try:
        dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": _table(),
                        "Item": _record_item(account, endpoint, clock.millis, 1),
                        "ConditionExpression": absent,
                    }
                },
                {
                    "Put": {
                        "TableName": _table(),
                        "Item": {**_key(account, endpoint.id, SECRET_SK), "owner": {"S": secret}},
                        "ConditionExpression": absent,
                    }
                },
            ]
        )
    except ClientError as exc:
        _fail(exc, "A webhook endpoint with this id exists; retry.")


def get(account: str, endpoint_id: str, clock: Clock) -> Stored[WebhookEndpoint]:
    """The endpoint; NotFound (404) when absent (or of another account)."""
    return load(account, endpoint_id, WebhookEndpoint, clock, label=LABEL)


def replace(account: str, stored: Stored[WebhookEndpoint], after: WebhookEndpoint) -> None:
    """Write `after` over the record if nobody changed it since `stored` was read (else 409)."""
    from botocore.exceptions import ClientError

    try:
        dynamodb().put_item(
            TableName=_table(),
            Item=_record_item(account, after, stored.created_ms, stored.version + 1),
            ConditionExpression="version = :v",
            ExpressionAttributeValues={":v": {"N": str(stored.version)}},
        )
    except ClientError as exc:
        _fail(exc, "This webhook endpoint was changed by another request; retry.")


def delete(account: str, stored: Stored[WebhookEndpoint]) -> None:
    """The record, its secret and its health, in one transaction (attempts expire on their own)."""
    from botocore.exceptions import ClientError

    try:
        dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": _table(),
                        "Key": _key(account, stored.record.id),
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": {"N": str(stored.version)}},
                    }
                },
                {"Delete": {"TableName": _table(), "Key": _key(account, stored.record.id, SECRET_SK)}},
                {"Delete": {"TableName": _table(), "Key": _key(account, stored.record.id, HEALTH_SK)}},
            ]
        )
    except ClientError as exc:
        _fail(exc, "This webhook endpoint was changed by another request; retry.")


def all_of(account: str) -> list[Stored[WebhookEndpoint]]:
    """Every endpoint of the account, newest first: one Query of its `by_type` partition (an
    account has at most MAX_ENDPOINTS; a page holds them all)."""
    from botocore.exceptions import ClientError

    out: list[Stored[WebhookEndpoint]] = []
    start: dict[str, Any] | None = None
    while True:
        args: dict[str, Any] = {
            "TableName": _table(),
            "IndexName": "by_type",
            "KeyConditionExpression": "lpk = :p",
            "ExpressionAttributeValues": {":p": {"S": ObjectItem.list_key(account, KIND)}},
            "ScanIndexForward": False,
            "Limit": MAX_ENDPOINTS + 1,
        }
        if start:
            args["ExclusiveStartKey"] = start
        try:
            answer = dynamodb().query(**args)
        except ClientError as exc:
            raise errors.translate(exc) from exc
        for item in answer.get("Items", []):
            created_ms = int(item["lsk"]["S"].split("#")[0])
            record = codec.loads(WebhookEndpoint, item["body"]["S"])
            out.append(Stored(record, int(item["version"]["N"]), created_ms))
        start = answer.get("LastEvaluatedKey")
        if not start:
            return out


def secret_of(account: str, endpoint_id: str) -> str | None:
    """The endpoint's signing secret (None once the endpoint is deleted)."""
    from botocore.exceptions import ClientError

    try:
        item = (
            dynamodb()
            .get_item(TableName=_table(), Key=_key(account, endpoint_id, SECRET_SK), ConsistentRead=True)
            .get("Item")
        )
    except ClientError as exc:
        raise errors.translate(exc) from exc
    return item["owner"]["S"] if item else None


# -- health ---------------------------------------------------------------------------------------
def failed(account: str, endpoint_id: str, at: int) -> int:
    """Note a failed attempt at `at`; returns since when the endpoint has been failing (the
    first failure after its last success), in one conditional-free UpdateItem."""
    from botocore.exceptions import ClientError

    try:
        answer = dynamodb().update_item(
            TableName=_table(),
            Key=_key(account, endpoint_id, HEALTH_SK),
            UpdateExpression="SET failing_since = if_not_exists(failing_since, :at)",
            ExpressionAttributeValues={":at": {"N": str(at)}},
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        raise errors.translate(exc) from exc
    return int(answer["Attributes"]["failing_since"]["N"])


def succeeded(account: str, endpoint_id: str) -> None:
    """A delivery went through (or its owner re-enabled it): the endpoint is healthy again."""
    from botocore.exceptions import ClientError

    try:
        dynamodb().delete_item(TableName=_table(), Key=_key(account, endpoint_id, HEALTH_SK))
    except ClientError as exc:
        raise errors.translate(exc) from exc


# -- attempts -------------------------------------------------------------------------------------
def record_attempt(account: str, attempt: Attempt) -> None:
    from botocore.exceptions import ClientError

    try:
        dynamodb().put_item(
            TableName=_table(),
            Item={
                **_key(account, attempt.endpoint, ATTEMPT_SK + attempt.id),
                "kind": {"S": Attempt.OBJECT},
                "body": {"S": codec.dumps(attempt)},
                "expires": {"N": str(attempt.created + ATTEMPT_RETENTION)},
            },
        )
    except ClientError as exc:
        raise errors.translate(exc) from exc


def attempts(
    account: str,
    endpoint_id: str,
    clock: Clock,
    *,
    limit: int,
    starting_after: str | None = None,
    ending_before: str | None = None,
) -> Page[Attempt]:
    """A page of the endpoint's attempts, newest first (attempt ids sort by time: `wha_<ms>…`);
    a cursor is an attempt id. Attempts past their retention read as gone."""
    from botocore.exceptions import ClientError

    values: dict[str, Any] = {":p": _key(account, endpoint_id)["pk"], ":lo": {"S": ATTEMPT_SK}}
    condition = "pk = :p AND sk BETWEEN :lo AND :hi"
    values[":hi"] = {"S": ATTEMPT_SK + "\uffff"}
    forward = False
    if starting_after:
        values[":hi"] = {"S": ATTEMPT_SK + starting_after}
    elif ending_before:
        values[":lo"] = {"S": ATTEMPT_SK + ending_before + "\x00"}
        forward = True
    found: list[Attempt] = []
    start: dict[str, Any] | None = None
    while len(found) <= limit:
        args: dict[str, Any] = {
            "TableName": _table(),
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
            "Limit": limit + 1,
            "ConsistentRead": True,
        }
        if start:
            args["ExclusiveStartKey"] = start
        try:
            answer = dynamodb().query(**args)
        except ClientError as exc:
            raise errors.translate(exc) from exc
        for item in answer.get("Items", []):
            if starting_after and item["sk"]["S"] == ATTEMPT_SK + starting_after:
                continue  # BETWEEN is inclusive: the cursor itself is not on the page
            if int(item.get("expires", {}).get("N", "0")) <= clock.now:
                continue
            found.append(codec.loads(Attempt, item["body"]["S"]))
        start = answer.get("LastEvaluatedKey")
        if not start:
            break
    has_more = len(found) > limit
    page = found[:limit]
    if forward:
        page.reverse()
    return Page(page, has_more)
