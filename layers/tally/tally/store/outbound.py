"""Signed POSTs to webhook endpoints: the only code that opens connections to customers' URLs.

Standard library only (`http.client`, what urllib uses underneath): no redirects are followed (a
3xx is an answer like any non-2xx), the whole exchange has a timeout, at most `MAX_ANSWER_BYTES`
of the answer are read. The host is resolved here, every address it resolves to is checked
(`domain.webhooks.address_allowed`: no private, loopback, link-local or reserved address, unless
local mode allows 127.0.0.1), and the connection goes to the checked address itself — TLS still
verifies the certificate against the host name — so a DNS answer that changes between the check
and the connection (rebinding) cannot redirect the POST.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tally.domain.webhooks import address_allowed

MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    status: int | None  # the endpoint's HTTP status; None when there was no answer
    error: str | None  # why there was no answer
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Refused(Exception):
    """The URL resolves to an address deliveries may not reach."""


def _address(host: str, port: int, *, local: bool) -> str:
    """The first address of `host` (all of them must be allowed), or Refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused(f"could not resolve {host}: {exc.strerror}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(address_allowed(a, local=local) for a in addresses):
        raise Refused(f"{host} resolves to an address webhooks may not reach")
    return addresses[0]


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with SNI and certificate checks against the URL's host."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, local: bool) -> Answer:
    """POST `body` to `url`; never raises for what the endpoint (or its network) does."""
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cut = threading.Event()
    try:
        address = _address(host, port, local=local)
        kind = _PinnedHTTPS if https else _PinnedHTTP
        conn = kind(host, address, port, timeout)
        # The socket timeout bounds each read; this bounds the whole exchange (an endpoint that
        # drips its answer a byte at a time is cut off at `timeout` too).
        watchdog = threading.Timer(timeout, _abort, [conn, cut])
        watchdog.start()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read(MAX_ANSWER_BYTES)
        finally:
            watchdog.cancel()
            conn.close()
        if cut.is_set():  # what was read before the cut (even a status) is not an answer
            raise TimeoutError
        return Answer(response.status, None, took())
    except Refused as exc:
        return Answer(None, str(exc), took())
    except TimeoutError:
        return Answer(None, f"timed out after {timeout:g} s", took())
    except (OSError, http.client.HTTPException) as exc:
        if cut.is_set():
            return Answer(None, f"timed out after {timeout:g} s", took())
        return Answer(None, f"{type(exc).__name__}: {exc}"[:300], took())


def _abort(conn: http.client.HTTPConnection, cut: threading.Event) -> None:
    """Cut a connection still open at the deadline (its blocked read then ends)."""
    cut.set()
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
