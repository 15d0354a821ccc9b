"""The portal and dashboard pages and their assets, served by the API function itself on the HTTP
API's `$default` route (what no other route matches), locally and on AWS alike: `GET /portal`,
`GET /dashboard`, `GET /assets/<name>`. They are pages, not API routes: no key, no parameters (the
query string is the page's own), so they stay out of the API's route table.

Only the files named in `FILES` are served (no path from the request reaches the file system).
Every answer carries a strict Content-Security-Policy (scripts and styles from this origin only,
no inline script), `no-referrer` (a portal link's token never leaks to a linked site) and nosniff.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

WEB = Path(__file__).resolve().parent.parent / "web"

# served name → (file under tally/web, content type)
FILES = {
    "portal.js": ("portal.js", "text/javascript; charset=utf-8"),
    "dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "common.js": ("common.js", "text/javascript; charset=utf-8"),
    "tally.css": ("tally.css", "text/css; charset=utf-8"),
    "chart.umd.min.js": ("vendor/chart.js/chart.umd.min.js", "text/javascript; charset=utf-8"),
    "chart.js-LICENSE.md": ("vendor/chart.js/LICENSE.md", "text/markdown; charset=utf-8"),
}
PAGES = {"/portal": "portal.html", "/dashboard": "dashboard.html"}
ASSETS = "/assets/"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


@cache
def _read(name: str) -> str:
    return (WEB / name).read_text(encoding="utf-8")


def _answer(status: int, content_type: str, body: str, cache_seconds: int) -> dict[str, Any]:
    cache_control = f"public, max-age={cache_seconds}" if cache_seconds else "no-store"
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, "Cache-Control": cache_control, **SECURITY_HEADERS},
        "body": body,
        "isBase64Encoded": False,
    }


def serve(event: dict[str, Any]) -> dict[str, Any] | None:
    """The answer for a page or an asset (a GET on `$default`), or None for anything else."""
    http = (event.get("requestContext") or {}).get("http") or {}
    if event.get("routeKey") != "$default" or (http.get("method") or "").upper() != "GET":
        return None
    path = event.get("rawPath") or http.get("path") or ""
    if path in PAGES:
        return _answer(200, "text/html; charset=utf-8", _read(PAGES[path]), 0)
    if not path.startswith(ASSETS):
        return None
    found = FILES.get(path.removeprefix(ASSETS))
    if found is None:
        body = '{"error":{"type":"invalid_request_error","message":"No such asset."}}'
        return _answer(404, "application/json", body, 0)
    return _answer(200, found[1], _read(found[0]), 300)
