"""An idle `make run` idles (its pollers back off) yet wakes at once for work (`tally_local.wake`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import boto3
import pytest
import requests
import support

pytestmark = pytest.mark.e2e
IDLE_WINDOW_S = 10.0
# The bound is 2 % of a core over a minute (measured by `make bench`); here 5 % over 10 s,
# so a neighbour's load on a shared machine cannot fail the test, while the old pollers (20 % of a
# core: the stream read every 50 ms, each queue every 0.5 s) still do.
MAX_IDLE_SHARE = 0.05


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def test_an_idle_stack_uses_little_cpu_and_wakes_at_once_for_work(tmp_path):
    # GIVEN a local stack that served a request, then was left alone for a while
    key = support.new_test_key()
    server = support.LocalServer.start([key], state_dir=tmp_path)  # as `make run`: state saved
    try:
        http = requests.Session()
        http.auth = (key, "")
        clock = http.post(f"{server.url}/v1/test_helpers/test_clocks", data={"frozen_time": 1_700_000_000})
        assert clock.status_code == 200, clock.text
        time.sleep(5)  # the pollers have backed off
        # WHEN nothing happens for IDLE_WINDOW_S
        before = cpu_seconds(server.process.pid)
        time.sleep(IDLE_WINDOW_S)
        used = cpu_seconds(server.process.pid) - before
        # THEN the whole process used less than MAX_IDLE_SHARE of a core
        assert used < MAX_IDLE_SHARE * IDLE_WINDOW_S, f"{used:.2f} s of CPU in {IDLE_WINDOW_S:.0f} s idle"
        # AND a test-clock advance (work for a queue's poller) is done at once, not after a backoff
        # (an idle poller may sleep 30 s; a loaded shared machine may take a few seconds anyway)
        started = time.monotonic()
        advance = f"{server.url}/v1/test_helpers/test_clocks/{clock.json()['id']}/advance"
        assert http.post(advance, data={"frozen_time": 1_700_003_600}).status_code == 200
        status = ""
        while time.monotonic() - started < 10 and status != "ready":
            status = http.get(f"{server.url}/v1/test_helpers/test_clocks/{clock.json()['id']}").json()[
                "status"
            ]
            time.sleep(0.02)
        assert status == "ready"
        assert time.monotonic() - started < 5.0, f"ready after {time.monotonic() - started:.2f} s"
    finally:
        code, output = server.stop()
        assert code == 0, output


def test_a_delayed_message_is_due_when_sqs_makes_it_visible():
    # GIVEN moto as the local stack serves it, and a queue with a message delayed by 3 s
    from tally_local import wake
    from tally_local.aws import MotoServer

    moto = MotoServer().start()
    try:
        sqs = boto3.client("sqs", endpoint_url=moto.url, region_name="us-east-1")
        url = sqs.create_queue(QueueName="idle-test")["QueueUrl"]
        assert moto.next_visible(url) is None
        rings = wake.BELL.rings
        sent_at = time.time()
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=3)
        # THEN the send rang the bell (a write), and the queue says when the message becomes visible,
        # so an idle poller sleeps exactly until then, not for its whole backoff
        assert wake.BELL.rings > rings
        due = moto.next_visible(url)
        assert due is not None and sent_at + 2.9 <= due <= time.time() + 3.1
        # AND reads (what idle pollers send) do not ring it
        rings = wake.BELL.rings
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None
        assert wake.BELL.rings == rings
    finally:
        moto.stop()
