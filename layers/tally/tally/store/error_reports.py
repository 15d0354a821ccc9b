"""Meter error reports in the event log: one item per (account, meter or event name, minute).

The report is an event-log item (`kind = event`, listed by `by_type` like every event) whose
counts are top-level numbers (`c_<code>`) updated with atomic ADDs, so concurrent requests count
exactly. Its `body` (the Stripe event the log lists) is re-built from the counts after each update
and written only if it holds more errors than the body standing (`bv` = its total; counts only
grow), so a slower writer never puts back an older body.

A request counts its rejections once per report target, whatever the minute of its retry: the
ADD travels in one transaction with a marker `acct#mevrej#<digest of request seed, target>`
(conditional Put, kept 24 h like Idempotency-Key results). A retried request finds its marker,
counts nothing, and only re-publishes the body.

Crash points of `record` (per target): (1) the transaction (marker + counts) — all or nothing;
(2) the samples append — a crash after (1) leaves the report without this request's samples
(counts are exact; samples are samples); (3) the body publish (`publish`) — a retry re-publishes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from tally.clock import Clock
from tally.domain.meter_error_reports import ERROR_REPORT, MAX_SAMPLES, NO_METER_FOUND, ErrorReport, Rejection
from tally.settings import settings
from tally.store import errors, event_log, filters
from tally.store.aws import dynamodb
from tally.store.models import OBJECT_SK, ObjectItem

MARKER_SECONDS = 24 * 3600
_COUNT = "c_"


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).digest()


def report_id(account: str, target: str, window_start: int) -> str:
    """The report's event id: the same for every writer of one (account, target, minute)."""
    text = base64.b32encode(_digest(account, target, str(window_start))).decode().rstrip("=").lower()
    return f"evt_{text[:24]}"


def _marker_key(account: str, seed: str, target: str) -> dict[str, Any]:
    digest = _digest(seed, target).hex()[:40]
    return {"pk": {"S": f"{account}#mevrej#{digest}"}, "sk": {"S": OBJECT_SK}}


def _report_key(account: str, evt_id: str) -> dict[str, Any]:
    return {"pk": {"S": ObjectItem.object_key(account, evt_id)}, "sk": {"S": OBJECT_SK}}


def transact(actions: list[dict[str, Any]]) -> bool:
    """Run the marker + counts transaction; False when the marker already stands (counted)."""
    from botocore.exceptions import ClientError

    try:
        dynamodb().transact_write_items(TransactItems=actions)
    except ClientError as exc:
        reasons = errors.cancellation_codes(exc)
        if errors.code_of(exc) == errors.CANCELLED and reasons and reasons[0] == errors.CONDITION_FAILED:
            return False
        raise errors.translate(exc, transaction=True) from exc
    return True


def append_samples(key: dict[str, Any], samples: list[str]) -> None:
    """Append samples unless the report already holds MAX_SAMPLES (best effort, bounded)."""
    from botocore.exceptions import ClientError

    try:
        dynamodb().update_item(
            TableName=settings().objects_table,
            Key=key,
            UpdateExpression="SET s = list_append(if_not_exists(s, :empty), :new)",
            ConditionExpression="attribute_not_exists(s) OR size(s) < :max",
            ExpressionAttributeValues={
                ":empty": {"L": []},
                ":new": {"L": [{"S": s} for s in samples]},
                ":max": {"N": str(MAX_SAMPLES)},
            },
        )
    except ClientError as exc:
        if errors.code_of(exc) != "ConditionalCheckFailedException":
            raise errors.translate(exc) from exc


