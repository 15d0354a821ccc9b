"""Stage 7 of `python -m bench`: items read by each filtered list, at 1 k and at 100 k unrelated objects.

A few matching objects are created through the API handler; then unrelated objects (the same
mix of customers, products, prices, meters, subscriptions and events, none matching any filter)
are bulk-loaded with `tally.store.bulk` (BatchWriteItem, as the store lays them out); every
filtered list is read with `limit=3` and `tally.store.lists.STATS` counts the items read.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from bench.harness import expect_ok

DAY_MS = 86_400_000
KINDS = 6  # customers, products, prices, meters, subscriptions, events


def _unrelated(account: str, count: int, start: int) -> int:
    """`count` unrelated objects in all (count / 6 of each kind), created a day ago."""
    from tally.domain.aggregation import Formula
    from tally.domain.records import Customer, Meter, Price, Product, Subscription, SubscriptionItem
    from tally.store import bulk

    made_ms = int(time.time() * 1000) - DAY_MS
    per = count // KINDS
    written = 0
    for lo in range(start, start + per, 2000):
        records: list[tuple[Any, int]] = []
        numbers = range(lo, min(lo + 2000, start + per))
        for n in numbers:
            ms, s = made_ms + n, (made_ms + n) // 1000
            item = SubscriptionItem(f"si_unrel{n:09d}", "price_other", s, 1)
            records += [
                (Customer(f"cus_unrel{n:09d}", s, False, "X", email=f"other{n}@example.test"), ms),
                (Product(f"prod_unrel{n:08d}", s, s, False, "Other"), ms),
                (Price(f"price_unrel{n:07d}", s, False, "usd", "prod_other", unit_amount=Decimal(5)), ms),
                (Meter(f"mtr_unrel{n:09d}", s, s, False, "Other", f"other_{n}", Formula.SUM), ms),
                (Subscription(f"sub_unrel{n:09d}", "cus_other", s, False, "usd", "month", 1, s, (item,),
                              status="canceled"), ms),
            ]  # fmt: skip
        written += bulk.put_records(account, records)
        written += bulk.put_events(
            account,
            (
                ({"id": f"evt_unrel{n:09d}", "object": "event", "created": (made_ms + n) // 1000,
                  "type": "invoice.paid", "data": {"object": {"id": f"in_{n}"}}}, made_ms + n)
                for n in numbers
            ),
        )  # fmt: skip
    return written


def _matching(run: Any, now: int) -> dict[str, tuple[str, dict[str, Any]]]:
    b = run.bench

    def post(path: str, form: dict[str, Any]) -> dict[str, Any]:
        return expect_ok(b.call("POST", path, form=form), path)

    tag = run.prefix
    product = post("/v1/products", {"name": "Wanted", "active": "false"})
    meter = post("/v1/billing/meters", {"display_name": "M", "event_name": f"{tag}_wanted",
                                        "default_aggregation": {"formula": "sum"}})  # fmt: skip
    post(f"/v1/billing/meters/{meter['id']}/deactivate", {})
    customer = post("/v1/customers", {"email": f"{tag}@example.test"})
    price = post("/v1/prices", {"product": product["id"], "currency": "eur", "unit_amount": 100,
                                "recurring": {"interval": "year"}, "lookup_key": f"{tag}_key"})  # fmt: skip
    post("/v1/subscriptions", {"customer": customer["id"], "items": [{"price": price["id"]}]})
    return {
        "events type=price.created": ("/v1/events", {"type": "price.created"}),
        "events type=no.such.type": ("/v1/events", {"type": "no.such.type"}),
        "events type=customer.*": ("/v1/events", {"type": "customer.*"}),
        "events types[]=2 types": ("/v1/events", {"types": ["product.created", "billing.meter.deactivated"]}),
        "events created[gte]": ("/v1/events", {"created": {"gte": now - 60}}),
        "customers email": ("/v1/customers", {"email": f"{tag}@example.test"}),
        "customers email (no match)": ("/v1/customers", {"email": "nobody@example.test"}),
        "products active=false": ("/v1/products", {"active": "false"}),
        "meters status=inactive": ("/v1/billing/meters", {"status": "inactive"}),
        "prices product": ("/v1/prices", {"product": product["id"]}),
        "prices currency=eur": ("/v1/prices", {"currency": "eur"}),
        "prices type=recurring": ("/v1/prices", {"type": "recurring"}),
        "prices recurring[interval]=year": ("/v1/prices", {"recurring": {"interval": "year"}}),
        "prices lookup_keys[]": ("/v1/prices", {"lookup_keys": [f"{tag}_key"]}),
        "prices created[gte]": ("/v1/prices", {"created": {"gte": now - 60}}),
        "subscriptions (default: not canceled)": ("/v1/subscriptions", {}),
        "subscriptions price": ("/v1/subscriptions", {"price": price["id"]}),
        "subscriptions status=active": ("/v1/subscriptions", {"status": "active"}),
    }


def _read(run: Any, queries: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    from tally.store import lists

    out = {}
    for name, (path, params) in queries.items():
        lists.STATS.reset()
        query = _encode(params | {"limit": 3})
        t0 = time.perf_counter()
        body = expect_ok(run.bench.call("GET", f"{path}?{query}"), name)
        out[name] = {
            "items_read": lists.STATS.items_read,
            "requests": lists.STATS.requests,
            "returned": len(body["data"]),
            "ms_in_moto": round((time.perf_counter() - t0) * 1000, 1),
        }
    return out


def _encode(params: dict[str, Any]) -> str:
    from tally.api.parsing import encode_form

    return encode_form(params)


def list_reads(run: Any, small: int = 1000, large: int = 100_000) -> dict[str, Any]:
    small, large = max(KINDS, int(small * run.scale)), max(KINDS * 2, int(large * run.scale))
    queries = _matching(run, int(time.time()))
    t0 = time.perf_counter()
    items = _unrelated(run.bench.account, small, 0)
    run.say(f"      loaded {small:,} unrelated objects ({items:,} items) in {time.perf_counter() - t0:.1f} s")
    at_small = _read(run, queries)
    t0 = time.perf_counter()
    items += _unrelated(run.bench.account, large - small, small)
    run.say(f"      loaded {large:,} unrelated objects ({items:,} items) in {time.perf_counter() - t0:.1f} s")
    at_large = _read(run, queries)
    return {
        "unrelated": {"small": small, "large": large, "items_loaded": items},
        "lists": {name: {"small": at_small[name], "large": at_large[name]} for name in queries},
        "equal": all(at_small[n]["items_read"] == at_large[n]["items_read"] for n in queries),
    }
