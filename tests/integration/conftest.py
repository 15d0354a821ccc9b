"""Handlers and store under moto's in-process `mock_aws`, tables created from template.yaml.

One moto for the whole session; each test gets fresh accounts, so tests never see each other's
data; and each test module starts with empty tables, because moto deep-copies a whole table on
every TransactWriteItems (to roll back), so transactions slow down as a table fills up. Fixtures:

- `api`: an `support.Api` client authenticated as `account`; `api.post(path, data, key=..., headers=...)`,
  `api.get(path, params)`, `api.delete(path)` build API Gateway v2 events and call the template's
  function for the route. `api.as_(other_account)` is the same client for another account.
- `account`, `other_account`: `support.Account(id, key)`, each with a registered secret key.
- `functions`: the loaded Lambda handlers and the template's routes (`functions.route_table(...)`).
- `moto_tables`: {logical id: table name} of the mocked tables (the template's SQS queues and SNS
  topics are created too, `BILLING_QUEUE_URL` points at the mocked billing queue, and the objects
  table has its stream).
- `outbox`: `support.Outbox`, the objects table's stream from the test's start, delivered to
  DispatchFunction as Lambda would (`outbox.drain()`), SNS email in `outbox.mailbox`.

moto is made stricter in one place where it differs from DynamoDB: key values over 2048 bytes are
rejected on reads too (`support.enforce_key_size_limits`), as AWS does.

Do not start another `mock_aws()` in a test: it would share (not reset) this one anyway.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
import support


@pytest.fixture(scope="session")
def moto_tables() -> Iterator[dict[str, str]]:
    from moto import mock_aws

    from tally_local import aws, moto_patch, sns_delivery
    from tally_local.template import load

    support.enforce_key_size_limits()
    moto_patch.install()  # as `make run` does: item-level rollback, checked by test_moto_patch.py
    sns_delivery.install()  # as `make run` does: email → mailbox files, http(s) → POSTs
    os.environ["TALLY_MAILBOX"] = tempfile.mkdtemp(prefix="tally-mailbox-")
    with mock_aws():
        template = load()
        names = aws.table_names(template, prefix="tally-test-")
        aws.configure_environment(template, None, names)
        from tally.store.aws import dynamodb, sns, sqs

        aws.create_tables(template, names, dynamodb())
        queues = aws.create_queues(template, sqs(), prefix="tally-test-")
        topics = aws.create_topics(template, sns(), prefix="tally-test-")
        aws.configure_environment(template, None, {**names, **queues, **topics})
        yield names


@pytest.fixture(scope="module", autouse=True)
def empty_tables(moto_tables: dict[str, str]) -> None:
    from tally.store import recent
    from tally.store.aws import dynamodb
    from tally_local import aws
    from tally_local.template import load

    client = dynamodb()
    for name in moto_tables.values():
        client.delete_table(TableName=name)
    aws.create_tables(load(), moto_tables, client)
    support.reset_usage_stream()
    recent.clear()  # what ingest kept of the emptied tables' items


@pytest.fixture(scope="session")
def functions(moto_tables: dict[str, str]) -> support.Functions:
    return support.Functions()


@pytest.fixture
def account(moto_tables: dict[str, str]) -> support.Account:
    return support.new_account()


@pytest.fixture
def other_account(moto_tables: dict[str, str]) -> support.Account:
    return support.new_account()


@pytest.fixture
def api(functions: support.Functions, account: support.Account) -> support.Api:
    return support.Api(functions, account)


@pytest.fixture
def outbox(functions: support.Functions, moto_tables: dict[str, str]) -> support.Outbox:
    return support.Outbox.start(functions, moto_tables["ObjectsTable"])
