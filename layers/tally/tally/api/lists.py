"""Lists the Stripe way: cursor and `created` params in, list envelopes out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
