"""All configuration read from the environment, validated in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    objects_table: str
    usage_table: str
    idempotency_table: str
    region: str
    endpoint_url: str | None
    livemode: bool
    billing_queue_url: str | None = None  # where the scheduled close sends due periods
    notification_topic_arn: str | None = None  # the stack's SNS topic; accounts' topics are named after it
    notification_key: str | None = None  # the KMS key that encrypts accounts' topics (none locally)
    stack_name: str | None = None  # the stack's queues (`<stack>-…`) are never notification endpoints
    # Locally only: `https` notification subscriptions may be http://127.0.0.1 (never on AWS).
    allow_local_http: bool = False
    test_clock_queue_url: str | None = None  # where a test clock's advance is sent (its worker runs it)
    max_body_bytes: int = 1024 * 1024
    # How long a period's invoice stays draft (late usage still counts) before it is finalized.
    invoice_grace_seconds: int = 3600
    webhook_queue_url: str | None = None  # webhook fan-out and deliveries (functions/webhooks)
    # Local runtime and tests: webhooks may go to http://127.0.0.1 (never on AWS).
    webhooks_local: bool = False
    # Unused credit grants a customer may hold: Stripe documents 100 (v1) and 20 (v2); 20 by default
    max_unused_credit_grants: int = 20
    # Where the API is reached from outside (`https://billing.example.com`): customer portal links
    # start with it. Unset: the request's Host (behind API Gateway, its own domain).
    public_url: str | None = None
    # How long an ingest process keeps the key, meter and customer items it read (`store.recent`):
    # a removed key, deactivated meter or deleted customer is refused elsewhere within it. 0: never.
    ingest_cache_seconds: float = 1.0

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            objects_table=env.get("OBJECTS_TABLE", "tally-objects"),
            usage_table=env.get("USAGE_TABLE", "tally-usage"),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", "tally-idempotency"),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            livemode=env.get("TALLY_LIVEMODE", "false").lower() == "true",
            billing_queue_url=env.get("BILLING_QUEUE_URL") or None,
            notification_topic_arn=env.get("NOTIFICATION_TOPIC_ARN") or None,
            notification_key=env.get("NOTIFICATION_KEY") or None,
            stack_name=env.get("STACK_NAME") or None,
            allow_local_http=env.get("TALLY_ALLOW_LOCAL_HTTP", "false").lower() == "true",
            test_clock_queue_url=env.get("TEST_CLOCK_QUEUE_URL") or None,
            invoice_grace_seconds=_grace(env.get("INVOICE_GRACE_SECONDS", "3600")),
            webhook_queue_url=env.get("WEBHOOK_QUEUE_URL") or None,
            webhooks_local=env.get("TALLY_WEBHOOKS_LOCAL", "false").lower() == "true",
            max_unused_credit_grants=_unused_grants(env.get("MAX_UNUSED_CREDIT_GRANTS", "20")),
            public_url=(env.get("TALLY_PUBLIC_URL") or "").rstrip("/") or None,
            ingest_cache_seconds=_ingest_cache(env.get("TALLY_INGEST_CACHE_SECONDS", "1")),
        )


MAX_GRACE_SECONDS = 72 * 3600


def _grace(text: str) -> int:
    """The invoice grace period: whole seconds, 0 to 72 h (Stripe's limit); else a startup error."""
    seconds = int(text)
    if not 0 <= seconds <= MAX_GRACE_SECONDS:
        raise ValueError(f"INVOICE_GRACE_SECONDS must be between 0 and {MAX_GRACE_SECONDS}, got {seconds}.")
    return seconds


def _unused_grants(text: str) -> int:
    """The limit of unused credit grants per customer: 1 to 100 (Stripe's higher documented limit)."""
    limit = int(text)
    if not 1 <= limit <= 100:
        raise ValueError(f"MAX_UNUSED_CREDIT_GRANTS must be between 1 and 100, got {limit}.")
    return limit


MAX_INGEST_CACHE_SECONDS = 60  # with the ingest timeout, within `usage_figures.SETTLE` (template test)


def _ingest_cache(text: str) -> float:
    """Seconds the meter-event routes keep what they read: 0 (no cache) to 60; else a startup error."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_INGEST_CACHE_SECONDS:  # also refuses nan and inf
        raise ValueError(
            f"TALLY_INGEST_CACHE_SECONDS must be a number of seconds from 0 (no cache) to "
            f"{MAX_INGEST_CACHE_SECONDS}, got {text!r}."
        )
    return seconds


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


def reset() -> None:
    """Forget cached settings (tests and the local runtime change the environment)."""
    settings.cache_clear()