def record(
    account: str, seed: str, window_start: int, rejections: list[Rejection], clock: Clock
) -> ErrorReport:
    """Count `rejections` (all of one target) into their report, once per request `seed`, and
    return the report as it stands."""
    first = rejections[0]
    evt_id = report_id(account, first.target, window_start)
    key = _report_key(account, evt_id)
    counts: dict[str, int] = {}
    for r in rejections:
        counts[r.code] = counts.get(r.code, 0) + 1
    names = {"#n": "n"}
    values: dict[str, Any] = {
        ":n": {"N": str(len(rejections))},
        ":kind": {"S": event_log.KIND},
        ":lpk": {"S": ObjectItem.list_key(account, event_log.KIND)},
        ":lsk": {"S": ObjectItem.list_sort(event_log.sort_stamp(clock), evt_id)},
        ":created": {"N": str(clock.now)},
        ":window": {"N": str(window_start)},
        ":expires": {"N": str(window_start + event_log.RETENTION_SECONDS)},
        ":meter": {"S": first.meter_id or ""},
        ":name": {"S": first.event_name or ""},
    }
    adds = ["#n :n"]
    for i, (code, n) in enumerate(sorted(counts.items())):
        names[f"#c{i}"] = _COUNT + code
        values[f":c{i}"] = {"N": str(n)}
        adds.append(f"#c{i} :c{i}")
    sets = ", ".join(
        f"{a} = if_not_exists({a}, :{v})"
        for a, v in (
            ("kind", "kind"),
            ("lpk", "lpk"),
            ("lsk", "lsk"),
            ("created", "created"),
            ("win", "window"),
            ("expires", "expires"),
            ("meter", "meter"),
            ("event_name", "name"),
        )
    )
    table = settings().objects_table
    marker = {
        "Put": {
            "TableName": table,
            "Item": {
                **_marker_key(account, seed, first.target),
                "expires": {"N": str(clock.now + MARKER_SECONDS)},
            },
            "ConditionExpression": "attribute_not_exists(pk) OR expires < :now",
            "ExpressionAttributeValues": {":now": {"N": str(clock.now)}},
        }
    }
    update = {
        "Update": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": f"SET {sets} ADD {', '.join(adds)}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }
    # The report is listed by type like every event: its filter entries (`tally.store.filters`)
    # travel with the counts and take the report's first sort key, as its `lsk` does.
    event_type = ERROR_REPORT if first.meter_id else NO_METER_FOUND
    entries = [
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": key["pk"]["S"]}, "sk": {"S": ObjectItem.field_sort(field, value)}},
                "UpdateExpression": "SET xpk = :xpk, xsk = if_not_exists(xsk, :lsk), expires = :expires",
                "ExpressionAttributeValues": {
                    ":xpk": {"S": ObjectItem.field_key(account, event_log.KIND, field, value)},
                    ":lsk": values[":lsk"],
                    ":expires": values[":expires"],
                },
            }
        }
        for field, value in sorted(filters.of_event_type(event_type))
    ]
    if transact([marker, update, *entries]):
        samples = [json.dumps([r.code, r.message, r.identifier]) for r in rejections[:MAX_SAMPLES]]
        append_samples(key, samples)
    return _load(key)


def _load(key: dict[str, Any]) -> ErrorReport:
    item = dynamodb().get_item(TableName=settings().objects_table, Key=key, ConsistentRead=True)["Item"]
    counts = {k[len(_COUNT) :]: int(v["N"]) for k, v in item.items() if k.startswith(_COUNT)}
    samples = [tuple(json.loads(s["S"])) for s in item.get("s", {}).get("L", [])]
    return ErrorReport(
        id=item["pk"]["S"].split("#", 1)[1],
        meter_id=item["meter"]["S"] or None,
        event_name=item["event_name"]["S"] or None,
        window_start=int(item["win"]["N"]),
        created=int(item["created"]["N"]),
        counts=counts,
        samples=samples,  # type: ignore[arg-type]
    )


def publish(account: str, report: ErrorReport, body: dict[str, Any]) -> None:
    """Write the report's event body unless one with at least as many errors already stands."""
    from botocore.exceptions import ClientError

    try:
        dynamodb().update_item(
            TableName=settings().objects_table,
            Key=_report_key(account, report.id),
            UpdateExpression="SET body = :b, bv = :t",
            ConditionExpression="attribute_not_exists(bv) OR bv < :t",
            ExpressionAttributeValues={
                ":b": {"S": json.dumps(body, separators=(",", ":"))},
                ":t": {"N": str(report.total)},
            },
        )
    except ClientError as exc:
        if errors.code_of(exc) != "ConditionalCheckFailedException":
            raise errors.translate(exc) from exc
