"""The local stack's state on disk: moto's backends, saved under `.tally/` and loaded at the next start.

moto keeps everything in memory and has no persistence of its own: its only related feature, the
Recorder, logs requests to replay them later, which would give every replayed object a new id and
timestamp (the ids clients hold would not match). So the stack snapshots moto's backends of the
services it uses (DynamoDB with its stream, SQS, SNS, EventBridge) with `pickle`, atomically
(a temporary file, fsync, rename), after a change (at most every `SAVE_EVERY_S` seconds) and when it
stops, and loads them before moto serves. The stream pollers' checkpoints are saved with them, so a
restart neither loses nor repeats webhook deliveries (beyond Lambda's own at-least-once).

The file starts with a header line naming its format and the moto release that wrote it: pickled
moto objects are only readable by the same moto. Any other file (an older format, another moto,
a damaged or truncated file) is refused with `StateError`, whose message says what to do; nothing
is overwritten until the user chooses (`--fresh` moves the old file aside).

The file is written and read only by the developer's own `make run` (it is as trusted as the code).
"""

from __future__ import annotations

import io
import os
import pickle
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tally_local.template import ROOT

FORMAT = 1
MAGIC = b"TALLY-LOCAL-STATE"
FILE_NAME = "state.pickle"
SERVICES = ("dynamodb", "dynamodbstreams", "sqs", "sns", "events")
SAVE_EVERY_S = 5.0  # after a change, the next snapshot is at most this late (a crash loses ≤ this)


class StateError(RuntimeError):
    """The saved state cannot be loaded; the message says why and what to do."""


def state_dir() -> Path:
    """Where `make run` keeps its state: TALLY_STATE_DIR, else `.tally/` in the repository."""
    configured = os.environ.get("TALLY_STATE_DIR", "").strip()
    return Path(configured) if configured else ROOT / ".tally"


def _header() -> bytes:
    from tally_local.moto_patch import MOTO_VERSION

    return MAGIC + f" format={FORMAT} moto={MOTO_VERSION}\n".encode()


class _Pickler(pickle.Pickler):
    """moto's SQS queues hold a `threading.Condition` (and moto may hold locks): saved as new ones."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        if isinstance(obj, type(threading.RLock())):
            return threading.RLock, ()
        if isinstance(obj, type(threading.Lock())):
            return threading.Lock, ()
        return NotImplemented


def _backends() -> dict[str, dict[str, dict[str, Any]]]:
    from moto.backends import get_backend

    return {
        service: {account: dict(regions) for account, regions in get_backend(service).items()}  # type: ignore[call-overload]
        for service in SERVICES
    }


def _install(saved: dict[str, dict[str, dict[str, Any]]]) -> None:
    from moto.backends import get_backend

    for service, accounts in saved.items():
        backend_dict = get_backend(service)  # type: ignore[call-overload]
        for account, regions in accounts.items():
            for region, backend in regions.items():
                backend_dict[account][region] = backend
    # A message received but not deleted when the stack stopped has no consumer any more: it is
    # visible again at once, not after its visibility timeout (delayed messages keep their delay).
    for regions in saved.get("sqs", {}).values():
        for backend in regions.values():
            for queue in backend.queues.values():
                for message in queue._messages:
                    message.visible_at = 0.0


class StateFile:
    """One state file; `lock` is held while moto's backends are read or replaced (moto's server
    takes the same lock around every request, so a snapshot is consistent)."""

    def __init__(self, path: Path, lock: Any) -> None:
        self.path, self.lock = path, lock

    def _refuse(self, why: str) -> StateError:
        return StateError(
            f"Tally could not load its saved local state from {self.path}: {why}.\n"
            "To start empty, run `make run FRESH=1` (or `python -m tally_local --fresh`): the old "
            f"file is kept as {self.path.name}.old. Your API key ({self.path.parent / 'local-key'}) "
            "stays the same."
        )

    def load(self) -> dict[str, Any] | None:
        """Install the saved backends into moto (before it serves); returns the saved extras (the
        stream checkpoints), or None when there is no file. Raises StateError."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._refuse(f"it cannot be read ({exc.strerror})") from exc
        header, _, body = data.partition(b"\n")
        if not header.startswith(MAGIC):
            raise self._refuse("it is not a Tally state file, or it is damaged")
        if header + b"\n" != _header():
            found = header[len(MAGIC) :].decode(errors="replace").strip()
            wanted = _header()[len(MAGIC) :].decode().strip()
            raise self._refuse(f"it was written by another version ({found}; this one reads {wanted})")
        try:
            saved = pickle.loads(body)
            backends, extras = saved["backends"], saved["extras"]
        except Exception as exc:  # truncated or damaged: any unpickling error
            raise self._refuse(f"it is damaged ({type(exc).__name__}: {exc})") from exc
        with self.lock:
            _install(backends)
        return dict(extras)

    def save(self, extras: dict[str, Any]) -> None:
        """Write the backends and `extras` atomically: the file is either the old or the new one."""
        buffer = io.BytesIO()
        buffer.write(_header())
        with self.lock:
            _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(
                {"backends": _backends(), "extras": extras}
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as out:
            out.write(buffer.getvalue())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)

    def set_aside(self) -> Path | None:
        """`--fresh`: move an existing file to `<name>.old`; returns where, or None."""
        if not self.path.exists():
            return None
        old = self.path.with_name(self.path.name + ".old")
        os.replace(self.path, old)
        return old


class Saver(threading.Thread):
    """Snapshots after changes: when `changes()` moved since the last save, at most every
    SAVE_EVERY_S seconds; `final()` saves once more when the stack stops."""

    def __init__(
        self,
        state: StateFile,
        changes: Callable[[], int],
        extras: Callable[[], dict[str, Any]],
        stop: threading.Event,
    ) -> None:
        super().__init__(name="state-saver", daemon=True)
        self.state, self.changes, self.extras, self.stop_event = state, changes, extras, stop
        self.saved_at_change = changes()
        self._save_lock = threading.Lock()

    def save_if_changed(self) -> bool:
        with self._save_lock:
            seen = self.changes()
            if seen == self.saved_at_change:
                return False
            self.state.save(self.extras())
            self.saved_at_change = seen
            return True

    def run(self) -> None:
        took = 0.0
        # A big state takes a while to pickle (under moto's lock): at most ~5 % of the time saving.
        while not self.stop_event.wait(max(SAVE_EVERY_S, 20 * took)):
            started = time.monotonic()
            try:
                self.save_if_changed()
            except Exception as exc:  # a full disk must not stop the stack; said, retried later
                print(f"[state] could not save {self.state.path}: {exc!r}", flush=True)
            took = time.monotonic() - started

    def final(self) -> None:
        started = time.monotonic()
        if self.save_if_changed():
            print(f"State saved to {self.state.path} ({time.monotonic() - started:.1f} s).", flush=True)
