"""`make run`: start the local stack and print the URL and secret key(s). Ctrl-C stops it.

State (moto's tables, queues and topics) is kept in `.tally/state.pickle` (TALLY_STATE_DIR to put it
elsewhere) and restored at the next start; `--fresh` (`make run FRESH=1`) starts empty."""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
import threading

STOP_SECONDS = 4.0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tally_local", description=__doc__)
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start empty (`make run FRESH=1`): the saved state is moved aside to state.pickle.old",
    )
    parser.add_argument(
        "--in-memory",
        action="store_true",
        help="keep nothing on disk: the state is gone when the stack stops",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack
    args = _arguments(argv)
    port = int(os.environ.get("TALLY_PORT", "4242"))
    print("Starting Tally locally (moto as AWS, tables from template.yaml)…", flush=True)
    from tally_local.aws import BadLogLevel, log_level
    from tally_local.moto_patch import WrongMotoVersion, check_version
    from tally_local.stack import Stack, default_keys
    from tally_local.state import FILE_NAME, StateError, state_dir

    try:
        check_version()
        log_level()
    except (WrongMotoVersion, BadLogLevel) as exc:
        print(exc, file=sys.stderr)
        return 1
    state_path = None if args.in_memory else state_dir() / FILE_NAME
    stack = Stack(port=port, keys=default_keys(), state_path=state_path, fresh=args.fresh)
    try:
        stack.start()
    except StateError as exc:
        print(exc, file=sys.stderr)
        return 1
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
    if state_path is None:
        print("State lives in memory and is gone when you stop. Ctrl-C to stop.", flush=True)
    else:
        how = "restored from" if stack.restored else "saved to"
        print(
            f"State {how} {state_path} (kept across restarts; `make run FRESH=1` starts empty). "
            "Ctrl-C to stop.",
            flush=True,
        )
    stop.wait()
    print("\nStopping…", flush=True)
    # Bounded: a stuck request must not keep the process; the state was last saved at most
    # SAVE_EVERY_S before (tally_local.state), and the stop saves it again first thing.
    stopper = threading.Thread(target=stack.stop, name="stop", daemon=True)
    stopper.start()
    stopper.join(STOP_SECONDS)
    if stopper.is_alive():
        print(f"Requests were still running after {STOP_SECONDS}s; exiting anyway.", flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Stopped and saved by now: skip the interpreter's teardown of moto's objects, which alone took
    # 2–3 s here (more on a busy machine), so a SIGTERM is answered within a second or two.
    os._exit(code)
