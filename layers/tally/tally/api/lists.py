"""Lists the Stripe way: cursor and `created` params in, list envelopes out."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from tally.api.params import Params
from tally.domain.listing import Page, Window
from tally.errors import InvalidRequest


def list_args(params: Params, *, created: bool = False) -> Window:
    limit = params.int("limit", min=1, max=100)
    starting_after = params.str("starting_after", max_length=255)
    ending_before = params.str("ending_before", max_length=255)
    if starting_after and ending_before:
        raise InvalidRequest(
            "You may only specify one of these parameters: starting_after, ending_before.",
            param="ending_before",
        )
    args = Window(10 if limit is None else limit, starting_after, ending_before)
    if created and params.has("created"):
        if not params.is_hash("created"):  # a bare integer means "exactly then" (Stripe)
            args.created_gte = args.created_lte = params.int("created", required=True, min=0)
        elif (window := params.sub("created")) is not None:
            gt, gte = window.int("gt", min=0), window.int("gte", min=0)
            lt, lte = window.int("lt", min=0), window.int("lte", min=0)
            window.done()
            args.created_gte = gte if gt is None else gt + 1
            args.created_lte = lte if lt is None else lt - 1
    params.expand()
    return args


def envelope(
    url: str, page: Page[Any], present: Callable[[Any], dict[str, Any]] | None = None
) -> dict[str, Any]:
    data = page.data if present is None else [present(item) for item in page.data]
    return {"object": "list", "data": data, "has_more": page.has_more, "url": url}


def retrieve_params(request: Any) -> None:
    """`GET /v1/<objects>/{id}` takes only `expand[]` (the pipeline expands: `api/expand.py`)."""
    params = request.params()
    params.expand()
    params.done()


# -- v2 lists: `limit` and an opaque `page` token in; `data`, `next_page_url` out ---------------


def v2_list_args(params: Params, *, default: int = 20) -> Window:
    """`limit` (1–100, default 20 as Stripe's v2) and `page`: a token from a `next_page_url`."""
    limit = params.int("limit", min=1, max=100)
    token = params.str("page", max_length=400)
    after = None
    if token is not None:
        try:
            after = base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            after = ""
        if not after.isprintable() or not after or len(after) > 255:
            raise InvalidRequest("Invalid page token.", code="invalid_page_token", param="page")
    return Window(default if limit is None else limit, after, None)


def v2_envelope(
    path: str,
    page: Page[Any],
    present: Callable[[Any], dict[str, Any]],
    window: Window,
    query: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Stripe's v2 list: `data`, `next_page_url` (None on the last page), `previous_page_url`
    (always None: Tally's pages go forward only)."""
    next_url = None
    if page.has_more and page.data:
        token = base64.urlsafe_b64encode(page.data[-1].id.encode()).decode().rstrip("=")
        pairs = [("limit", str(window.limit)), *_pairs(query or {}), ("page", token)]
        next_url = f"{path}?{urlencode(pairs)}"
    return {
        "data": [present(item) for item in page.data],
        "next_page_url": next_url,
        "previous_page_url": None,
    }


def _pairs(query: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in query.items():
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        for v in values:
            out.append((key, str(v).lower() if isinstance(v, bool) else str(v)))
    return out


def v2_page(items: list[Any], window: Window) -> Page[Any]:
    """A page of an in-memory list (ordered), after the window's cursor."""
    start = 0
    if window.starting_after is not None:
        ids = [i.id for i in items]
        start = ids.index(window.starting_after) + 1 if window.starting_after in ids else len(items)
    chunk = items[start : start + window.limit]
    return Page(chunk, has_more=start + window.limit < len(items))


def lookup_keys(params: Params, max_length: int = 200) -> list[str] | None:
    """v2's `lookup_keys` filter (≤ 10 keys): an array, or one key."""
    if isinstance(params.raw("lookup_keys"), str):
        key = params.str("lookup_keys", max_length=max_length)
        return [key] if key else None
    return params.strings("lookup_keys", max_items=10, max_length=max_length)
