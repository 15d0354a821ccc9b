"""A small HTTP API Gateway: requests become payload-2.0 events for the template's functions.

Routes come from template.yaml (see tally_local.template); handlers are loaded from
functions/<name>/app.py exactly as Lambda would, and called in-process.

HTTP/1.1 itself (request parsing, chunked bodies, `Expect: 100-continue`, one thread per
connection) is werkzeug's server, the one moto already depends on; this module only checks the
body framing it does not (bad or conflicting `Content-Length`, unsupported transfer codings) and
answers every error, its own or the parser's, in Stripe's JSON envelope, as the API does.
Each response closes its connection (werkzeug serves no keep-alive); clients reconnect.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tally_local import wake
from tally_local.template import CompiledRoute, Template, compile_routes, match

MAX_BODY = 10 * 1024 * 1024  # API Gateway's own limit; the app enforces its 1 MiB limit itself
READ_CHUNK = 64 * 1024
IDLE_TIMEOUT_S = 60  # a client that stops sending mid-request frees its thread after this


class LambdaContext:
    def __init__(self, function_name: str, timeout_s: int = 15) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(template: Template, logical_id: str) -> Callable[[dict, Any], dict]:
    fn = template.functions[logical_id]
    module_name, _, attr = fn.handler.rpartition(".")
    path = fn.code_dir / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"tally_function_{logical_id}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attr)


def to_event(
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    route: CompiledRoute | None,
    path_params: dict[str, str],
) -> dict[str, Any]:
    # Like AWS HTTP APIs: JSON and text/* arrive as text, everything else (forms too) base64-encoded.
    text_types = ("application/json", "text/")
    ctype = headers.get("content-type", "")
    is_text = not body or any(ctype.startswith(t) for t in text_types)
    try:
        decoded = body.decode("utf-8") if is_text else None
    except UnicodeDecodeError:
        decoded = None
    return {
        "version": "2.0",
        "routeKey": route.key if route else "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": None,
        "pathParameters": path_params or None,
        "requestContext": {
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route.key if route else "$default",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": decoded if decoded is not None else base64.b64encode(body).decode(),
        "isBase64Encoded": decoded is None,
    }


class BadRequest(Exception):
    """A request the gateway answers itself, before any function runs."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    body = {"error": {"type": "invalid_request_error" if status < 500 else "api_error", "message": message}}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _header_values(raw: list[tuple[str, str]], name: str) -> list[str]:
    """Every comma-separated value of every `name` header (field lines may repeat)."""
    return [v.strip() for k, line in raw if k.lower() == name for v in line.split(",")]


def body_length(raw: list[tuple[str, str]]) -> int | None:
    """The declared Content-Length; None when the body is chunked.

    Raises BadRequest: an invalid or ambiguous length (400), a transfer coding other than
    `chunked` (501), or both framings at once (400, which proxies could read differently)."""
    codings = [c.lower() for c in _header_values(raw, "transfer-encoding")]
    lengths = _header_values(raw, "content-length")
    if codings:
        if codings != ["chunked"]:
            raise BadRequest(501, f"Unsupported Transfer-Encoding: {', '.join(codings)}.")
        if lengths:
            raise BadRequest(400, "A request cannot have both Content-Length and Transfer-Encoding.")
        return None
    if not lengths:
        return 0  # HTTP/1.1: no framing header means no body
    if not all(v.isascii() and v.isdigit() for v in lengths) or len(set(map(int, lengths))) != 1:
        raise BadRequest(400, f"Invalid Content-Length: {', '.join(lengths)}.")
    return int(lengths[0])


