"""The local gateway's HTTP/1.1 framing, driven over raw sockets (what clients other than `requests`
may send): every request gets a well-formed answer, and an error is Stripe's JSON envelope."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import support

pytestmark = pytest.mark.e2e
TIMEOUT = 10


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(url: str, raw: bytes, method: str = "POST") -> Answer:
    """Send `raw` bytes as they are on a fresh connection; read and return the whole response."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT)
    try:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()  # raises (RemoteDisconnected, timeout) when no answer comes
        return Answer(response.status, response.headers, response.read())
    finally:
        sock.close()


def request(method: str, path: str, key: str | None, headers: list[str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    lines += headers
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def stripe_error(response: Answer, status: int) -> dict:
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    return support.assert_stripe_error(response.status, response.json(), status)


def customers(url: str, key: str) -> list[dict]:
    response = exchange(url, request("GET", "/v1/customers", key, []), "GET")
    assert response.status == 200, response.body
    return response.json()["data"]


FORM = "Content-Type: application/x-www-form-urlencoded"


def test_a_negative_content_length_is_a_400(local_server, e2e_key):
    # GIVEN a POST whose Content-Length is -1 (the connection stays open)
    raw = request("POST", "/v1/customers", e2e_key, [FORM, "Content-Length: -1"], b"name=Neg")
    # WHEN sent THEN a 400 Stripe error comes back at once (no thread waits for the body forever)
    stripe_error(exchange(local_server.url, raw), 400)
    # AND nothing was created
    assert customers(local_server.url, e2e_key) == []


def test_a_non_numeric_content_length_is_a_400(local_server, e2e_key):
    # GIVEN Content-Length: abc WHEN sent THEN a 400 Stripe error (not a dropped connection)
    raw = request("POST", "/v1/customers", e2e_key, [FORM, "Content-Length: abc"], b"name=Abc")
    stripe_error(exchange(local_server.url, raw), 400)
    assert customers(local_server.url, e2e_key) == []


def test_conflicting_content_lengths_are_a_400(local_server, e2e_key):
    # GIVEN two Content-Length headers that disagree (request smuggling's classic shape)
    raw = request(
        "POST", "/v1/customers", e2e_key, [FORM, "Content-Length: 8", "Content-Length: 3"], b"name=Two"
    )
    # WHEN sent THEN 400, and nothing created
    stripe_error(exchange(local_server.url, raw), 400)
    assert customers(local_server.url, e2e_key) == []


def test_a_chunked_body_is_read(local_server, e2e_key):
    # GIVEN a form body sent with Transfer-Encoding: chunked, in two chunks
    body = b"5\r\nname=\r\n6\r\nChunky\r\n0\r\n\r\n"
    raw = request("POST", "/v1/customers", e2e_key, [FORM, "Transfer-Encoding: chunked"], body)
    # WHEN sent THEN the customer is created from the whole body
    response = exchange(local_server.url, raw)
    assert response.status == 200, response.body
    assert response.json()["name"] == "Chunky"


def test_a_malformed_chunked_body_is_a_400(local_server, e2e_key):
    # GIVEN a chunk size that is not hexadecimal WHEN sent THEN 400, nothing created
    raw = request(
        "POST", "/v1/customers", e2e_key, [FORM, "Transfer-Encoding: chunked"], b"zz\r\nname=X\r\n0\r\n\r\n"
    )
    stripe_error(exchange(local_server.url, raw), 400)
    assert customers(local_server.url, e2e_key) == []


def test_an_unknown_transfer_coding_is_a_501(local_server, e2e_key):
    # GIVEN Transfer-Encoding: gzip (not supported) WHEN sent THEN 501, the body not misread as empty
    raw = request("POST", "/v1/customers", e2e_key, [FORM, "Transfer-Encoding: gzip"], b"")
    stripe_error(exchange(local_server.url, raw), 501)
    assert customers(local_server.url, e2e_key) == []


def test_content_length_with_transfer_encoding_is_a_400(local_server, e2e_key):
    # GIVEN both framings at once WHEN sent THEN 400 (a proxy and a server could disagree on the body)
    body = b"name=Both"
    headers = [FORM, "Transfer-Encoding: chunked", f"Content-Length: {len(body)}"]
    stripe_error(exchange(local_server.url, request("POST", "/v1/customers", e2e_key, headers, body)), 400)
    assert customers(local_server.url, e2e_key) == []


def test_options_is_a_stripe_404(local_server, e2e_key):
    # GIVEN OPTIONS on an API path (no CORS configured: API Gateway hands it to the $default route)
    raw = request("OPTIONS", "/v1/customers", e2e_key, [])
    # WHEN sent THEN Stripe's "Unrecognized request URL" 404 in JSON
    error = stripe_error(exchange(local_server.url, raw, "OPTIONS"), 404)
    assert "Unrecognized request URL (OPTIONS: /v1/customers)" in error["message"]


def test_head_is_a_404_without_a_body(local_server, e2e_key):
    # GIVEN HEAD on an API path
    parts = urlsplit(local_server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as sock:
        sock.sendall(request("HEAD", "/v1/customers", e2e_key, ["Connection: close"]))
        # WHEN sent (read everything the server writes until it closes)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    # THEN the $default route's 404 status and JSON type, and no body at all
    assert head.startswith(b"HTTP/1.1 404 "), raw
    assert b"content-type: application/json" in head.lower(), raw
    assert rest == b"", raw


def test_a_malformed_request_line_is_a_json_400(local_server):
    # GIVEN a request line that is not HTTP WHEN sent THEN a 400 in Stripe's envelope, not HTML
    stripe_error(exchange(local_server.url, b"NOT HTTP AT ALL\r\n\r\n", "GET"), 400)


def test_a_plain_request_still_works_on_a_raw_socket(local_server, e2e_key):
    # GIVEN an ordinary form POST with Content-Length WHEN sent THEN the customer is created
    body = b"name=Plain"
    raw = request("POST", "/v1/customers", e2e_key, [FORM, f"Content-Length: {len(body)}"], body)
    response = exchange(local_server.url, raw)
    assert response.status == 200, response.body
    assert response.json()["name"] == "Plain"
