"""`make run`: start the local stack and print the URL and secret key(s). Ctrl-C stops it."""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading

STOP_SECONDS = 4.0


def main() -> int:
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack
    port = int(os.environ.get("TALLY_PORT", "4242"))
    print("Starting Tally locally (moto as AWS, tables from template.yaml)…", flush=True)
    from tally_local.aws import BadLogLevel, log_level
    from tally_local.moto_patch import WrongMotoVersion, check_version
    from tally_local.stack import Stack, default_keys

    try:
        check_version()
        log_level()
    except (WrongMotoVersion, BadLogLevel) as exc:
        print(exc, file=sys.stderr)
        return 1
    stack = Stack(port=port, keys=default_keys())
    try:
        stack.start()
    except OSError as exc:
        print(
            f"Could not listen on 127.0.0.1:{port} ({exc}). Set TALLY_PORT to a free port.", file=sys.stderr
        )
        return 1
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"\nTally is running at {stack.url}")
    for key, account in stack.accounts.items():
        print(f"  secret key: {key}   (account {account})")
    assert stack.moto is not None
    tables = os.environ.get("OBJECTS_TABLE", "")
    print(f"  AWS endpoint (moto): {stack.moto.url}   objects table: {tables}")
    from tally_local.sns_delivery import mailbox

    print(f"  mailbox (SNS email deliveries, one file per message): {mailbox()}")
    first = next(iter(stack.accounts))
    print(f'\nTry:  curl {stack.url}/v1/customers -u {first}: -d name="John Doe"')
    print("State lives in memory and is gone when you stop. Ctrl-C to stop.", flush=True)
    stop.wait()
    print("\nStopping…", flush=True)
    # Bounded: state lives in memory, so nothing is lost by not waiting for a stuck request.
    stopper = threading.Thread(target=stack.stop, name="stop", daemon=True)
    stopper.start()
    stopper.join(STOP_SECONDS)
    if stopper.is_alive():
        print(f"Requests were still running after {STOP_SECONDS}s; exiting anyway.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
