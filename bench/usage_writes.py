"""Write units per event of the usage store alone, in the bench's ingestion shapes.

`python -m bench.usage_writes` (about a minute): moto in-process with the local runtime's
transaction patch, tables from template.yaml, `usage.record` called as the ingest path calls it
(one call per request), `usage.STATS.write_units` divided by the events. Used for
docs/PERFORMANCE.md, "Boundaries inside a minute"; run it on an older checkout (PYTHONPATH set to
its `layers/tally`) for the "before" column.
"""

from __future__ import annotations

import random
import time


def main() -> None:
    from moto import mock_aws

    with mock_aws():
        from tally_local import aws, moto_patch
        from tally_local.template import load

        moto_patch.install()
        template = load()
        names = aws.table_names(template, prefix="bench-usage-")
        aws.configure_environment(template, None, names)
        from tally.store.aws import dynamodb

        aws.create_tables(template, names, dynamodb())
        from tally.domain.aggregation import HOUR, Formula
        from tally.domain.records import MeterEvent
        from tally.store import usage

        rng = random.Random(7)
        now = int(time.time())
        hour = now - now % HOUR
        customers = [f"cus_{i}" for i in range(4)]
        seq = [0]

        def event(customer: str, ts: int) -> MeterEvent:
            seq[0] += 1
            value = rng.randint(1, 500)
            return MeterEvent(f"i{seq[0]}", "e", "mtr", customer, value, ts, {"value": str(value)}, now)

        def batch(hours: list[int]) -> list[MeterEvent]:
            """The bench's v2 batch: 100 events, customers round-robin, stamps random in their hour."""
            out = []
            for i in range(100):
                start = hours[i % len(hours)]
                customer = customers[(i // len(hours)) % len(customers)]
                out.append(event(customer, rng.randint(start, min(start + HOUR - 1, now))))
            return out

        def shape(label: str, requests: list[list[MeterEvent]], figures: bool = False) -> None:
            usage.STATS.reset()
            for events in requests:
                usage.record("acct_bench", Formula.SUM, 1, events, now=now, figures=figures)
            n = sum(len(r) for r in requests)
            per_request = usage.STATS.requests / len(requests)
            print(f"{label}: {usage.STATS.write_units / n:.2f} WRU/event, {per_request:.1f} tx/request")

        shape("v1 single event", [[event(customers[i % 4], now - i)] for i in range(100)])
        shape("v2 batch of 100, 4 customers, current hour", [batch([hour]) for _ in range(10)])
        shape(
            "v2 batch of 100, 4 customers, 6 hours",
            [batch([hour - k * HOUR for k in range(6)]) for _ in range(10)],
        )
        flush = [[event(customers[i % 4], now - rng.randint(0, 59)) for i in range(100)] for _ in range(10)]
        shape("v2 batch of 100, 4 customers, last 60 s", flush)
        # A meter with usage alerts (issue 15 point 3): each transaction also keeps the running
        # figure of each customer it holds (one more update per customer and transaction).
        shape(
            "v1 single event, meter with alerts",
            [[event(customers[i % 4], now - i)] for i in range(100)],
            True,
        )
        shape(
            "v2 batch of 100, 4 customers, current hour, meter with alerts",
            [batch([hour]) for _ in range(10)],
            True,
        )
        # A meter with dimensions (issue 14, point 1): each event's segment buckets too (segments
        # already registered: registration is a separate, once-per-segment transaction).
        from dataclasses import replace

        def segmented(events: list[MeterEvent], k: int) -> list[MeterEvent]:
            return [replace(e, segment=f"seg{i % k}") for i, e in enumerate(events)]

        shape(
            "v1 single event, meter with dimensions",
            [segmented([event(customers[i % 4], now - i)], 1) for i in range(100)],
        )
        shape(
            "v2 batch of 100, 4 customers, current hour, 2 segments",
            [segmented(batch([hour]), 2) for _ in range(10)],
        )
        print(f"(minute of the hour: {(now % HOUR) // 60})")


if __name__ == "__main__":
    main()
