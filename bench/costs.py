"""Stage: the all-in AWS cost model, priced from this run's own measured figures.

List prices, us-east-1, on-demand, without free tiers (they are in PRICES with their source
names); the figures they multiply (write and read units per event, DynamoDB requests per event,
handler CPU, the close's requests and write units per subscription, the schedule's requests per
firing) come from the other stages of the same `make bench` run. What is assumed rather than
measured is in ASSUMPTIONS, and docs/PERFORMANCE.md ("All-in cost") explains each line.
"""

from __future__ import annotations

from typing import Any

# USD, us-east-1 list prices (2026), no free tier.
PRICES = {
    "dynamodb_wru_per_million": 0.625,  # on-demand write request units
    "dynamodb_rru_per_million": 0.125,  # on-demand read request units
    "api_gateway_http_per_million": 1.00,  # HTTP API requests (first 300 M a month), per 512 KB
    "lambda_requests_per_million": 0.20,
    "lambda_arm_gb_second": 0.0000133334,  # arm64 (template: Architectures [arm64])
    "sqs_requests_per_million": 0.40,  # standard queue, per 64 KB
    "sns_publishes_per_million": 0.50,  # standard topic; deliveries to SQS are free
    "sns_https_deliveries_per_million": 0.60,
    "scheduler_invocations_per_million": 1.00,  # EventBridge Scheduler (first 14 M a month free)
    "kms_key_month": 1.00,  # customer managed key (NotificationKey)
    "kms_requests_per_10k": 0.03,
    "cloudwatch_logs_ingest_per_gb": 0.50,
    "cloudwatch_alarm_month": 0.10,  # standard resolution, per alarm
}

ASSUMPTIONS = {
    "dynamodb_round_trip_ms": 8,  # in-region DynamoDB latency a Lambda waits per request
    "ingest_memory_gb": 1.0,  # IngestFunction MemorySize 1024
    "worker_memory_gb": 0.5,  # the other functions (Globals MemorySize 512)
    "log_bytes_per_invocation": 800,  # START/END/REPORT lines + one EMF metrics line
    "events_per_subscription_billed": 4,  # invoice.created, .finalized, .paid, subscription.updated
    "webhook_endpoints": 1,  # each event delivered to one endpoint (SQS send/receive/delete + POST)
    "kms_requests_per_publish": 1,  # upper bound: SNS asks KMS for a data key per publish
    "sqs_idle_receives_per_queue_month": 650_000,  # Lambda's SQS pollers long-poll (20 s) all month
    "schedule_ms_per_firing": 100,  # ClosePeriodsFunction at zero traffic (README: doing nothing)
    "firings_per_month": 43_200,  # rate(1 minute), 30 days
    "aggregation_invocations_per_event": 0.01,  # an asynchronous step per 100 events, if any
}


def _lambda(invocations: float, ms: float, gb: float) -> float:
    p = PRICES
    log_gb = invocations * ASSUMPTIONS["log_bytes_per_invocation"] / 1e9
    return (
        invocations * p["lambda_requests_per_million"] / 1e6
        + invocations * max(1.0, ms) / 1000 * gb * p["lambda_arm_gb_second"]
        + log_gb * p["cloudwatch_logs_ingest_per_gb"]
    )


def per_million_events(wru: float, rru: float, requests: float, cpu_ms: float, per_request: int) -> dict:
    """USD per million events ingested `per_request` to a request, by service."""
    p, a = PRICES, ASSUMPTIONS
    calls = 1e6 / per_request
    ms = cpu_ms * per_request + requests * per_request * a["dynamodb_round_trip_ms"]
    lines = {
        "DynamoDB": 1e6
        * (wru * p["dynamodb_wru_per_million"] + rru / per_request * p["dynamodb_rru_per_million"])
        / 1e6,
        "API Gateway": calls * p["api_gateway_http_per_million"] / 1e6,
        "Lambda + its logs": _lambda(calls, ms, a["ingest_memory_gb"])
        + _lambda(1e6 * a["aggregation_invocations_per_event"], 100, a["worker_memory_gb"]),
        "SQS": 0.0,
        "SNS": 0.0,
        "EventBridge": 0.0,
        "KMS": 0.0,
    }
    lines["total"] = sum(lines.values())
    return {k: round(v, 4) for k, v in lines.items()} | {"lambda_ms_per_request": round(ms, 1)}


def per_thousand_subscriptions(requests: float, wru: float) -> dict:
    """USD per 1,000 subscriptions billed at a period's close (close + bill + their events)."""
    p, a = PRICES, ASSUMPTIONS
    n = 1000
    events = n * a["events_per_subscription_billed"]
    deliveries = events * a["webhook_endpoints"]
    reads = max(0.0, requests - 1) * n  # ≈ one read unit per read request (items ≤ 4 KB)
    bill_ms = requests * a["dynamodb_round_trip_ms"] * 10  # a batch of 10 subscriptions per invocation
    lines = {
        "DynamoDB": wru * n * p["dynamodb_wru_per_million"] / 1e6
        + reads * p["dynamodb_rru_per_million"] / 1e6,
        "API Gateway": 0.0,
        "Lambda + its logs": _lambda(n / 10, bill_ms, a["worker_memory_gb"])  # billing worker
        + _lambda(events / 100, 200, a["worker_memory_gb"])  # dispatch (stream batches)
        + _lambda(deliveries / 5, 300, a["worker_memory_gb"]),  # webhook worker (batches of 5)
        # billing queue: send (batches of 10), receive, delete; webhook queue: per delivery
        "SQS": (n * 0.3 + deliveries * 3) * p["sqs_requests_per_million"] / 1e6,
        "SNS": events * p["sns_publishes_per_million"] / 1e6,
        "EventBridge": 0.0,  # the close runs on the minute's firing, counted in the floor
        "KMS": events * a["kms_requests_per_publish"] * p["kms_requests_per_10k"] / 1e4,
    }
    lines["total"] = sum(lines.values())
    return {k: round(v, 4) for k, v in lines.items()}


