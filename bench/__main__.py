"""`python -m bench` (`make bench`): run every stage, print a Markdown summary, write latest.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_BATCHED_WRU = 1.12  # issue 15 (was 2.1, issue 12)
TARGET_INGEST_IMPORT_MS = 150.0
STAGES = 12
TARGET_CLOSE_REQUESTS = 10


def say(line: str) -> None:
    print(line, flush=True)


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for dist in ("moto", "boto3", "botocore", "pynamodb", "aws-lambda-powertools"):
        try:
            out[dist] = version(dist)
        except Exception:
            out[dist] = "?"
    return out


def _ok(passed: bool) -> str:
    return "✅ met" if passed else "❌ missed"


def summary(r: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    cases = {c["case"]: c for c in r["write_units"]["cases"]}
    single = cases["v1 single event"]
    same = next(c for k, c in cases.items() if "same hour" in k and "Idempotency" not in k)
    spread = next(c for k, c in cases.items() if "spread" in k)
    idem_single = cases["v1 single event + Idempotency-Key"]
    idem_batch = next(c for k, c in cases.items() if k.startswith("v2") and "Idempotency" in k)
    rows += [
        ("WRU per event, v1 single (1 request = 1 event)", f"{single['wru_per_event']:.2f}", "—"),
        (
            "WRU per event, v2 batch of 100 (4 customers, same hour)",
            f"{same['wru_per_event']:.2f}",
            f"≤ {TARGET_BATCHED_WRU} — {_ok(same['wru_per_event'] <= TARGET_BATCHED_WRU)}",
        ),
        ("WRU per event, v2 batch of 100 (4 customers × 6 hours)", f"{spread['wru_per_event']:.2f}", "—"),
        *[
            (
                f"WRU per event, {k}",
                f"{c['wru_per_event']:.2f}",
                f"≤ {TARGET_BATCHED_WRU} — {_ok(c['wru_per_event'] <= TARGET_BATCHED_WRU)}",
            )
            for k, c in cases.items()
            if "one aggregation per" in k
        ],
        *[
            (
                f"aggregation delay, {k} (p50 / p99 / max, local)",
                f"{d['p50_s']:.3f} / {d['p99_s']:.3f} / {d['max_s']:.3f} s",
                f"p99 ≤ 2 s — {_ok(d['p99_s'] <= 2.0)}",
            )
            for k, d in r["write_units"].get("aggregation_delay", {}).items()
        ],
        (
            "$ per million events (writes, $0.625/M WRU): single / batched / spread",
            f"${single['usd_per_million_events']:.2f} / ${same['usd_per_million_events']:.2f} / "
            f"${spread['usd_per_million_events']:.2f}",
            "—",
        ),
        (
            "usage transactions per request: single / batched / spread",
            f"{single['transactions_per_request']:g} / {same['transactions_per_request']:g} / "
            f"{spread['transactions_per_request']:g}",
            "—",
        ),
        (
            "other writes on the ingest path (no Idempotency-Key sent)",
            str(single["writes_outside_usage_table"] + same["writes_outside_usage_table"]),
            "—",
        ),
        (
            "with Idempotency-Key (as the SDKs send): total WRU per event, single / batched",
            f"{idem_single['total_wru_per_event']:.2f} / {idem_batch['total_wru_per_event']:.2f} "
            f"(${idem_single['usd_per_million_events_total']:.2f} / "
            f"${idem_batch['usd_per_million_events_total']:.2f} per M)",
            "—",
        ),
        (
            "objects-table reads per request (RRU, modelled): single / batched",
            f"{single['objects_reads_rru_per_request']:g} / {same['objects_reads_rru_per_request']:g}",
            "—",
        ),
    ]
    t = r["throughput"]
    rows += [
        (
            f"v1 single events/s ({t['single']['events']} events) vs bare put_item",
            f"{t['single']['events_per_s']:.0f} vs {t['single']['bare_put_item_per_s']:.0f} "
            f"(×{t['single']['ratio_ours_over_bare']:.2f}); kept {t['single']['ingest_cache_seconds']:g} s "
            f"(TALLY_INGEST_CACHE_SECONDS); with 0: {t['single']['uncached_events_per_s']:.0f}/s "
            f"(×{t['single']['uncached_ratio_ours_over_bare']:.2f})",
            "—",
        ),
        (
            f"v2 batched events/s ({t['batched']['batches']}×100) vs bare put_item",
            f"{t['batched']['events_per_s']:.0f} vs {t['batched']['bare_put_item_per_s']:.0f} "
            f"(×{t['batched']['ratio_ours_over_bare']:.2f})",
            "—",
        ),
        (
            "v2 batched events/s vs bare transact_write_items (100 Puts each)",
            f"{t['batched']['events_per_s']:.0f} vs {t['batched']['bare_transact_100_puts_items_per_s']:.0f} "
            f"(×{t['batched']['ratio_ours_over_bare_transact']:.2f})",
            "—",
        ),
    ]
    stock = t.get("stock_moto_sample")
    if stock:
        rows.append(
            (
                f"same, stock moto transactions (usage table at {stock['usage_table_items']:,} items)",
                f"single {stock['single_events_per_s']:.1f}/s, batched {stock['batched_events_per_s']:.0f}/s",
                "—",
            )
        )
    u = r["usage_reads"]
    a, z = u["aggregate"]["1k"], u["aggregate"]["100k"]
    rows.append(
        (
            f"usage.aggregate over {u['period']['hours']} h: items read at "
            f"{a['events']:,} / {z['events']:,} events",
            f"{a['items_read']} / {z['items_read']} ({a['requests']} / {z['requests']} queries; "
            f"{a['read_units']:g} / {z['read_units']:g} RRU as the store models it, "
            f"{a['read_units_by_size']} / {z['read_units_by_size']} by item size)",
            f"equal, ≤ {u['period']['hours']} per shard — {_ok(a['items_read'] == z['items_read'])}",
        )
    )
    p = u["preview"]
    if "skipped" in p:
        rows.append(("create_preview: items read at 1k / 100k events", p["skipped"], "—"))
    else:
        rows.append(
            (
                "create_preview: usage items read at 1k / 100k events",
                f"{p['1k']['items_read']} / {p['100k']['items_read']} "
                f"({p['1k']['dynamodb_calls_total']} / {p['100k']['dynamodb_calls_total']} DynamoDB calls)",
                f"equal — {_ok(p['items_read_equal'])}",
            )
        )
    c = r["cold_start"]
    ingest, api = c["handlers"]["IngestFunction"], c["handlers"]["ApiFunction"]
    rows += [
        (f"import boto3 (median of {c['runs']})", f"{c['boto3_ms']:.0f} ms", "—"),
        (
            "ingest handler import; over boto3; added after boto3 (CPU time: over; added)",
            f"{ingest['import_ms']:.0f} ms; {ingest['over_boto3_ms']:+.0f} ms; "
            f"{ingest['added_after_boto3_ms']:.0f} ms ({ingest.get('over_boto3_cpu_ms', 0):+.0f} ms; "
            f"{ingest.get('added_after_boto3_cpu_ms', 0):.0f} ms)",
            f"≤ {TARGET_INGEST_IMPORT_MS:.0f} ms over boto3 — "
            f"{_ok(ingest['over_boto3_ms'] <= TARGET_INGEST_IMPORT_MS)}",
        ),
        (
            "api handler import; over boto3; added after boto3",
            f"{api['import_ms']:.0f} ms; {api['over_boto3_ms']:+.0f} ms; "
            f"{api['added_after_boto3_ms']:.0f} ms",
            "—",
        ),
        (
            "ingest module imports aws_xray_sdk",
            "yes" if ingest["imports_aws_xray_sdk"] else "no",
            f"no — {_ok(not ingest['imports_aws_xray_sdk'])}",
        ),
    ]
    cpu = r["handler_cpu"]
    s, b = cpu["single"], cpu["batched"]
    rows += [
        (
            "ingest handler CPU per event (its thread): single / batched",
            f"{s['thread_cpu_ms_per_event']:.2f} ms / {b['thread_cpu_ms_per_event']:.3f} ms",
            "—",
        ),
        (
            "… of which botocore (DynamoDB client calls): single / batched",
            f"{s['of_which_botocore_ms_per_event']:.2f} ms / {b['of_which_botocore_ms_per_event']:.3f} ms",
            "—",
        ),
    ]
    lr = r.get("list_reads")
    if lr:
        u = lr["unrelated"]
        for name, v in lr["lists"].items():
            rows.append(
                (
                    f"GET {name}: items read at {u['small']:,} / {u['large']:,} unrelated objects",
                    f"{v['small']['items_read']} / {v['large']['items_read']} "
                    f"({v['small']['returned']} returned)",
                    f"equal — {_ok(v['small']['items_read'] == v['large']['items_read'])}",
                )
            )
    cp = r.get("close_periods")
    if cp:
        rows += close_rows(cp)
    al = r.get("alert_costs")
    if al:
        rows += alert_rows(al)
    from bench.report import issue_rows

    rows += issue_rows(r)
    lines = ["| Metric | Result | Target |", "|---|---|---|"]
    lines += [f"| {m} | {v} | {tg} |" for m, v, tg in rows]
    return "\n".join(lines)


def _throughput_line(v: dict[str, Any]) -> str:
    single = v["single"]
    return (
        ", ".join(
            f"{k} {v[k]['events_per_s']:.0f}/s (bare put {v[k]['bare_put_item_per_s']:.0f}/s)"
            for k in ("single", "batched")
        )
        + f"; ratios: single / bare put ×{single['ratio_ours_over_bare']:.2f} "
        f"(×{single['uncached_ratio_ours_over_bare']:.2f} with TALLY_INGEST_CACHE_SECONDS=0), batched / bare "
        f"100-Put transactions ×{v['batched']['ratio_ours_over_bare_transact']:.2f}"
    )


def close_rows(cp: dict[str, Any]) -> list[tuple[str, str, str]]:
    runs = cp["runs"]
    sizes = " / ".join(f"{x['subscriptions']:,}" for x in runs)
    # ≤ 10 at the largest N: the close's 16 shard Queries are per run, not per subscription (at a
    # smoke run's N = 5 they alone are 3.2 per subscription)
    largest = max(runs, key=lambda x: x["subscriptions"])
    ok = cp["bill_requests_constant"] and largest["requests_per_subscription"] <= TARGET_CLOSE_REQUESTS
    return [
        (
            f"close, subscriptions billed per second at N = {sizes}",
            " / ".join(f"{x['subscriptions_per_second']:.0f}" for x in runs),
            "—",
        ),
        (
            f"close, DynamoDB requests per subscription (close + bill) at N = {sizes}",
            " / ".join(
                f"{x['requests_per_subscription']:.2f} ({x['close_requests_per_subscription']:.3f} + "
                f"{x['bill_requests_per_subscription']:.2f})"
                for x in runs
            ),
            f"constant, ≤ {TARGET_CLOSE_REQUESTS} at N = {largest['subscriptions']:,} — {_ok(ok)}",
        ),
        (
            f"close, write units per subscription (modelled) at N = {sizes}",
            " / ".join(f"{x['write_units_per_subscription']:.1f}" for x in runs),
            "—",
        ),
    ]


def alert_rows(al: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for case, v in al["cases"].items():
        s, b = v["single"], v["batched"]
        rows.append(
            (
                f"ingest with {case}: DynamoDB requests / usage items read / wall ms / CPU ms per event, "
                "single; batched (100)",
                f"{s['dynamodb_requests_per_event']:g} / {s['usage_items_read_per_event']:g} / "
                f"{s['wall_ms_per_event_median']:.2f} / {s['thread_cpu_ms_per_event']:.2f}; "
                f"{b['dynamodb_requests_per_event']:g} / {b['usage_items_read_per_event']:g} / "
                f"{b['wall_ms_per_event_median']:.3f} / {b['thread_cpu_ms_per_event']:.3f}",
                "0 added with 0 alerts — " + _ok(al["added_requests_per_single_event"]["0 alerts"] == 0)
                if case == "0 alerts"
                else f"+{al['added_requests_per_single_event'][case]:g} request(s), target +1 — "
                + _ok(al["added_requests_per_single_event"][case] <= 1)
                if "running figure read" in case
                else "—",
            )
        )
    return rows


def _alerts_only(results: dict[str, Any], stage: Any, run: Any, out: Path) -> int:
    from bench import alerts

    results["alert_costs"] = v = stage(
        9, "alerts on the ingest path", lambda: alerts.alert_costs(run), _alert_line
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    say("\n| Metric | Result | Target |\n|---|---|---|")
    for m, x, tg in alert_rows(v):
        say(f"| {m} | {x} | {tg} |")
    say(f"\nWritten to {out}")
    return 0


def _alert_line(v: dict[str, Any]) -> str:
    return "; ".join(
        f"{k}: {c['single']['dynamodb_requests_per_event']:g} requests/event" for k, c in v["cases"].items()
    )


def _close_only(results: dict[str, Any], stage: Any, run: Any, out: Path, sizes: tuple[int, ...]) -> int:
    from bench import close_periods

    def partial(done: list[dict[str, Any]]) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results | {"close_periods_partial": done}, indent=2) + "\n")

    results["close_periods"] = v = stage(
        8,
        "close N subscriptions",
        lambda: close_periods.close_periods(run, sizes, partial),
        lambda v: f"max {v['max_requests_per_subscription']:.2f} requests per subscription",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    say("\n| Metric | Result | Target |\n|---|---|---|")
    for m, x, tg in close_rows(v):
        say(f"| {m} | {x} | {tg} |")
    say(f"\nWritten to {out}")
    return 0


def _lists_only(results: dict[str, Any], stage: Any, run: Any, out: Path) -> int:
    from bench import list_reads

    results["list_reads"] = v = stage(
        7, "filtered list reads", lambda: list_reads.list_reads(run), lambda v: f"equal: {v['equal']}"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    u = v["unrelated"]
    say(f"\n| list (limit=3) | items read at {u['small']:,} / {u['large']:,} unrelated objects |\n|---|---|")
    for name, x in v["lists"].items():
        say(f"| GET {name} | {x['small']['items_read']} / {x['large']['items_read']} |")
    say(f"\nWritten to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="shrink every loop (e.g. 0.1 for a quick smoke run)"
    )
    parser.add_argument("--runs", type=int, default=5, help="cold-start runs per module (median)")
    parser.add_argument(
        "--lists-only", action="store_true", help="run only setup and the filtered-list stage (7)"
    )
    parser.add_argument(
        "--close-only", action="store_true", help="run only setup and the period-close stage (8)"
    )
    parser.add_argument(
        "--alerts-only", action="store_true", help="run only setup and the alerts-on-ingest stage (9)"
    )
    parser.add_argument(
        "--writes-only", action="store_true", help="run only setup and the write-units stage (2)"
    )
    parser.add_argument(
        "--throughput-only",
        action="store_true",
        help="run only setup and the throughput stage (3): local ingest vs bare moto, same run",
    )
    parser.add_argument(
        "--close-sizes",
        default="100,1000,10000",
        help="subscriptions due at once, per close run (comma-separated; --scale shrinks them)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "versions": _versions(),
        "scale": args.scale,
    }

    def stage(n: int, name: str, fn: Any, describe: Any) -> Any:
        t0 = time.perf_counter()
        say(f"[{n}/{STAGES}] {name} …")
        value = fn()
        say(f"[{n}/{STAGES}] {name}: {describe(value)} ({time.perf_counter() - t0:.1f} s)")
        return value

    from bench import coldstart, stages
    from bench.harness import Bench

    box: dict[str, Any] = {}

    def start() -> dict[str, Any]:
        box["bench"] = Bench()
        box["run"] = stages.Run(box["bench"], say, scale=args.scale)
        return stages.setup(box["run"])

    try:
        results["setup"] = stage(
            1,
            "setup",
            start,
            lambda v: f"moto at {v['moto']}, meter {v['meter']} (sum), {v['customers']} customers",
        )
        run = box["run"]
        if args.lists_only:
            return _lists_only(results, stage, run, args.out)
        if args.alerts_only:
            return _alerts_only(results, stage, run, args.out)
        close_sizes = tuple(max(1, int(int(x) * args.scale)) for x in args.close_sizes.split(","))
        if args.close_only:
            return _close_only(results, stage, run, args.out, close_sizes)
        if args.throughput_only:
            results["throughput"] = stage(3, "throughput", lambda: stages.throughput(run), _throughput_line)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2) + "\n")
            say(f"\nWritten to {args.out}")
            return 0
        results["write_units"] = stage(
            2,
            "write units per event",
            lambda: stages.write_units(run),
            lambda v: "; ".join(f"{c['case']}: {c['total_wru_per_event']:.2f} WRU" for c in v["cases"]),
        )
        if args.writes_only:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2) + "\n")
            say(f"\nWritten to {args.out}")
            return 0
        results["throughput"] = stage(3, "throughput", lambda: stages.throughput(run), _throughput_line)
        results["usage_reads"] = stage(
            4,
            "usage reads",
            lambda: stages.usage_reads(run),
            lambda v: (
                "items read "
                + " / ".join(f"{k}: {a['items_read']}" for k, a in v["aggregate"].items())
                + (
                    f"; preview {v['preview']['1k']['items_read']} / {v['preview']['100k']['items_read']}"
                    if "skipped" not in v["preview"]
                    else "; preview skipped"
                )
            ),
        )
        results["cold_start"] = stage(
            5,
            "cold start (fresh subprocesses)",
            lambda: coldstart.measure(box["bench"].template, box["bench"].env, runs=args.runs),
            lambda v: (
                f"boto3 {v['boto3_ms']:.0f} ms, "
                + ", ".join(
                    f"{k} {h['import_ms']:.0f} ms ({h['over_boto3_ms']:+.0f})"
                    for k, h in v["handlers"].items()
                )
            ),
        )
        results["handler_cpu"] = stage(
            6,
            "handler CPU per event",
            lambda: stages.handler_cpu(run),
            lambda v: (
                f"single {v['single']['thread_cpu_ms_per_event']:.2f} ms, "
                f"batched {v['batched']['thread_cpu_ms_per_event']:.3f} ms"
            ),
        )
        from bench import list_reads

        results["list_reads"] = stage(
            7,
            "filtered list reads",
            lambda: list_reads.list_reads(run),
            lambda v: (
                f"items read equal at {v['unrelated']['small']:,} and {v['unrelated']['large']:,} "
                f"unrelated objects: {v['equal']}"
            ),
        )
        from bench import close_periods

        results["close_periods"] = stage(
            8,
            "close N subscriptions",
            lambda: close_periods.close_periods(run, close_sizes),
            lambda v: f"max {v['max_requests_per_subscription']:.2f} DynamoDB requests per subscription",
        )
        from bench import alerts

        results["alert_costs"] = stage(
            9, "alerts on the ingest path", lambda: alerts.alert_costs(run), _alert_line
        )
        from bench import costs, hot_customer, idle

        results["hot_customer"] = stage(
            10,
            "hot customer (paper model + simulation)",
            lambda: hot_customer.hot_customer(run),
            lambda v: ", ".join(
                f"{k}: {v[k]['shards_needed_simulated']} shard(s)"
                for k in ("v2 batches of 100", "v1 single events")
            ),
        )
        results["costs"] = stage(
            11,
            "all-in cost model",
            lambda: costs.costs(run, results),
            lambda v: (
                f"${v['per_million_events_v2_batched']['total']:.2f} per M batched events, "
                f"floor ${v['monthly_floor']['total']:.2f}/month"
            ),
        )
    finally:
        if "bench" in box:
            box["bench"].stop()

    # Last, with the bench's own moto stopped: nothing else of this run may use the CPU meanwhile.
    from bench import idle

    results["idle_cpu"] = stage(
        12,
        "idle `make run` CPU",
        lambda: idle.idle_cpu(seconds=max(10.0, 60.0 * min(1.0, args.scale))),
        lambda v: (
            f"{v['cpu_s']:.2f} s CPU in {v['window_s']:.0f} s ({v['core_share'] * 100:.2f} % of a core)"
        ),
    )
    from bench.harness import STDOUT

    results["handler_stdout_emf_blobs"] = STDOUT.emf_blobs
    results["seconds"] = round(time.perf_counter() - began, 1)
    table = summary(results)
    results["summary_markdown"] = table
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    say("")
    say(f"## Tally bench — {results['date']} — {results['seconds']:.0f} s (scale {args.scale:g})")
    say("")
    say(table)
    say("")
    say(f"Written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
