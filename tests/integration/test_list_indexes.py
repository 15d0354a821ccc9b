"""Filtered lists read a bounded number of items: proportional to the page and the matches, never
to the account's unrelated objects (DATA-MODEL.md: the by_field index)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

DAY_MS = 86_400_000


def ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


def _unrelated(account: str, count: int, start: int) -> None:
    """`count` objects of every kind (and events) that no filter below matches, created a day ago:
    active usd one-time prices of another product, active products, active meters, canceled
    subscriptions of another customer, customers with other emails, `invoice.paid` events."""
    from tally.domain.aggregation import Formula
    from tally.domain.records import Customer, Meter, Price, Product, Subscription, SubscriptionItem
    from tally.store import bulk

    made_ms = int(time.time() * 1000) - DAY_MS
    records: list[tuple[Any, int]] = []
    for n in range(start, start + count):
        ms, s = made_ms + n, (made_ms + n) // 1000
        records += [
            (Customer(f"cus_unrel{n:09d}", s, False, "X", email=f"other{n}@example.test"), ms),
            (Product(f"prod_unrel{n:08d}", s, s, False, "Other"), ms),
            (Price(f"price_unrel{n:07d}", s, False, "usd", "prod_other", unit_amount=Decimal(5)), ms),
            (Meter(f"mtr_unrel{n:09d}", s, s, False, "Other", f"other_{n}", Formula.SUM), ms),
            (
                Subscription(
                    f"sub_unrel{n:09d}", "cus_other", s, False, "usd", "month", 1, s,
                    (SubscriptionItem(f"si_unrel{n:09d}", "price_other", s, 1),), status="canceled",
                ),
                ms,
            ),
        ]  # fmt: skip
    bulk.put_records(account, records)
    bulk.put_events(
        account,
        (
            (
                {"id": f"evt_unrel{n:09d}", "object": "event", "created": (made_ms + n) // 1000,
                 "type": "invoice.paid", "data": {"object": {"id": f"in_{n}"}}},
                made_ms + n,
            )
            for n in range(start, start + count)
        ),
    )  # fmt: skip


def _queries(api: support.Api, now: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """What each filtered list is asked, on top of a handful of matching objects."""
    product = ok(api.post("/v1/products", {"name": "Wanted", "active": "false"}))
    meter = ok(
        api.post(
            "/v1/billing/meters",
            {"display_name": "M", "event_name": "wanted_calls", "default_aggregation": {"formula": "sum"}},
        )
    )
    ok(api.post(f"/v1/billing/meters/{meter['id']}/deactivate", {}))
    ok(api.post(f"/v1/billing/meters/{meter['id']}/reactivate", {}))
    ok(api.post(f"/v1/billing/meters/{meter['id']}/deactivate", {}))
    customer = ok(api.post("/v1/customers", {"email": "wanted@example.test"}))
    recurring = {"interval": "year", "usage_type": "licensed"}
    price = ok(
        api.post(
            "/v1/prices",
            {"product": product["id"], "currency": "eur", "unit_amount": 100, "recurring": recurring,
             "lookup_key": "wanted_key"},
        )
    )  # fmt: skip
    metered = ok(api.post("/v1/billing/meters", {"display_name": "N", "event_name": "metered_calls",
                                                 "default_aggregation": {"formula": "sum"}}))  # fmt: skip
    ok(api.post("/v1/prices", {"product": product["id"], "currency": "eur", "unit_amount": 1,
                               "active": "false", "recurring": {"interval": "month", "usage_type": "metered",
                                                                "meter": metered["id"]}}))  # fmt: skip
    ok(api.post("/v1/subscriptions", {"customer": customer["id"], "items": [{"price": price["id"]}]}))
    return {
        "events type": ("/v1/events", {"type": "price.created"}),
        "events type (none)": ("/v1/events", {"type": "no.such.type"}),
        "events type prefix": ("/v1/events", {"type": "billing.meter.*"}),
        "events type first segment": ("/v1/events", {"type": "customer.*"}),
        "events types[]": ("/v1/events", {"types": ["product.created", "customer.subscription.created"]}),
        "events created": ("/v1/events", {"created": {"gte": now - 60}}),
        "customers email": ("/v1/customers", {"email": "wanted@example.test"}),
        "customers email (none)": ("/v1/customers", {"email": "nobody@example.test"}),
        "customers created": ("/v1/customers", {"created": {"gte": now - 60}}),
        "products active": ("/v1/products", {"active": "false"}),
        "products created": ("/v1/products", {"created": {"gt": now - 60}}),
        "meters status": ("/v1/billing/meters", {"status": "inactive"}),
        "prices product": ("/v1/prices", {"product": product["id"]}),
        "prices active": ("/v1/prices", {"active": "false"}),
        "prices type": ("/v1/prices", {"type": "recurring"}),
        "prices currency": ("/v1/prices", {"currency": "eur"}),
        "prices lookup_keys": ("/v1/prices", {"lookup_keys": ["wanted_key", "missing_key"]}),
        "prices recurring interval": ("/v1/prices", {"recurring": {"interval": "year"}}),
        "prices recurring usage_type": ("/v1/prices", {"recurring": {"usage_type": "metered"}}),
        "prices recurring meter": ("/v1/prices", {"recurring": {"meter": metered["id"]}}),
        "prices combined": ("/v1/prices", {"currency": "eur", "type": "recurring", "active": "true"}),
        "prices created": ("/v1/prices", {"created": {"gte": now - 60}}),
        "subscriptions default": ("/v1/subscriptions", {}),
        "subscriptions status": ("/v1/subscriptions", {"status": "active"}),
        "subscriptions customer": ("/v1/subscriptions", {"customer": customer["id"]}),
        "subscriptions price": ("/v1/subscriptions", {"price": price["id"]}),
        "subscriptions created": ("/v1/subscriptions", {"created": {"gte": now - 60}, "status": "all"}),
    }


def _read(api: support.Api, queries: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, tuple[int, list]]:
    from tally.store import lists

    out = {}
    for name, (path, params) in queries.items():
        lists.STATS.reset()
        body = ok(api.get(path, {"limit": 3, **params}))
        out[name] = (lists.STATS.items_read, [o["id"] for o in body["data"]])
    return out


def test_filtered_lists_read_the_same_items_whatever_the_unrelated_objects(api: support.Api) -> None:
    # GIVEN a few matching objects and 1,000 unrelated objects of every kind (and 1,000 events)
    queries = _queries(api, int(time.time()))
    _unrelated(api.account.id, 1000, 0)
    # WHEN every filtered list is read
    small = _read(api, queries)
    # AND again after 1,000 more unrelated objects of every kind
    _unrelated(api.account.id, 1000, 1000)
    large = _read(api, queries)
    # THEN each list answers the same and reads exactly as many items as before
    assert {k: v[1] for k, v in large.items()} == {k: v[1] for k, v in small.items()}
    assert {k: v[0] for k, v in large.items()} == {k: v[0] for k, v in small.items()}
    # AND a filter that matches nothing reads (almost) nothing
    assert small["events type (none)"] == (0, []) and small["customers email (none)"] == (0, [])
    assert all(len(ids) >= 1 for name, (_, ids) in small.items() if "(none)" not in name), small


# -- created=<int> (Stripe: equality) -------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/v1/customers", "/v1/products", "/v1/prices", "/v1/subscriptions", "/v1/events"]
)
def test_created_integer_means_exactly_then(api: support.Api, path: str) -> None:
    # GIVEN one object of each kind (and their events)
    customer = ok(api.post("/v1/customers", {"email": "c@example.test"}))
    product = ok(api.post("/v1/products", {"name": "P"}))
    price = ok(api.post("/v1/prices", {"product": product["id"], "currency": "usd", "unit_amount": 5,
                                       "recurring": {"interval": "month"}}))  # fmt: skip
    ok(api.post("/v1/subscriptions", {"customer": customer["id"], "items": [{"price": price["id"]}]}))
    newest = ok(api.get(path, {"limit": 1}))["data"][0]
    # WHEN the list is asked for objects created at one exact second
    at = ok(api.get(path, {"created": newest["created"]}))["data"]
    before = ok(api.get(path, {"created": newest["created"] - 1000}))["data"]
    after = ok(api.get(path, {"created": newest["created"] + 1000}))["data"]
    # THEN only objects created in that second are listed
    assert newest["id"] in [o["id"] for o in at]
    assert all(o["created"] == newest["created"] for o in at)
    assert before == [] and after == []


@pytest.mark.parametrize("value", ["-1", "soon", ""])
def test_created_integer_must_be_a_timestamp(api: support.Api, value: str) -> None:
    # GIVEN a bad `created` WHEN customers are listed THEN a Stripe error names the parameter
    response = api.get("/v1/customers", query=f"created={value}")
    support.assert_stripe_error(response.status, response.json, 400, param="created")


def test_meters_list_takes_no_created(api: support.Api) -> None:
    # GIVEN Stripe's meter list, which has no `created` filter WHEN it is sent THEN it is refused
    response = api.get("/v1/billing/meters", {"created": 1})
    support.assert_stripe_error(response.status, response.json, 400, param="created")


def _ids_and_reads(api: support.Api, path: str, params: dict[str, Any]) -> tuple[list[str], int]:
    from tally.store import lists

    lists.STATS.reset()
    return [o["id"] for o in ok(api.get(path, params))["data"]], lists.STATS.items_read


def test_updates_and_deletes_move_objects_between_partitions(api: support.Api) -> None:
    # GIVEN a product made inactive, a customer deleted after changing email, a canceled subscription
    product = ok(api.post("/v1/products", {"name": "P"}))
    ok(api.post(f"/v1/products/{product['id']}", {"active": "false"}))
    customer = ok(api.post("/v1/customers", {"email": "old@example.test"}))
    ok(api.post(f"/v1/customers/{customer['id']}", {"email": "new@example.test"}))
    payer = ok(api.post("/v1/customers", {}))
    price = ok(api.post("/v1/prices", {"product": product["id"], "currency": "usd", "unit_amount": 5,
                                       "recurring": {"interval": "month"}}))  # fmt: skip
    sub = ok(api.post("/v1/subscriptions", {"customer": payer["id"], "items": [{"price": price["id"]}]}))
    ok(api.delete(f"/v1/subscriptions/{sub['id']}"))
    # WHEN the lists are filtered by the old and the new values
    # THEN only the new values list them, and the old partitions are empty (nothing left to read)
    assert _ids_and_reads(api, "/v1/products", {"active": "true"}) == ([], 0)
    assert _ids_and_reads(api, "/v1/products", {"active": "false"})[0] == [product["id"]]
    assert _ids_and_reads(api, "/v1/customers", {"email": "old@example.test"}) == ([], 0)
    assert _ids_and_reads(api, "/v1/customers", {"email": "new@example.test"})[0] == [customer["id"]]
    assert _ids_and_reads(api, "/v1/subscriptions", {}) == ([], 0)
    assert _ids_and_reads(api, "/v1/subscriptions", {"status": "ended"})[0] == [sub["id"]]
    ok(api.delete(f"/v1/customers/{customer['id']}"))
    assert _ids_and_reads(api, "/v1/customers", {"email": "new@example.test"}) == ([], 0)


def test_merged_partitions_page_both_ways(api: support.Api) -> None:
    # GIVEN events of three types, interleaved
    for n in range(3):
        ok(api.post("/v1/products", {"name": f"P{n}"}))
        ok(api.post("/v1/customers", {"name": f"C{n}"}))
    wanted = {"types": ["product.created", "customer.created"]}
    every = [e["id"] for e in ok(api.get("/v1/events", {**wanted, "limit": 100}))["data"]]
    # WHEN they are paged two at a time, forwards and then backwards
    first = ok(api.get("/v1/events", {**wanted, "limit": 2}))
    second = ok(api.get("/v1/events", {**wanted, "limit": 2, "starting_after": first["data"][-1]["id"]}))
    back = ok(api.get("/v1/events", {**wanted, "limit": 2, "ending_before": second["data"][0]["id"]}))
    # THEN the merged pages follow the newest-first order of every match, without gaps or repeats
    assert len(every) == 6 and first["has_more"] and second["has_more"]
    assert [e["id"] for e in first["data"] + second["data"]] == every[:4]
    assert [e["id"] for e in back["data"]] == every[:2]
    # AND a prefix wildcard and a `*` inside a segment
    assert len(ok(api.get("/v1/events", {"type": "customer.*"}))["data"]) == 3
    response = api.get("/v1/events", {"type": "cust*"})
    support.assert_stripe_error(response.status, response.json, 400, param="type")
