"""Delivery latency, locally: from an event's write to its receipt by an https subscriber and by
the email mailbox. `python -m bench.delivery [--events 50]` (docs/PERFORMANCE.md, "Delivery").

It starts the `make run` stack in this process (moto single-threaded, the gateway, the stream
poller feeding DispatchFunction, the local SNS delivery), subscribes an https receiver on
127.0.0.1 and an email address to `customer.created`, then creates customers one at a time and
times each: `request` is the POST /v1/customers round trip (the event is written inside it),
`https` and `email` run from the request's start (an upper bound of write → receipt) to the
receiver's POST and to the mailbox file. Writes start after a random 0–100 ms pause, so they are
not in step with the stream poller's 50 ms idle interval.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import random
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: dict[str, float] = {}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        at = time.perf_counter()
        event = json.loads(json.loads(body)["Message"])
        type(self).received[event["data"]["object"]["id"]] = at
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _mailed(mailbox: Path, seen: dict[str, float]) -> None:
    for path in mailbox.glob("*.eml"):
        if path.name in seen:
            continue
        body = path.read_text().partition("\n\n")[2]
        seen[path.name] = time.perf_counter()
        seen[json.loads(body)["data"]["object"]["id"]] = seen[path.name]


def _stats(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[max(0, int(len(ms) * 0.95) - 1)], 1),
        "max_ms": round(ms[-1], 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def run(events: int) -> dict[str, Any]:
    os.environ["TALLY_MAILBOX"] = mailbox = tempfile.mkdtemp(prefix="tally-bench-mailbox-")
    from tally_local.stack import Stack

    key = f"sk_test_bench{secrets.token_hex(16)}"
    stack = Stack(port=0, keys=[key]).start()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    session = requests.Session()
    session.auth = (key, "")
    try:
        for protocol, endpoint in (
            ("https", f"http://127.0.0.1:{receiver.server_port}/sns"),
            ("email", "bench@example.com"),
        ):
            resp = session.post(
                f"{stack.url}/v1/notification_subscriptions",
                data={"protocol": protocol, "endpoint": endpoint, "event_types[0]": "customer.created"},
            )
            assert resp.status_code == 200, resp.text
        mailed: dict[str, float] = {}
        request, https, email = [], [], []
        jitter = random.Random(7)
        for n in range(events):
            # Not in step with the poller: a write right after a delivery would always wait its full
            # idle interval (the previous receipt is seen right after a poll).
            time.sleep(jitter.uniform(0, 0.1))
            start = time.perf_counter()
            resp = session.post(f"{stack.url}/v1/customers", data={"name": f"bench {n}"})
            answered = time.perf_counter()
            assert resp.status_code == 200, resp.text
            cus = resp.json()["id"]
            deadline = time.monotonic() + 30
            while (cus not in _Receiver.received or cus not in mailed) and time.monotonic() < deadline:
                _mailed(Path(mailbox), mailed)
                time.sleep(0.002)
            assert cus in _Receiver.received and cus in mailed, f"event of {cus} not delivered in 30 s"
            request.append(answered - start)
            https.append(_Receiver.received[cus] - start)
            email.append(mailed[cus] - start)
        return {
            "events": events,
            "request": _stats(request),
            "write_to_https_post": _stats(https),
            "write_to_mailbox_file": _stats(email),
        }
    finally:
        receiver.shutdown()
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50)
    result = run(parser.parse_args().events)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
