"""`make run` keeps its state across restarts (`.tally/state.pickle`; here a temporary folder), starts
empty with `--fresh`, and refuses an unreadable state file with a message saying what to do."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import stripe
import support

pytestmark = pytest.mark.e2e
FROZEN = 1_700_000_000  # 2023-11-14T22:13:20Z


def _client(server: support.LocalServer, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": server.url, "meter_events": server.url})


def _usage(client: stripe.StripeClient, meter: str, customer: str, start: int) -> int:
    """The meter's summed usage for the customer over one day from `start` (0 while none is seen)."""
    summaries = client.v1.billing.meters.event_summaries.list(
        meter, {"customer": customer, "start_time": start, "end_time": start + 86_400}
    )
    return sum(int(s.aggregated_value) for s in summaries.data)


def _eventually(read, expected, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def _stopped(server: support.LocalServer) -> str:
    code, output = server.stop()
    assert code == 0, output
    return output


def test_a_restart_keeps_customers_meters_usage_test_clocks_and_the_api_key(tmp_path):
    # GIVEN a local stack with a customer on a test clock, a meter and 25 units of usage
    key = support.new_test_key()
    first = support.LocalServer.start([key], state_dir=tmp_path)
    try:
        client = _client(first, key)
        clock = client.v1.test_helpers.test_clocks.create({"frozen_time": FROZEN, "name": "kept"})
        customer = client.v1.customers.create({"name": "Kept", "test_clock": clock.id})
        meter = client.v1.billing.meters.create(
            {
                "display_name": "Kept tokens",
                "event_name": "kept_tokens",
                "default_aggregation": {"formula": "sum"},
            }
        )
        hour = FROZEN - FROZEN % 3600
        client.v1.billing.meter_events.create(
            {
                "event_name": "kept_tokens",
                "payload": {"stripe_customer_id": customer.id, "value": "25"},
                "identifier": "kept-1",
                "timestamp": hour + 60,
            }
        )
        assert _eventually(lambda: _usage(client, meter.id, customer.id, hour), 25) == 25
    finally:
        output = _stopped(first)
    assert (tmp_path / "state.pickle").exists(), output
    # WHEN the stack restarts on the same folder with ANOTHER configured key
    second = support.LocalServer.start([support.new_test_key()], state_dir=tmp_path)
    try:
        assert second.printed(re.compile("State restored from")), second.output()
        # THEN the first key still authenticates (its hash was kept), and everything is there
        client = _client(second, key)
        assert client.v1.customers.retrieve(customer.id).name == "Kept"
        assert client.v1.billing.meters.retrieve(meter.id).event_name == "kept_tokens"
        kept_clock = client.v1.test_helpers.test_clocks.retrieve(clock.id)
        assert (kept_clock.frozen_time, kept_clock.status) == (FROZEN, "ready")
        assert _usage(client, meter.id, customer.id, hour) == 25
        # AND the event's identifier is still known: a retry after the restart counts nothing twice
        client.v1.billing.meter_events.create(
            {
                "event_name": "kept_tokens",
                "payload": {"stripe_customer_id": customer.id, "value": "25"},
                "identifier": "kept-1",
                "timestamp": hour + 60,
            }
        )
        time.sleep(0.5)  # past any asynchronous aggregation, which would count it by now
        assert _usage(client, meter.id, customer.id, hour) == 25
        # AND the clock still advances after the restart (its queue's poller runs)
        client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": FROZEN + 3600})
        ready = _eventually(lambda: client.v1.test_helpers.test_clocks.retrieve(clock.id).status, "ready")
        assert ready == "ready"
    finally:
        _stopped(second)


def test_fresh_starts_empty_and_keeps_the_old_file_aside(tmp_path):
    # GIVEN a saved state holding a customer
    key = support.new_test_key()
    first = support.LocalServer.start([key], state_dir=tmp_path)
    try:
        customer = _client(first, key).v1.customers.create({"name": "Gone"})
    finally:
        _stopped(first)
    # WHEN the stack starts with --fresh (`make run FRESH=1`)
    second = support.LocalServer.start([key], state_dir=tmp_path, args=("--fresh",))
    try:
        # THEN the key works but the customer is unknown, and the old file is kept aside
        with pytest.raises(stripe.InvalidRequestError):
            _client(second, key).v1.customers.retrieve(customer.id)
        assert (tmp_path / "state.pickle.old").exists()
    finally:
        _stopped(second)


def _start_on(state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env.update(TALLY_PORT="0", TALLY_STATE_DIR=str(state_dir), TALLY_API_KEY=support.new_test_key())
    return subprocess.run(
        [sys.executable, "-m", "tally_local"],
        cwd=support.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"\x00\x01 not a state file", "not a Tally state file"),
        (b"TALLY-LOCAL-STATE format=0 moto=5.0.0\n\x80\x05N.", "written by another version"),
        (b"TALLY-LOCAL-STATE format=1 moto=5.2.5\n\x80\x05\x95truncated", "damaged"),
    ],
    ids=["garbage", "old format", "truncated"],
)
def test_an_unreadable_state_file_is_a_clear_message_not_a_crash(tmp_path, content, said):
    # GIVEN a state file that is not one this version can read
    (tmp_path / "state.pickle").write_bytes(content)
    # WHEN the stack starts on it
    result = _start_on(tmp_path)
    # THEN it exits 1 at once with what happened and what to do, no traceback, and the file is untouched
    assert result.returncode == 1, result.stdout + result.stderr
    assert said in result.stderr and "make run FRESH=1" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "state.pickle").read_bytes() == content


