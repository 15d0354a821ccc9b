"""The outbox delivered by `make run`'s stack (`python -m tally_local`): the objects table's stream
polled from moto, DispatchFunction, the topic, email deliveries as files in the printed mailbox
folder, and https deliveries as real POSTs to 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import support

NSUB = "/v1/notification_subscriptions"


@pytest.fixture(scope="module")
def local_server() -> Any:
    """A stack of this module's own: delivery is timed against events of these tests only, not
    behind the stream backlog the shared server's other tests leave (thousands of events)."""
    server = support.LocalServer.start([support.new_test_key() for _ in range(4)])
    yield server
    code, output = server.stop()
    assert code == 0, f"the local server exited with {code}:\n{output}"


def _post(server: support.LocalServer, key: str, path: str, data: dict[str, Any]) -> dict[str, Any]:
    resp = requests.post(f"{server.url}{path}", data=support.form_encode(data), auth=(key, ""), timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _mail(mailbox: Path, address: str) -> list[tuple[dict, dict]]:
    """(event, message attributes) of each file in the mailbox addressed to `address`."""
    out = []
    for path in sorted(mailbox.glob("*.eml")):
        head, _, body = path.read_text().partition("\n\n")
        if f"\nTo: {address}\n" not in f"\n{head}\n":
            continue
        attributes = json.loads(head.split("X-SNS-Message-Attributes: ", 1)[1].split("\n", 1)[0])
        out.append((json.loads(body), attributes))
    return out


def _wait(until: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = until()
        if found:
            return found
        time.sleep(0.05)
    return until()


def test_email_deliveries_land_in_the_mailbox_for_their_account_only(local_server):
    # GIVEN two accounts, each subscribing its own address to its customer events
    key_a, key_b = local_server.take_key(), local_server.take_key()
    mailbox = local_server.mailbox()
    _post(
        local_server,
        key_a,
        NSUB,
        {"protocol": "email", "endpoint": "e2e-a@example.com", "event_types": ["customer.*"]},
    )
    _post(
        local_server,
        key_b,
        NSUB,
        {"protocol": "email", "endpoint": "e2e-b@example.com", "event_types": ["customer.*"]},
    )
    # WHEN each creates a customer (no polling of the table: the stream carries the events)
    cus_a = _post(local_server, key_a, "/v1/customers", {"name": "A"})["id"]
    cus_b = _post(local_server, key_b, "/v1/customers", {"name": "B"})["id"]
    # THEN a file for A's address appears with A's customer.created, and one for B's with B's
    mail_a = _wait(lambda: _mail(mailbox, "e2e-a@example.com"))
    mail_b = _wait(lambda: _mail(mailbox, "e2e-b@example.com"))
    assert [(e["type"], e["data"]["object"]["id"]) for e, _ in mail_a] == [("customer.created", cus_a)]
    assert [(e["type"], e["data"]["object"]["id"]) for e, _ in mail_b] == [("customer.created", cus_b)]
    # AND A's mail never carries B's events (nor B's A's)
    account_a = mail_a[0][1]["account"]
    assert {attrs["account"] for _, attrs in _mail(mailbox, "e2e-a@example.com")} == {account_a}
    assert account_a not in {attrs["account"] for _, attrs in _mail(mailbox, "e2e-b@example.com")}


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append({"type": self.headers["x-amz-sns-message-type"], **json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_https_deliveries_are_real_posts_to_127_0_0_1(local_server):
    # GIVEN a receiver on 127.0.0.1 subscribed to the account's customer events
    key = local_server.take_key()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.got = []
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}/sns"
        _post(
            local_server,
            key,
            NSUB,
            {"protocol": "https", "endpoint": endpoint, "event_types": ["customer.created"]},
        )
        # WHEN a customer is created
        cus = _post(local_server, key, "/v1/customers", {"name": "Posted"})["id"]
        # THEN the receiver gets SNS's notification POST carrying the event
        (got,) = _wait(lambda: list(_Receiver.got))
    finally:
        server.shutdown()
        server.server_close()
    assert got["type"] == got["Type"] == "Notification"
    event = json.loads(got["Message"])
    assert (event["type"], event["data"]["object"]["id"]) == ("customer.created", cus)
