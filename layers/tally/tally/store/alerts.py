"""Alert watch lists (what ingestion evaluates) and trigger claims (what fired).

Watch lists (body: `{"alerts": [Alert records], "customer_alerts": n}`, `version`), written in the
transaction of the alert change that alters them (`changes.Side`, version-checked):

  every customer  pk = acct#unique#meter_event_name#<event name>  sk = alerts#<meter id>
                  (beside the meter's event-name claim: ingestion reads both in one Query,
                  `meter_names.watched`); `customer_alerts` counts the meter's active alerts on
                  single customers, so a meter without any never reads a per-customer list
  one customer    pk = acct#<meter id>  sk = alerts#<customer id>

Only active alerts are listed, at most 25 per list (`domain.alerts.MAX_PER_METER_AND_CUSTOMER`).

An evaluation reads the customer's own list with its running usage figure and its subscription
periods (`store.subscription_periods`) in ONE BatchGetItem (`evaluation_state`).

Trigger claims: `acct#unique#alert_trigger#<alert>#<customer>#<once | period start | nosub>`,
Put only if absent in ONE transaction with the `billing.alert.triggered` event
(`transactions.claim_with_event`): of any number of concurrent evaluations exactly one records it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import GetError, PutError

from tally.clock import Clock
from tally.domain.alerts import Watch
from tally.domain.records import Alert, Meter
from tally.errors import Conflict
from tally.store import codec, meter_names, objects, recent, subscription_periods, transactions
from tally.store.changes import Side
from tally.store.errors import code_of, raise_translated
from tally.store.models import ObjectItem, bind
from tally.store.usage import figures
from tally.store.usage.figures import Figure

TRIGGER = "alert_trigger"
EVENT_TYPE = "billing.alert.triggered"


def _read(pk: str, sk: str) -> Watch:
    bind()
    try:
        item = ObjectItem.get(pk, sk, consistent_read=True)
    except ObjectItem.DoesNotExist:
        return Watch()
    except GetError as exc:
        raise_translated(exc)
    return meter_names.watch_of(item)


def customer_key(account: str, meter_id: str, customer: str) -> tuple[str, str]:
    return ObjectItem.object_key(account, meter_id), ObjectItem.watch_sk(customer)


def meter_watch(account: str, meter: Meter) -> tuple[tuple[str, str], Watch]:
    """The key and content of the meter's list of alerts on every customer (one GetItem)."""
    key = meter_names.watch_key(account, meter)
    return key, _read(*key)


def customer_watch(account: str, meter_id: str, customer: str) -> tuple[tuple[str, str], Watch]:
    """The key and content of one customer's list of alerts on the meter (one GetItem)."""
    key = customer_key(account, meter_id, customer)
    return key, _read(*key)


def side(key: tuple[str, str], before: Watch, after: Watch) -> Side:
    """The write of `after` in place of `before` (read at `before.version`) in a change's
    transaction."""
    item = ObjectItem(pk=key[0], sk=key[1], kind="alert_watch", version=before.version + 1)
    plain = codec.to_plain(after)
    plain.pop("version", None)
    item.body = json.dumps(plain, separators=(",", ":"), ensure_ascii=False)
    return Side(item, before.version)


def fired(account: str, values: Iterable[str]) -> set[str]:
    """Which trigger-claim values are taken (one BatchGetItem for up to 100)."""
    wanted = list(dict.fromkeys(values))
    out: set[str] = set()
    for i in range(0, len(wanted), 100):
        out |= objects.claimed(account, TRIGGER, wanted[i : i + 100])
    return out


def trigger(account: str, alert: Alert, value_key: str, event_object: dict[str, Any], clock: Clock) -> bool:
    """Record an alert's trigger (claim `value_key`) with its event (`data.object` =
    `event_object`), unless it is already recorded; True when this call recorded it."""
    return transactions.claim_with_event(
        account, TRIGGER, value_key, alert.id, EVENT_TYPE, event_object, clock
    )


def keep_figures(account: str, meter: Meter, now: int) -> int:
    """Switch on the meter's running usage figures (`Watch.figures_since` = `now`) unless they
    are on; returns `figures_since`. One conditional Put of the meter-wide watch list (version
    as read; retried on a concurrent change of the list)."""
    from dataclasses import replace

    for _ in range(4):
        key, watch = meter_watch(account, meter)
        if watch.figures:
            return watch.figures_since
        put = side(key, watch, replace(watch, figures_since=now))
        condition = (
            ObjectItem.version == put.version if put.version else ObjectItem.pk.does_not_exist()  # type: ignore[attr-defined]
        )
        try:
            put.item.save(condition=condition)
            recent.forget(account)  # this process's ingest sees the switch at once
            return now
        except PutError as exc:
            if code_of(exc) != "ConditionalCheckFailedException":
                raise_translated(exc)
    raise Conflict("The meter's alerts were changing at the same time; retry.")


@dataclass(frozen=True)
class State:
    """What one evaluation of a (meter, customer) reads, all in ONE request (`evaluation_state`)."""

    figure: Figure  # the running usage figure (empty when absent)
    own: Watch | None  # the customer's own alerts on the meter (None: not read)
    running: tuple[subscription_periods.Running, ...] | None  # its subscriptions (None: unknown)


def evaluation_state(account: str, meter_id: str, customer: str, own: bool) -> State:
    """The customer's running figure on the meter, its subscriptions' period rules and (with
    `own`) its own watch list: ONE BatchGetItem across the usage and objects tables, consistent
    (issue 15, point 3: an evaluation's one read)."""
    from tally.settings import settings
    from tally.store.aws import dynamodb
    from tally.store.usage import STATS

    s = settings()
    periods_key = subscription_periods.key(account, customer)
    watch_key = customer_key(account, meter_id, customer)
    object_keys = [periods_key, *([watch_key] if own else [])]
    wanted: dict[str, Any] = {
        s.usage_table: {"Keys": [figures.key(account, meter_id, customer)], "ConsistentRead": True},
        s.objects_table: {
            "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in object_keys],
            "ConsistentRead": True,
        },
    }
    found: dict[str, list[dict[str, Any]]] = {s.usage_table: [], s.objects_table: []}
    for attempt in range(8):
        STATS.requests += 1
        resp = dynamodb().batch_get_item(RequestItems=wanted)
        for table, items in resp.get("Responses", {}).items():
            found[table].extend(items)
        wanted = resp.get("UnprocessedKeys") or {}
        if not wanted:
            break
        time.sleep(min(0.5, 0.01 * 2**attempt))  # throttled: back off, not billing time
    else:
        raise Conflict("The store is busy right now; retry the request (it is safe to retry).")
    figure_items = found[s.usage_table]
    STATS.items_read += len(figure_items)
    STATS.read_units += 1
    objects_by_key = {
        (i["pk"]["S"], i["sk"]["S"]): ObjectItem.from_raw_data(i) for i in found[s.objects_table]
    }
    running = subscription_periods.decode(objects_by_key.get(periods_key))
    return State(
        figure=figures.parse(figure_items[0] if figure_items else None),
        own=meter_names.watch_of(objects_by_key.get(watch_key)) if own else None,
        running=None if running is None else running[0],
    )