def read_body(stream: Any, length: int | None) -> bytes:
    """Read a body of `length` bytes, or a chunked one (werkzeug dechunks `stream`).

    Raises BadRequest: over MAX_BODY (413), cut short or malformed chunks (400)."""
    if length is not None and length > MAX_BODY:
        raise BadRequest(413, "Request body too large.")
    wanted = MAX_BODY + 1 if length is None else length
    parts: list[bytes] = []
    got = 0
    try:
        while got < wanted:
            part = stream.read(min(READ_CHUNK, wanted - got))
            if not part:
                break
            parts.append(part)
            got += len(part)
    except OSError as exc:  # werkzeug's DechunkedInput: bad chunk sizes or terminators
        raise BadRequest(400, f"Malformed chunked request body ({exc}).") from exc
    if length is None and got > MAX_BODY:
        raise BadRequest(413, "Request body too large.")
    if length is not None and got < length:
        raise BadRequest(400, f"The request body ended after {got} of {length} bytes (Content-Length).")
    return b"".join(parts)


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler, quiet, with the raw request target and header lines kept for the event,
    and errors of the HTTP parser itself (bad request line, too many headers) as JSON."""

    protocol_version = "HTTP/1.1"
    # A request line too malformed to carry a version still gets a status line (not HTTP/0.9's bare
    # body): no client speaks HTTP/0.9.
    default_request_version = "HTTP/1.0"
    timeout = IDLE_TIMEOUT_S

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ["tally.target"] = self.path
        environ["tally.headers"] = list(self.headers.items())
        return environ

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        status, headers, payload = error_response(code, message or HTTPStatus(code).phrase)
        self.close_connection = True
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log(self, type: str, message: str, *args: Any) -> None:  # quiet by default
        pass


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Status {status}"


class Gateway:
    def __init__(self, template: Template, port: int, host: str = "127.0.0.1") -> None:
        self.template = template
        self.routes = compile_routes(template)
        self.handlers: dict[str, Callable[[dict, Any], dict]] = {}
        self._lock = threading.Lock()
        # Bound here, not by werkzeug, so a taken port is an OSError for the caller (werkzeug
        # would print and exit).
        self._socket = socket.create_server((host, port), backlog=128)
        self.server: BaseWSGIServer = make_server(
            host, port, self.app, threaded=True, request_handler=_RequestHandler, fd=self._socket.fileno()
        )

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    def invoke(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict, bytes]:
        parts = urlsplit(target)
        found = match(self.routes, method, parts.path)
        if found is None:
            return 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}'
        route, params = found
        event = to_event(method, parts.path, parts.query, headers, body, route, params)
        result = self.handler(route.function)(event, LambdaContext(route.function))
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        return int(result.get("statusCode", 200)), dict(result.get("headers") or {}), payload

    def handler(self, logical_id: str) -> Callable[[dict, Any], dict]:
        """Load a function's handler on first use, like a Lambda cold start."""
        with self._lock:
            if logical_id not in self.handlers:
                self.handlers[logical_id] = load_handler(self.template, logical_id)
            return self.handlers[logical_id]

    def respond(self, environ: dict[str, Any]) -> tuple[int, dict, bytes]:
        """One request: framing checks, then the route's function (any method; HEAD and OPTIONS
        reach the `$default` route as on API Gateway)."""
        raw_headers: list[tuple[str, str]] = environ["tally.headers"]
        try:
            body = read_body(environ["wsgi.input"], body_length(raw_headers))
        except BadRequest as exc:
            return error_response(exc.status, exc.message)
        headers_in = {k.lower(): v for k, v in raw_headers}
        try:
            return self.invoke(environ["REQUEST_METHOD"], environ["tally.target"], headers_in, body)
        except Exception:  # the Lambda runtime would answer 500 too
            return 500, {"Content-Type": "application/json"}, b'{"message":"Internal Server Error"}'

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """The WSGI application werkzeug's server calls, one thread per connection."""
        status, headers, payload = self.respond(environ)
        wake.BELL.ring()  # whatever the request did, idle pollers look now (tally_local.wake)
        out = [(k, str(v)) for k, v in headers.items() if k.lower() != "content-length"]
        start_response(_status_line(status), [*out, ("Content-Length", str(len(payload)))])
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else payload]

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._socket.close()
