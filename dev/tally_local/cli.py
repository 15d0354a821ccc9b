"""`tally`: operator commands for a Tally deployment (or the local stack).

    tally accounts create [--table NAME] [--region R] [--endpoint-url URL]

creates an account and its secret key in the objects table of any DynamoDB endpoint (real AWS, or
moto behind `python -m tally_local`). Only the key's hash is stored: the key is printed once.
Against an endpoint on this machine (127.0.0.1, localhost) it uses fake AWS credentials.

Imports stay inside the commands: `tally --help` must not pay for boto3 and PynamoDB, and the
environment has to be set from the flags before the store reads its settings.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit


def is_local(endpoint_url: str) -> bool:
    """Whether an endpoint is this machine (the local stack's moto), not an AWS service."""
    host = urlsplit(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _use_fake_credentials() -> None:
    """moto accepts any credentials: supply fake ones, so no AWS account or profile is needed and
    real credentials from the shell are never sent anywhere."""
    from tally_local.aws import FAKE_CREDENTIALS

    os.environ.pop("AWS_PROFILE", None)  # a profile missing from ~/.aws would fail the session
    os.environ.update(FAKE_CREDENTIALS)  # and the local stack's region, whatever the shell says


def _create_account(args: argparse.Namespace) -> int:
    if args.table:
        os.environ["OBJECTS_TABLE"] = args.table
    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    if is_local(os.environ.get("AWS_ENDPOINT_URL", "")):
        _use_fake_credentials()
    if args.region:
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
    if not os.environ.get("OBJECTS_TABLE"):
        print(
            "tally: no objects table given. Pass --table NAME (the stack output ObjectsTableName) "
            "or set OBJECTS_TABLE.",
            file=sys.stderr,
        )
        return 2

    from tally import settings

    settings.reset()
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    from tally.api.auth import new_account, register_key
    from tally.clock import Clock
    from tally.store import aws

    aws.reset()
    account, key = new_account()
    table = settings.settings().objects_table
    try:
        register_key(key, Clock.system())
    except (PynamoDBException, BotoCoreError, ClientError) as exc:
        cause = getattr(exc, "cause", None) or exc
        print(f"tally: could not store the key in table {table!r}: {cause}", file=sys.stderr)
        return 1
    print(f"Created account {account} in table {table}.")
    print("Secret key (shown only once; Tally keeps only its hash, so store it now):")
    print(f"  {key}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tally", description="Operate a Tally deployment.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    accounts = commands.add_parser("accounts", help="manage accounts and their secret keys")
    actions = accounts.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create an account and print its secret key (once)",
        description="Create an account and its secret key. The key is printed once and stored only "
        "as a SHA-256 hash.",
    )
    create.add_argument(
        "--table", help="objects table name (default: $OBJECTS_TABLE; the stack output ObjectsTableName)"
    )
    create.add_argument(
        "--region",
        help="AWS region (default: $AWS_REGION or $AWS_DEFAULT_REGION; us-east-1 on a local endpoint)",
    )
    create.add_argument(
        "--endpoint-url",
        help="DynamoDB endpoint, e.g. the local stack's moto (default: $AWS_ENDPOINT_URL, else AWS); "
        "on 127.0.0.1 or localhost fake AWS credentials are used",
    )
    create.set_defaults(run=_create_account)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code (0 ok, 1 failed, 2 usage error)."""
    args = _parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
