"""`make run` logs at the level the README documents: WARNING unless TALLY_LOG_LEVEL says otherwise
(README, "Run it locally"). Before, the local stack forced the handlers' logger to INFO, so every
event printed a `webhook fanned_out` line whatever TALLY_LOG_LEVEL said."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests
import support

from tally_local import aws

pytestmark = pytest.mark.e2e
TIMEOUT = 10


def _one_event_delivered(monkeypatch: pytest.MonkeyPatch, level: str | None) -> str:
    """Start a local server with TALLY_LOG_LEVEL=level (unset if None), create a customer whose
    `customer.created` reaches a webhook receiver (so it went through dispatch and the webhooks
    function, which log at INFO), stop the server and return what it printed."""
    if level is None:
        monkeypatch.delenv("TALLY_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TALLY_LOG_LEVEL", level)
    key = support.new_test_key()
    server = support.LocalServer.start([key])
    receiver = support.WebhookReceiver().start()
    try:
        http = requests.Session()
        http.auth = (key, "")
        http.post(
            f"{server.url}/v1/webhook_endpoints",
            data={"url": receiver.url, "enabled_events[]": "customer.created"},
            timeout=TIMEOUT,
        ).raise_for_status()
        http.post(f"{server.url}/v1/customers", data={"name": "Jenny"}, timeout=TIMEOUT).raise_for_status()
        deadline = time.monotonic() + 20
        while not receiver.got and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.got, "customer.created never reached the receiver"
    finally:
        receiver.stop()
        code, output = server.stop(timeout=30)
    assert code == 0, output
    return output


def test_make_run_logs_only_warnings_by_default(monkeypatch):
    # GIVEN no TALLY_LOG_LEVEL WHEN an event goes through dispatch and webhook delivery
    output = _one_event_delivered(monkeypatch, None)
    # THEN the server printed its banner and not one INFO line
    assert "Tally is running at" in output
    assert '"level":"INFO"' not in output, output


def test_tally_log_level_info_shows_a_line_per_event(monkeypatch):
    # GIVEN TALLY_LOG_LEVEL=info (any case) WHEN an event goes through dispatch and delivery
    output = _one_event_delivered(monkeypatch, "info")
    # THEN the handlers' INFO lines are printed (the fan-out and the delivery of that event)
    assert '"level":"INFO"' in output
    assert '"message":"webhook fanned_out"' in output, output


def test_an_unknown_log_level_stops_the_start_with_a_reason(monkeypatch):
    # GIVEN a typo in TALLY_LOG_LEVEL WHEN the local stack starts
    monkeypatch.setenv("TALLY_LOG_LEVEL", "verbose")
    done = subprocess.run(
        [sys.executable, "-m", "tally_local"],
        cwd=support.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # THEN it exits 1 naming the variable and the levels it takes, before starting anything
    assert done.returncode == 1
    assert "TALLY_LOG_LEVEL='VERBOSE' is not one of DEBUG, INFO, WARNING" in done.stderr
    assert "Tally is running" not in done.stdout


@pytest.mark.parametrize(
    ("value", "level"), [(None, "WARNING"), ("", "WARNING"), ("debug", "DEBUG"), (" Error ", "ERROR")]
)
def test_log_level_reads_tally_log_level(monkeypatch, value, level):
    # GIVEN TALLY_LOG_LEVEL unset, empty or set WHEN read THEN WARNING by default, else the level named
    if value is None:
        monkeypatch.delenv("TALLY_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TALLY_LOG_LEVEL", value)
    assert aws.log_level() == level
