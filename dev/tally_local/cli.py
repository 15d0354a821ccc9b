"""`tally`: operator commands for a Tally deployment (or the local stack).

    tally accounts create [--table NAME] [--region R] [--endpoint-url URL]

creates an account and its secret key in the objects table of any DynamoDB endpoint (real AWS, or
moto behind `python -m tally_local`). Only the key's hash is stored: the key is printed once.

Imports stay inside the commands: `tally --help` must not pay for boto3 and PynamoDB, and the
environment has to be set from the flags before the store reads its settings.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _create_account(args: argparse.Namespace) -> int:
    if args.table:
        os.environ["OBJECTS_TABLE"] = args.table
    if args.region:
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
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
    create.add_argument("--region", help="AWS region (default: $AWS_REGION or $AWS_DEFAULT_REGION)")
    create.add_argument(
        "--endpoint-url",
        help="DynamoDB endpoint, e.g. the local stack's moto (default: $AWS_ENDPOINT_URL, else AWS)",
    )
    create.set_defaults(run=_create_account)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code (0 ok, 1 failed, 2 usage error)."""
    args = _parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
