"""Search (Stripe's query language) over customers, products, prices, subscriptions and invoices.

The query is parsed and checked against the resource's fields (`domain.search_query`,
`domain.search_fields`), the planner picks what to read (`domain.search_plan`), and the store
reads it, keeping the objects that match every clause (`store.search`). A search reads at most
MAX_READ objects per request: when no index narrows the query (a substring, a negation, a field
without an index), a page may come back short — even empty — with `has_more` and a `next_page`
that continues where the reading stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tally.billing.subscriptions import view as subscription_view
from tally.clock import Clock
from tally.domain import search_fields, search_plan, search_query
from tally.domain.records import Customer, Invoice, Price, Product, Subscription
from tally.domain.search_plan import SearchPage
from tally.presenters.subscriptions import SubscriptionView
from tally.store import search as store

MAX_READ = 1000  # objects read per search request, whatever the query


@dataclass(frozen=True)
class SearchArgs:
    query: str
    limit: int = 10
    page: str | None = None


def _search(account: str, cls: type[Any], args: SearchArgs, clock: Clock) -> SearchPage[Any]:
    kind = cls.OBJECT
    query = search_fields.check(kind, search_query.parse(args.query))
    after = search_plan.decode_page(args.page, args.query) if args.page else None
    found = store.find(
        account,
        cls,
        search_plan.plan(kind, query),
        lambda record: search_fields.matches(kind, query, record),
        limit=args.limit,
        after=after,
        clock=clock,
        max_read=MAX_READ,
        low=search_plan.created_floor(query),
    )
    next_page = search_plan.encode_page(found.position, args.query) if found.position else None
    return SearchPage(found.data, found.has_more, next_page)


def customers(account: str, args: SearchArgs, clock: Clock) -> SearchPage[Customer]:
    return _search(account, Customer, args, clock)


def products(account: str, args: SearchArgs, clock: Clock) -> SearchPage[Product]:
    return _search(account, Product, args, clock)


def prices(account: str, args: SearchArgs, clock: Clock) -> SearchPage[Price]:
    return _search(account, Price, args, clock)


def subscriptions(account: str, args: SearchArgs, clock: Clock) -> SearchPage[SubscriptionView]:
    page = _search(account, Subscription, args, clock)
    views = [subscription_view(account, s, clock) for s in page.data]
    return SearchPage(views, page.has_more, page.next_page)


def invoices(account: str, args: SearchArgs, clock: Clock) -> SearchPage[Invoice]:
    return _search(account, Invoice, args, clock)
