"""Lazily created boto3 clients (moto or the local runtime must be in place first)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from tally.settings import settings


@lru_cache(maxsize=8)
def _client(service: str, region: str, endpoint: str | None) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 4}, tcp_keepalive=True)
    session: Any = boto3.session.Session()
    return session.client(service, region_name=region, endpoint_url=endpoint, config=config)


def dynamodb() -> Any:
    s = settings()
    return _client("dynamodb", s.region, s.endpoint_url)


def sqs() -> Any:
    s = settings()
    return _client("sqs", s.region, s.endpoint_url)


def sns() -> Any:
    s = settings()
    return _client("sns", s.region, s.endpoint_url)


def streams() -> Any:
    """DynamoDB Streams (the usage table's stream: `store.usage.catchup`)."""
    s = settings()
    return _client("dynamodbstreams", s.region, s.endpoint_url)


def reset() -> None:
    _client.cache_clear()
