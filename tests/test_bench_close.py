"""Smoke test of the bench's period-close stage (bench/close_periods.py) at a tiny N.

It runs `python -m bench --close-only` in a fresh interpreter (the bench starts its own moto
server, sets the process environment and patches botocore to count calls: none of that may leak
into the test session), then checks what the stage reports.
"""

from __future__ import annotations

import json
import subprocess
import sys

import support


def test_close_stage_bills_every_due_subscription_with_constant_requests(tmp_path):
    out = tmp_path / "close.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--close-only", "--close-sizes", "3,12", "--out", str(out)],
        cwd=support.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    stage = json.loads(out.read_text())["close_periods"]
    small, large = stage["runs"]
    for run in (small, large):
        n = run["subscriptions"]
        assert run["close"]["sent"] == run["bill"]["messages"] == n
        assert run["bill"]["failures"] == 0 and run["second_close"]["sent"] == 0
        assert run["bill"]["invocations"] == -(-n // 10)  # batches of 10, as the event source sends
        assert run["check"]["sampled"] > 0
    # The worker's requests per subscription do not depend on N, and stay within the target.
    assert small["bill"]["requests"] / 3 == large["bill"]["requests"] / 12 <= 10
    assert stage["bill_requests_constant"]
