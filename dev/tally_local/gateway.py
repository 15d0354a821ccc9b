"""A small HTTP API Gateway: requests become payload-2.0 events for the template's functions.

Routes come from template.yaml (see tally_local.template); handlers are loaded from
functions/<name>/app.py exactly as Lambda would, and called in-process.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tally_local.template import CompiledRoute, Template, compile_routes, match

MAX_BODY = 10 * 1024 * 1024  # API Gateway's own limit; the app enforces its 1 MiB limit itself


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


class Gateway:
    def __init__(self, template: Template, port: int, host: str = "127.0.0.1") -> None:
        self.template = template
        self.routes = compile_routes(template)
        self.handlers: dict[str, Callable[[dict, Any], dict]] = {}
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet by default
                pass

            def _serve(self) -> None:
                gateway.serve(self)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

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

    def serve(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            status, headers, payload = (
                413,
                {"Content-Type": "application/json"},
                json.dumps(
                    {"error": {"type": "invalid_request_error", "message": "Request body too large."}}
                ).encode(),
            )
            http.close_connection = True
        else:
            body = http.rfile.read(length) if length else b""
            headers_in = {k.lower(): v for k, v in http.headers.items()}
            try:
                status, headers, payload = self.invoke(http.command, http.path, headers_in, body)
            except Exception:  # the Lambda runtime would answer 500 too
                status, headers, payload = (
                    500,
                    {"Content-Type": "application/json"},
                    b'{"message":"Internal Server Error"}',
                )
        http.send_response(status)
        for k, v in headers.items():
            http.send_header(k, v)
        http.send_header("Content-Length", str(len(payload)))
        http.end_headers()
        http.wfile.write(payload)

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