def test_a_crash_while_saving_leaves_the_last_good_state(tmp_path, monkeypatch):
    # GIVEN a saved state (the one write of a snapshot: a temporary file, fsync, rename)
    import threading

    from tally_local import state

    saved = state.StateFile(tmp_path / "state.pickle", threading.RLock())
    saved.save({"stream_checkpoints": {"a": "1"}})
    good = saved.path.read_bytes()

    # WHEN the process dies while writing the next one (crash point 1) or before renaming it (2)
    def dies(*_args, **_kwargs):
        raise OSError("killed")

    for crash_point in ("os.fsync", "os.replace"):
        with monkeypatch.context() as patch:
            patch.setattr(crash_point, dies)
            with pytest.raises(OSError):
                saved.save({"stream_checkpoints": {"a": "2"}})
        # THEN the file is the last good one, and it loads
        assert saved.path.read_bytes() == good
        assert saved.load() == {"stream_checkpoints": {"a": "1"}}
    # AND the next save (the retry) replaces it
    saved.save({"stream_checkpoints": {"a": "2"}})
    assert saved.load() == {"stream_checkpoints": {"a": "2"}}


def test_tables_of_an_older_template_are_named_not_used():
    # GIVEN moto holding the tables of template.yaml (as a saved state would)
    import copy

    import boto3

    from tally_local import aws
    from tally_local.template import load

    template = load()
    moto = aws.MotoServer().start()
    try:
        client = boto3.client("dynamodb", endpoint_url=moto.url, region_name="us-east-1")
        names = aws.table_names(template, prefix="tally-older-")
        aws.create_tables(template, names, client)
        assert aws.table_differences(template, names, client) == []
        # WHEN the template gains an index (the code moved on since the state was saved)
        newer = copy.deepcopy(template)
        objects = newer.tables["ObjectsTable"]
        objects["GlobalSecondaryIndexes"] = [
            *objects.get("GlobalSecondaryIndexes", []),
            {
                "IndexName": "brand_new",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ]
        # THEN the table is named as different (the start then says to run `make run FRESH=1`)
        assert aws.table_differences(newer, names, client) == ["ObjectsTable"]
    finally:
        moto.stop()
