"""Stage: CPU of an idle `make run` (`python -m tally_local`), the whole process tree, no requests.

The stack starts in a subprocess (its own moto, a fresh temporary state folder, a free port), is
left alone for a warm-up (the pollers back off: `tally_local.wake`), then its CPU seconds (user +
system of the process and any children, from /proc) are read at the start and the end of a window
of `seconds` of idleness. Target: < 2 % of one core (1.2 s per minute).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_SHARE = 0.02
WARM_UP_S = 10.0
_RUNNING = re.compile(r"Tally is running at (http://\S+)")


def _tree(pid: int) -> list[int]:
    """The process and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children.get(current, [])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU so far of `pid` and every live descendant (and children it reaped)."""
    ticks = 0
    for member in _tree(pid):
        try:
            fields = (Path("/proc") / str(member) / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def idle_cpu(seconds: float = 60.0, warm_up: float = WARM_UP_S) -> dict[str, Any]:
    """Start the local stack, wait `warm_up`, measure CPU over `seconds` of idleness, stop it."""
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL",)}
    env.update(
        TALLY_PORT="0",
        TALLY_API_KEY=f"sk_test_bench{secrets.token_hex(12)}",
        TALLY_STATE_DIR=tempfile.mkdtemp(prefix="tally-bench-state-"),
        TALLY_MAILBOX=tempfile.mkdtemp(prefix="tally-bench-mailbox-"),
        PYTHONUNBUFFERED="1",
    )
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tally_local", "--fresh"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            started = time.monotonic()
            while True:
                log.seek(0)
                if _RUNNING.search(log.read().decode(errors="replace")):
                    break
                if process.poll() is not None or time.monotonic() - started > 60:
                    log.seek(0)
                    raise RuntimeError(f"the local stack did not start:\n{log.read().decode()[-2000:]}")
                time.sleep(0.05)
            startup_s = time.monotonic() - started
            time.sleep(warm_up)
            before, t0 = cpu_seconds(process.pid), time.monotonic()
            time.sleep(seconds)
            used, elapsed = cpu_seconds(process.pid) - before, time.monotonic() - t0
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
    share = used / elapsed
    return {
        "window_s": round(elapsed, 1),
        "warm_up_s": warm_up,
        "startup_s": round(startup_s, 2),
        "cpu_s": round(used, 3),
        "cpu_s_per_minute": round(used * 60 / elapsed, 3),
        "core_share": round(share, 4),
        "target_share": TARGET_SHARE,
        "met": share < TARGET_SHARE,
    }
