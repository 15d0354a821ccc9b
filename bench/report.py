"""Rows of the bench summary for issue 15's figures: each with its target, from one run's results."""

from __future__ import annotations

from typing import Any

TARGET_SINGLE_RATIO = 0.5  # v1 single ingest ≥ ×0.5 of a bare moto put_item loop (same run)
TARGET_BATCHED_RATIO = 0.6  # v2 batched ≥ ×0.6 of bare 100-Put transactions (same run)
TARGET_V1_KEY_WRU = 3.2  # v1 single event with the SDK's Idempotency-Key
TARGET_V2_WRU = 1.12  # v2 batch of 100
TARGET_MONTH_ITEMS_PER_SHARD = 31

Row = tuple[str, str, str]


def _ok(passed: bool) -> str:
    return "✅ met" if passed else "❌ missed"


def issue_rows(r: dict[str, Any]) -> list[Row]:
    """Targets of issue 15 next to this run's figures (what is absent from `r` is skipped)."""
    rows: list[Row] = []
    cases = {c["case"]: c for c in r.get("write_units", {}).get("cases", [])}
    key = cases.get("v1 single event + Idempotency-Key")
    same = next((c for k, c in cases.items() if "same hour" in k and "Idempotency" not in k), None)
    if key and same:
        met = key["total_wru_per_event"] <= TARGET_V1_KEY_WRU and same["wru_per_event"] <= TARGET_V2_WRU
        rows += [
            (
                "issue 15: WRU per event, v1 single + Idempotency-Key / v2 batch of 100",
                f"{key['total_wru_per_event']:.2f} / {same['wru_per_event']:.2f}",
                f"≤ {TARGET_V1_KEY_WRU} / ≤ {TARGET_V2_WRU} — {_ok(met)}",
            )
        ]
    t = r.get("throughput")
    if t:
        single = t["single"]["ratio_ours_over_bare"]
        batched = t["batched"]["ratio_ours_over_bare_transact"]
        rows += [
            (
                "issue 15: local ingest vs bare moto (same run): v1 single / bare put_item; "
                "v2 batched / bare 100-Put transactions",
                f"×{single:.2f}; ×{batched:.2f}",
                f"≥ ×{TARGET_SINGLE_RATIO}; ≥ ×{TARGET_BATCHED_RATIO} — "
                f"{_ok(single >= TARGET_SINGLE_RATIO and batched >= TARGET_BATCHED_RATIO)}",
            )
        ]
    u = r.get("usage_reads")
    if u:
        big = u["aggregate"]["100k"]
        shards = max(1, int(r.get("setup", {}).get("write_shards", 1) or 1))
        per_shard = big["items_read"] / shards
        rows.append(
            (
                f"issue 15: a month of usage ({u['period']['hours']} h), items read per shard",
                f"{per_shard:g}",
                f"≤ {TARGET_MONTH_ITEMS_PER_SHARD}, or why not — "
                + (
                    _ok(True)
                    if per_shard <= TARGET_MONTH_ITEMS_PER_SHARD
                    else "why not: rollups cost the write path more than they save "
                    '(docs/PERFORMANCE.md, "Rollups (point 4) not built, with figures")'
                ),
            )
        )
    idle = r.get("idle_cpu")
    if idle:
        rows.append(
            (
                f"idle `make run`: CPU of the process tree over {idle['window_s']:.0f} s, no requests",
                f"{idle['cpu_s']:.2f} s ({idle['core_share'] * 100:.2f} % of a core; "
                f"{idle['cpu_s_per_minute']:.2f} s per minute)",
                f"< {idle['target_share'] * 100:.0f} % — {_ok(idle['met'])}",
            )
        )
    hot = r.get("hot_customer")
    if hot:
        for case in ("v2 batches of 100", "v1 single events"):
            c = hot[case]
            worst = c["simulated"][-1]
            rows.append(
                (
                    f"hot customer at {hot['rate_events_per_s']:,} events/s, {case}: hot WRU per event; "
                    "shards paper / simulated; busiest key-second",
                    f"{c['one_shard']['hot_wru_per_event']:g}; {c['shards_needed_paper']} / "
                    f"{c['shards_needed_simulated']}; {worst['max_wcu_per_key_second']:.0f} WCU",
                    f"≤ {hot['partition_wcu_limit']:,} WCU per key, ≤ {hot['max_shards']} shards — "
                    f"{_ok(c['fits'])}",
                )
            )
    cost = r.get("costs")
    if cost:
        v1, v2 = cost["per_million_events_v1_single"], cost["per_million_events_v2_batched"]
        subs, floor = cost["per_1000_subscriptions_billed"], cost["monthly_floor"]
        rows += [
            (
                "all-in $ per million events (us-east-1 list): v1 single / v2 batched",
                f"${v1['total']:.2f} / ${v2['total']:.2f}",
                "—",
            ),
            ("all-in $ per 1,000 subscriptions billed; monthly floor at zero traffic",
             f"${subs['total']:.3f}; ${floor['total']:.2f}", "—"),
        ]  # fmt: skip
    return rows