def monthly_floor(alarms: int, sqs_triggered_queues: int, schedule_requests: float) -> dict:
    """USD a month with no traffic at all: what the stack costs by existing."""
    p, a = PRICES, ASSUMPTIONS
    firings = a["firings_per_month"]
    lines = {
        "DynamoDB": firings * schedule_requests * p["dynamodb_rru_per_million"] / 1e6,
        "API Gateway": 0.0,
        "Lambda + its logs": _lambda(firings, a["schedule_ms_per_firing"], a["worker_memory_gb"]),
        "SQS": sqs_triggered_queues
        * a["sqs_idle_receives_per_queue_month"]
        * p["sqs_requests_per_million"]
        / 1e6,
        "SNS": 0.0,
        "EventBridge": firings * p["scheduler_invocations_per_million"] / 1e6,
        "KMS": p["kms_key_month"],
        "CloudWatch alarms": alarms * p["cloudwatch_alarm_month"],
    }
    lines["total"] = sum(lines.values())
    return {k: round(v, 4) for k, v in lines.items()}


def _schedule_requests(run: Any) -> float:
    """DynamoDB requests of one firing of the close schedule (ClosePeriodsFunction) right now."""
    from bench.harness import COUNTER
    from tally_local.gateway import LambdaContext
    from tally_local.triggers import scheduled_event

    b = run.bench
    for logical_id, fn in b.template.functions.items():
        for schedule in fn.schedules:
            handler = b.handler(logical_id)
            COUNTER.reset()
            handler(
                scheduled_event(schedule, __import__("time").time(), "arn:bench"), LambdaContext(logical_id)
            )
            return float(sum(COUNTER.ops.values()))
    return 0.0


def costs(run: Any, results: dict[str, Any]) -> dict[str, Any]:
    """The three tables (per million events, per 1,000 subscriptions, the monthly floor)."""
    cases = {c["case"]: c for c in results["write_units"]["cases"]}
    single = cases["v1 single event + Idempotency-Key"]
    batch = next(c for k, c in cases.items() if k.startswith("v2") and "Idempotency" in k)
    plain = {c["case"]: c for c in results["write_units"]["cases"]}["v1 single event"]
    same = next(c for k, c in cases.items() if "same hour" in k and "Idempotency" not in k)
    alerts = results.get("alert_costs", {}).get("cases", {}).get("0 alerts", {})
    cpu = results["handler_cpu"]
    requests_single = alerts.get("single", {}).get("dynamodb_requests_per_event", 4)
    requests_batch = alerts.get("batched", {}).get("dynamodb_requests_per_event", 0.05)
    close = results["close_periods"]["runs"][-1]
    template = run.bench.template
    alarms = sum(1 for r in template.raw["Resources"].values() if r.get("Type") == "AWS::CloudWatch::Alarm")
    queues = sum(len(fn.queues) for fn in template.functions.values())
    return {
        "prices": PRICES,
        "assumptions": ASSUMPTIONS,
        "inputs": {
            "wru_per_event_v1_with_key": single["total_wru_per_event"],
            "wru_per_event_v2_with_key": batch["total_wru_per_event"],
            "rru_per_request_v1": plain["objects_reads_rru_per_request"],
            "rru_per_request_v2": same["objects_reads_rru_per_request"],
            "dynamodb_requests_per_event_v1": requests_single,
            "dynamodb_requests_per_event_v2": requests_batch,
            "cpu_ms_per_event_v1": cpu["single"]["thread_cpu_ms_per_event"],
            "cpu_ms_per_event_v2": cpu["batched"]["thread_cpu_ms_per_event"],
            "close_requests_per_subscription": close["requests_per_subscription"],
            "close_wru_per_subscription": close["write_units_per_subscription"],
            "alarms": alarms,
            "sqs_triggered_queues": queues,
        },
        "per_million_events_v1_single": per_million_events(
            single["total_wru_per_event"],
            plain["objects_reads_rru_per_request"],
            requests_single,
            cpu["single"]["thread_cpu_ms_per_event"],
            1,
        ),
        "per_million_events_v2_batched": per_million_events(
            batch["total_wru_per_event"],
            same["objects_reads_rru_per_request"],
            requests_batch,
            cpu["batched"]["thread_cpu_ms_per_event"],
            100,
        ),
        "per_1000_subscriptions_billed": per_thousand_subscriptions(
            close["requests_per_subscription"], close["write_units_per_subscription"]
        ),
        "monthly_floor": monthly_floor(alarms, queues, _schedule_requests(run)),
    }
