"""Keys of the usage table's items (every key starts with the account id)."""

from __future__ import annotations

EVENT_SK = "e"
EVENT_KEEP_SECONDS = 35 * 86400  # dedupe covers the whole 35-day backdating window (≥ Stripe's 24 h)
# On an event item: its value was also added to its minute's per-second item (events written
# before second detail existed lack it, so cancelling them leaves that item alone).
SECONDS_MARK = "sec"
# On an event item of a meter with dimensions: its segment's digest (its usage is also in the
# segment's buckets, `UsageKeys.segment_bucket`, which a cancel corrects too).
SEGMENT_MARK = "seg"
# On an event item written by the asynchronous path (issue 15): its meter's formula ("sum",
# "count", "last"); the stream's aggregator adds exactly the events that carry it.
FORMULA_MARK = "fm"
# On an event item: its customer's running figure is kept (`store.usage.figures`).
FIGURES_MARK = "fg"


class UsageKeys:
    @staticmethod
    def event(account: str, identifier: str) -> str:
        return f"{account}#mev#{identifier}"

    @staticmethod
    def identifier(event_pk: str) -> str:
        """The identifier of an event item's key (the inverse of `event`)."""
        return event_pk.split("#mev#", 1)[1]

    @staticmethod
    def bucket(account: str, meter_id: str, customer: str, shard: int) -> str:
        return f"{account}#usage#{meter_id}#{customer}#{shard}"

    @staticmethod
    def segment_bucket(bucket_pk: str, segment: str) -> str:
        """A segment's buckets: beside the meter-level ones of the same shard (same item layout)."""
        return f"{bucket_pk}#g#{segment}"

    @staticmethod
    def segments(account: str, meter_id: str, customer: str) -> str:
        """The partition listing a customer's segments of a meter (`store.usage.segments`)."""
        return f"{account}#usageseg#{meter_id}#{customer}"

    @staticmethod
    def hour(hour_start: int) -> str:
        return f"h#{hour_start:011d}"

    @staticmethod
    def minute(minute_start: int) -> str:
        return f"m#{minute_start:011d}"

    @staticmethod
    def detail(hour_start: int) -> str:
        """The per-second detail of one hour of an additive meter (`sSSSS`, second of the hour),
        for its first `DETAIL_SECONDS` seconds with usage; later usage goes to `seconds` items."""
        return f"d#{hour_start:011d}"

    @staticmethod
    def seconds(minute_start: int) -> str:
        """The per-second detail of one minute (`sSS` totals, or `lSS` latest values of `last`)."""
        return f"s#{minute_start:011d}"


def event_key(account: str, identifier: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": UsageKeys.event(account, identifier)}, "sk": {"S": EVENT_SK}}
