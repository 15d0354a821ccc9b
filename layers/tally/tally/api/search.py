"""GET /v1/{customers,products,prices,subscriptions,invoices}/search: Stripe's search query language.

`query` (required), `limit` (1–100, default 10), `page` (a previous result's `next_page`) and
`expand[]` in; `{"object": "search_result", "data", "has_more", "next_page", "url"}` out. What
each query reads is in docs/API.md ("Search").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tally.api.http import Request
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import search
from tally.billing.search import SearchArgs
from tally.domain.search_plan import SearchPage
from tally.presenters.customers import customer
from tally.presenters.invoices import invoice
from tally.presenters.prices import price
from tally.presenters.products import product
from tally.presenters.subscriptions import subscription

routes = Routes()
MAX_QUERY = 5000  # characters


def search_args(params: Params) -> SearchArgs:
    """Read `query`, `limit`, `page` and `expand[]`; anything else is `parameter_unknown`."""
    query = params.str("query", required=True, max_length=MAX_QUERY)
    limit = params.int("limit", min=1, max=100)
    page = params.str("page", max_length=1000)
    params.expand()
    params.done()
    return SearchArgs(str(query), 10 if limit is None else limit, page)


def envelope(url: str, page: SearchPage[Any], present: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "search_result",
        "data": [present(item) for item in page.data],
        "has_more": page.has_more,
        "next_page": page.next_page,
        "url": url,
    }


@routes.route("GET /v1/customers/search")
def customers(request: Request) -> dict[str, Any]:
    args = search_args(request.params())
    return envelope("/v1/customers/search", search.customers(request.account, args, request.clock), customer)


@routes.route("GET /v1/products/search")
def products(request: Request) -> dict[str, Any]:
    args = search_args(request.params())
    return envelope("/v1/products/search", search.products(request.account, args, request.clock), product)


@routes.route("GET /v1/prices/search")
def prices(request: Request) -> dict[str, Any]:
    args = search_args(request.params())
    return envelope("/v1/prices/search", search.prices(request.account, args, request.clock), price)


@routes.route("GET /v1/subscriptions/search")
def subscriptions(request: Request) -> dict[str, Any]:
    args = search_args(request.params())
    page = search.subscriptions(request.account, args, request.clock)
    return envelope("/v1/subscriptions/search", page, subscription)


@routes.route("GET /v1/invoices/search")
def invoices(request: Request) -> dict[str, Any]:
    args = search_args(request.params())
    return envelope("/v1/invoices/search", search.invoices(request.account, args, request.clock), invoice)
