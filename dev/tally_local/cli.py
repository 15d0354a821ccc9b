"""`tally`: operator commands for a Tally deployment (or the local stack).

    tally accounts create [--table NAME] [--region R] [--endpoint-url URL]
    tally accounts update ACCOUNT [--invoice-grace-period 3h] [--api-version 2025-02-24.acacia]
                          [--table NAME] [--region R] [--endpoint-url URL]

`create` creates an account and its secret key in the objects table of any DynamoDB endpoint (real
AWS, or moto behind `python -m tally_local`). Only the key's hash is stored: the key is printed once.
`update` changes an account's settings (`tally.billing.account_settings`): the invoice
finalization grace period (`90s`, `30m`, `3h`, `1h30m`, plain seconds, up to 72h; `default`
follows the deployment's `INVOICE_GRACE_SECONDS` again) and the default Stripe API version of its
answers and webhooks (`default`: Tally's current one). Against an endpoint on this machine
(127.0.0.1, localhost) both use fake AWS credentials.

Imports stay inside the commands: `tally --help` must not pay for boto3 and PynamoDB, and the
environment has to be set from the flags before the store reads its settings.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
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


_DURATION = re.compile(r"(?:(\d{1,3})h)?(?:(\d{1,4})m)?(?:(\d{1,6})s)?")


def duration(text: str) -> int | None:
    """Seconds in `3h`, `1h30m`, `90s`, `30m` or `3600`; None for `default`. ValueError otherwise."""
    if text == "default":
        return None
    if text.isdigit():
        return int(text)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 3h, 1h30m, 90s or seconds)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _connect(args: argparse.Namespace) -> bool:
    """Set the environment from the flags; False (with a hint printed) when no table is known."""
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
        return False
    from tally import settings
    from tally.store import aws

    settings.reset()
    aws.reset()
    return True


def _create_account(args: argparse.Namespace) -> int:
    if not _connect(args):
        return 2
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    from tally import settings
    from tally.api.auth import new_account, register_key
    from tally.clock import Clock

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


def _update_account(args: argparse.Namespace) -> int:
    if args.invoice_grace_period is None and args.api_version is None:
        print("tally: give --invoice-grace-period and/or --api-version", file=sys.stderr)
        return 2
    try:
        grace = duration(args.invoice_grace_period) if args.invoice_grace_period is not None else None
    except ValueError as exc:
        print(f"tally: --invoice-grace-period: {exc}", file=sys.stderr)
        return 2
    from tally.domain.api_version import problem

    version = None if args.api_version is None else "" if args.api_version == "default" else args.api_version
    if version and problem(version):
        print(f"tally: --api-version: {problem(version)}", file=sys.stderr)
        return 2
    if not re.fullmatch(r"acct_[A-Za-z0-9]{1,64}", args.account):
        print(f"tally: not an account id: {args.account!r}", file=sys.stderr)
        return 2
    if not _connect(args):
        return 2
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    from tally.billing import account_settings
    from tally.clock import Clock
    from tally.settings import MAX_GRACE_SECONDS

    if grace is not None and grace > MAX_GRACE_SECONDS:
        print(f"tally: --invoice-grace-period: at most 72h ({MAX_GRACE_SECONDS} s)", file=sys.stderr)
        return 2
    try:
        chosen = account_settings.update(
            args.account,
            Clock.system(),
            invoice_grace_period=None
            if args.invoice_grace_period is None
            else (account_settings.CLEAR if grace is None else grace),
            api_version=version,
        )
    except (PynamoDBException, BotoCoreError, ClientError) as exc:
        cause = getattr(exc, "cause", None) or exc
        print(f"tally: could not update {args.account}: {cause}", file=sys.stderr)
        return 1
    shown = account_settings.present(chosen)
    print(
        f"Account {args.account}: invoice grace period {shown['invoice_grace_period']} s "
        f"({shown['invoice_grace_period_source']}), API version {shown['api_version']}."
    )
    return 0


def _connection_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--table", help="objects table name (default: $OBJECTS_TABLE; the stack output ObjectsTableName)"
    )
    command.add_argument(
        "--region",
        help="AWS region (default: $AWS_REGION or $AWS_DEFAULT_REGION; us-east-1 on a local endpoint)",
    )
    command.add_argument(
        "--endpoint-url",
        help="DynamoDB endpoint, e.g. the local stack's moto (default: $AWS_ENDPOINT_URL, else AWS); "
        "on 127.0.0.1 or localhost fake AWS credentials are used",
    )


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
    _connection_flags(create)
    create.set_defaults(run=_create_account)
    update = actions.add_parser(
        "update",
        help="change an account's settings",
        description="Change an account's settings (a Tally extension; also POST /v1/tally/account_settings).",
    )
    update.add_argument("account", help="the account id (acct_…)")
    update.add_argument(
        "--api-version",
        help="the Stripe API version answers without a Stripe-Version header and webhook endpoints "
        "without an api_version follow (e.g. 2025-02-24.acacia); 'default': Tally's current one",
    )
    update.add_argument(
        "--invoice-grace-period",
        help="how long a period's invoice stays draft before it is finalized: 3h, 1h30m, 90s or "
        "seconds, at most 72h; 'default' follows the deployment's INVOICE_GRACE_SECONDS",
    )
    _connection_flags(update)
    update.set_defaults(run=_update_account)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code (0 ok, 1 failed, 2 usage error)."""
    args = _parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
