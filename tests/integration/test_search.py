"""GET /v1/{customers,products,prices,subscriptions}/search through the API function: Stripe's
query language, the search_result envelope, `page` cursors, the metadata index and its limits."""

from __future__ import annotations

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")


def _post(api: support.Api, path: str, **data) -> dict:
    response = api.post(path, data)
    assert response.status == 200, response.text
    return response.json


def _search(api: support.Api, resource: str, query: str, **params) -> dict:
    response = api.get(f"/v1/{resource}/search", {"query": query, **params})
    assert response.status == 200, response.text
    return response.json


def _ids(result: dict) -> list[str]:
    return [item["id"] for item in result["data"]]


def _catalog(api: support.Api) -> tuple[dict, dict, dict]:
    product = _post(api, "/v1/products", name="Pro plan", description="For teams", metadata={"tier": "pro"})
    monthly = _post(
        api,
        "/v1/prices",
        currency="usd",
        unit_amount=2000,
        product=product["id"],
        recurring={"interval": "month"},
        lookup_key="pro_monthly",
        metadata={"tier": "pro"},
    )
    once = _post(api, "/v1/prices", currency="eur", unit_amount=500, product=product["id"])
    return product, monthly, once


# -- customers ------------------------------------------------------------------------------------
def test_customers_search_by_email_returns_a_search_result(api):
    # GIVEN two customers
    jenny = _post(api, "/v1/customers", email="jenny@example.com", name="Jenny Rosen")
    _post(api, "/v1/customers", email="ada@example.com", name="Ada")
    # WHEN searching by email (any case)
    result = _search(api, "customers", "email:'JENNY@example.com'")
    # THEN Stripe's search_result envelope with only Jenny
    assert result == {
        "object": "search_result",
        "data": [jenny],
        "has_more": False,
        "next_page": None,
        "url": "/v1/customers/search",
    }


def test_customers_search_by_metadata_substring_created_or_and_negation(api):
    # GIVEN three customers with metadata
    a = _post(api, "/v1/customers", name="Jenny Rosen", metadata={"plan": "pro", "region": "eu"})
    b = _post(api, "/v1/customers", name="Jenny Appleseed", phone="+15551234", metadata={"plan": "free"})
    c = _post(api, "/v1/customers", name="Ada Lovelace", metadata={"plan": "pro"})
    # THEN each clause form selects what Stripe's rules say, newest first
    assert _ids(_search(api, "customers", "metadata['plan']:'pro'")) == [c["id"], a["id"]]
    assert _ids(_search(api, "customers", "name~'jenny'")) == [b["id"], a["id"]]
    assert _ids(_search(api, "customers", "name~'jenny' AND -metadata['plan']:'free'")) == [a["id"]]
    assert _ids(_search(api, "customers", "metadata['plan']:'free' OR metadata['region']:'EU'")) == [
        b["id"],
        a["id"],
    ]
    assert _ids(_search(api, "customers", "metadata['region']:null")) == [c["id"], b["id"]]
    assert _ids(_search(api, "customers", f"created>={a['created']} phone~'555'")) == [b["id"]]
    assert _ids(_search(api, "customers", f"created<{a['created']}")) == []


def test_the_metadata_index_follows_updates_and_deletes(api):
    # GIVEN a customer found by a metadata pair
    cus = _post(api, "/v1/customers", metadata={"plan": "pro"})
    assert _ids(_search(api, "customers", "metadata['plan']:'pro'")) == [cus["id"]]
    # WHEN the value changes THEN the old pair no longer finds it and the new one does
    _post(api, f"/v1/customers/{cus['id']}", metadata={"plan": "team"})
    assert _ids(_search(api, "customers", "metadata['plan']:'pro'")) == []
    assert _ids(_search(api, "customers", "metadata['plan']:'team'")) == [cus["id"]]
    # WHEN it is deleted THEN nothing finds it
    assert api.delete(f"/v1/customers/{cus['id']}").status == 200
    assert _ids(_search(api, "customers", "metadata['plan']:'team'")) == []


def test_replacing_fifty_metadata_pairs_fits_one_transaction(api):
    # GIVEN a customer with the maximum 50 metadata keys
    cus = _post(api, "/v1/customers", metadata={f"k{i}": "old" for i in range(50)})
    # WHEN all 50 values change at once (50 Puts + 50 Deletes would exceed 100 actions)
    _post(api, f"/v1/customers/{cus['id']}", metadata={f"k{i}": "new" for i in range(50)})
    # THEN the update succeeds and every new pair finds it
    assert _ids(_search(api, "customers", "metadata['k49']:'new'")) == [cus["id"]]
    # AND the 2 Deletes that did not fit (the last removed pairs, k8 and k9) stayed as stale
    # entries, which the search reads and rejects
    from tally.store.models import ObjectItem
    from tally.store.search_index import metadata_key

    def entries(key: str) -> int:
        return len(list(ObjectItem.query(metadata_key(api.account.id, "customer", key, "old"))))

    assert (entries("k0"), entries("k49"), entries("k8"), entries("k9")) == (0, 0, 1, 1)
    stale = "metadata['k8']:'old' OR metadata['k9']:'old' OR metadata['k0']:'old'"
    assert _ids(_search(api, "customers", stale)) == []


def test_a_price_and_its_product_data_with_fifty_metadata_keys_each_are_both_found(api):
    # GIVEN a price created with product_data, each carrying 50 metadata keys: one transaction
    # holds both objects, both events and 100 index entries — more than its 100 actions
    price = _post(
        api,
        "/v1/prices",
        currency="usd",
        unit_amount="5",
        metadata={f"p{i}": "price" for i in range(50)},
        product_data={"name": "Both", "metadata": {f"q{i}": "product" for i in range(50)}},
    )
    # WHEN searching by the last pair of each (the entries that did not fit are written after)
    # THEN both are found
    assert _ids(_search(api, "prices", "metadata['p49']:'price'")) == [price["id"]]
    assert _ids(_search(api, "products", "metadata['q49']:'product'")) == [price["product"]]
    assert _ids(_search(api, "products", "metadata['q0']:'product'")) == [price["product"]]


def test_search_is_per_account(api, other_account):
    # GIVEN a customer in another account with the same metadata
    _post(api.as_(other_account), "/v1/customers", email="x@example.com", metadata={"k": "v"})
    # WHEN this account searches THEN it sees nothing of the other's
    assert _search(api, "customers", "metadata['k']:'v'")["data"] == []
    assert _search(api, "customers", "email:'x@example.com'")["data"] == []


# -- pages ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["metadata['batch']:'1'", "name~'batch'"])
def test_next_page_walks_every_match_once(api, query):
    # GIVEN 7 matching customers (found through the metadata index, or by reading every customer)
    ids = [_post(api, "/v1/customers", name=f"batch {i}", metadata={"batch": "1"})["id"] for i in range(7)]
    _post(api, "/v1/customers", name="other")
    # WHEN following next_page with limit=3
    seen, page, pages = [], None, 0
    while True:
        result = _search(api, "customers", query, limit=3, **({"page": page} if page else {}))
        seen += _ids(result)
        pages += 1
        if not result["has_more"]:
            assert result["next_page"] is None
            break
        page = result["next_page"]
    # THEN every match comes back once, newest first, in 3 pages
    assert seen == ids[::-1] and pages == 3


def test_a_search_reads_at_most_max_read_objects_then_continues(api, monkeypatch):
    # GIVEN 5 customers, the oldest matching, and a read limit of 2 objects per request
    from tally.billing import search

    match = _post(api, "/v1/customers", name="needle")
    for i in range(4):
        _post(api, "/v1/customers", name=f"hay {i}")
    monkeypatch.setattr(search, "MAX_READ", 2)
    # WHEN searching with a clause no index answers
    first = _search(api, "customers", "name~'needle'")
    # THEN the first page is empty but says there is more, and the pages reach the match
    assert first["data"] == [] and first["has_more"] is True
    second = _search(api, "customers", "name~'needle'", page=first["next_page"])
    third = _search(api, "customers", "name~'needle'", page=second["next_page"])
    assert (second["data"], _ids(third), third["has_more"]) == ([], [match["id"]], False)


def test_a_created_floor_stops_the_reading(api, monkeypatch):
    # GIVEN 3 customers and a read limit of 1 object per request
    from tally.billing import search

    for i in range(3):
        _post(api, "/v1/customers", name=f"cust {i}")
    monkeypatch.setattr(search, "MAX_READ", 1)
    # WHEN searching for customers created after all of them (in 2286)
    result = _search(api, "customers", "created>9999999999 AND name~'cust'")
    # THEN the reading stops at the floor: a complete (empty) answer, not a page asking to read on
    assert (result["data"], result["has_more"], result["next_page"]) == ([], False, None)


def test_a_page_of_another_query_is_refused(api):
    # GIVEN a next_page of one query
    for _ in range(2):
        _post(api, "/v1/customers", metadata={"k": "v"})
    page = _search(api, "customers", "metadata['k']:'v'", limit=1)["next_page"]
    # WHEN it is sent with another query THEN 400 on `page`
    response = api.get("/v1/customers/search", {"query": "metadata['k']:'w'", "page": page})
    support.assert_stripe_error(response.status, response.json, 400, code="parameter_invalid", param="page")


# -- products, prices, subscriptions --------------------------------------------------------------
def test_products_search(api):
    product, _, _ = _catalog(api)
    other = _post(api, "/v1/products", name="Starter", active="false")
    assert _ids(_search(api, "products", "name~'pro' AND active:'true'")) == [product["id"]]
    assert _ids(_search(api, "products", "active:false")) == [other["id"]]
    assert _ids(_search(api, "products", "description:null")) == [other["id"]]
    assert _ids(_search(api, "products", "metadata['tier']:'pro'")) == [product["id"]]


def test_prices_search(api):
    # GIVEN a product with a recurring (lookup-keyed) and a one-time price
    product, monthly, once = _catalog(api)
    # THEN each field finds the right price
    assert _ids(_search(api, "prices", "lookup_key:'pro_monthly'")) == [monthly["id"]]
    assert _ids(_search(api, "prices", "lookup_key:'missing'")) == []
    assert _ids(_search(api, "prices", "type:'one_time'")) == [once["id"]]
    assert _ids(_search(api, "prices", "currency:'usd' AND active:'true'")) == [monthly["id"]]
    assert _ids(_search(api, "prices", f"product:'{product['id']}'")) == [once["id"], monthly["id"]]
    assert _ids(_search(api, "prices", "metadata['tier']:'pro' AND type:'recurring'")) == [monthly["id"]]
    assert _ids(_search(api, "prices", "lookup_key:'pro_monthly' AND currency:'eur'")) == []


def test_a_moved_lookup_key_finds_its_new_price(api):
    # GIVEN a lookup key transferred to another price
    product, _, _ = _catalog(api)
    moved = _post(
        api,
        "/v1/prices",
        currency="usd",
        unit_amount=100,
        product=product["id"],
        lookup_key="pro_monthly",
        transfer_lookup_key="true",
    )
    # WHEN searched THEN the claim's owner answers
    assert _ids(_search(api, "prices", "lookup_key:'pro_monthly'")) == [moved["id"]]


def test_subscriptions_search(api):
    # GIVEN two subscriptions, one canceled
    _, monthly, _ = _catalog(api)
    cus = _post(api, "/v1/customers", name="S")
    keep = _post(
        api,
        "/v1/subscriptions",
        customer=cus["id"],
        items=[{"price": monthly["id"]}],
        metadata={"order": "1"},
    )
    gone = _post(api, "/v1/subscriptions", customer=cus["id"], items=[{"price": monthly["id"]}])
    assert api.delete(f"/v1/subscriptions/{gone['id']}").status == 200
    # THEN status and metadata find them (canceled ones included), as the API presents them
    active = _search(api, "subscriptions", "status:'active'")
    assert (
        _ids(active) == [keep["id"]] and active["data"][0]["items"]["data"][0]["price"]["id"] == monthly["id"]
    )
    assert _ids(_search(api, "subscriptions", "status:'canceled'")) == [gone["id"]]
    assert _ids(_search(api, "subscriptions", "metadata['order']:'1'")) == [keep["id"]]
    assert active["url"] == "/v1/subscriptions/search"


# -- exact clauses answered from the by_field index -----------------------------------------------
DAY_MS = 86_400_000


def _unrelated(account: str, count: int, start: int) -> None:
    """`count` customers, products, prices and subscriptions that none of the searches below
    match, created a day ago: other emails, inactive products, inactive usd one-time prices of
    another product, canceled subscriptions."""
    import time
    from decimal import Decimal

    from tally.domain.records import Customer, Price, Product, Subscription, SubscriptionItem
    from tally.store import bulk

    made_ms = int(time.time() * 1000) - DAY_MS
    records: list[tuple[object, int]] = []
    for n in range(start, start + count):
        ms, s = made_ms + n, (made_ms + n) // 1000
        records += [
            (Customer(f"cus_unrel{n:09d}", s, False, "X", email=f"Other{n}@Example.test"), ms),
            (Product(f"prod_unrel{n:08d}", s, s, False, "Other", active=False), ms),
            (Price(f"price_unrel{n:07d}", s, False, "usd", "prod_other", unit_amount=Decimal(5),
                   active=False), ms),
            (
                Subscription(
                    f"sub_unrel{n:09d}", "cus_other", s, False, "usd", "month", 1, s,
                    (SubscriptionItem(f"si_unrel{n:09d}", "price_other", s, 1),), status="canceled",
                ),
                ms,
            ),
        ]  # fmt: skip
    bulk.put_records(account, records)


def _searches(api: support.Api) -> dict[str, tuple[str, str, list[str]]]:
    """A few matching objects; each search with the ids it must answer (newest first)."""
    product, monthly, once = _catalog(api)
    lower = _post(api, "/v1/customers", email="jenny@example.com")
    mixed = _post(api, "/v1/customers", email="Jenny@Example.COM")
    sub = _post(api, "/v1/subscriptions", customer=lower["id"], items=[{"price": monthly["id"]}])
    return {
        "email": ("customers", "email:'JENNY@example.com'", [mixed["id"], lower["id"]]),
        "email (none)": ("customers", "email:'nobody@example.com'", []),
        "status": ("subscriptions", "status:'active'", [sub["id"]]),
        "status or": ("subscriptions", "status:'past_due' OR status:'Active'", [sub["id"]]),
        "product": ("prices", f"product:'{product['id']}'", [once["id"], monthly["id"]]),
        "products active": ("products", "active:'true'", [product["id"]]),
        "prices active": ("prices", "active:true", [once["id"], monthly["id"]]),
        "currency": ("prices", "currency:'EUR'", [once["id"]]),
        "type": ("prices", "type:'recurring' AND active:'true'", [monthly["id"]]),
    }


def _read(api: support.Api, searches: dict[str, tuple[str, str, list[str]]]) -> dict[str, int]:
    from tally.store import search

    reads = {}
    for name, (resource, query, ids) in searches.items():
        search.STATS.reset()
        result = _search(api, resource, query)
        assert (_ids(result), result["has_more"]) == (ids, False), name
        reads[name] = search.STATS.items_read
    return reads


def test_exact_clauses_read_their_matches_not_every_object_of_the_type(api):
    # GIVEN a handful of matching objects and 300 unrelated objects of each searched type
    searches = _searches(api)
    _unrelated(api.account.id, 300, 0)
    # WHEN each exact clause is searched
    small = _read(api, searches)
    # AND again after 300 more unrelated objects of each type
    _unrelated(api.account.id, 300, 300)
    large = _read(api, searches)
    # THEN each search reads exactly as many items as before: its matches' index entries and
    # objects (at most 2 items per match, plus the other clause's rejects), never the others
    assert large == small
    assert small["email (none)"] == 0
    assert all(reads <= 2 * len(searches[name][2]) + 2 for name, reads in small.items()), small


def test_email_search_ignores_case_and_follows_updates(api):
    # GIVEN a customer whose email is not lower case
    cus = _post(api, "/v1/customers", email="Ada@Example.com", name="Ada")
    # THEN any case finds it, and the list filter stays exact (Stripe's email= is case-sensitive)
    assert _ids(_search(api, "customers", "email:'ada@example.com'")) == [cus["id"]]
    assert _ids(_search(api, "customers", "email:'ADA@EXAMPLE.COM' AND name:'ada'")) == [cus["id"]]
    assert _ids(_search(api, "customers", "email:'ada@example.com' AND name:'bob'")) == []
    assert [c["id"] for c in api.get("/v1/customers", {"email": "ada@example.com"}).json["data"]] == []
    assert [c["id"] for c in api.get("/v1/customers", {"email": "Ada@Example.com"}).json["data"]] == [
        cus["id"]
    ]
    # WHEN the email changes to another mixed-case one THEN only the new one finds it
    _post(api, f"/v1/customers/{cus['id']}", email="Lovelace@Example.com")
    assert _ids(_search(api, "customers", "email:'ada@example.com'")) == []
    assert _ids(_search(api, "customers", "email:'lovelace@EXAMPLE.com'")) == [cus["id"]]
    # WHEN it is deleted THEN nothing finds it
    assert api.delete(f"/v1/customers/{cus['id']}").status == 200
    assert _ids(_search(api, "customers", "email:'lovelace@example.com'")) == []


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("resource", "params", "code", "param", "says"),
    [
        ("customers", {}, "parameter_missing", "query", "query"),
        (
            "customers",
            {"query": "email:'a' AND name:'b' OR name:'c'"},
            "parameter_invalid",
            "query",
            "character 1",
        ),
        ("customers", {"query": "email:abc"}, "parameter_invalid", "query", "character 7"),
        ("subscriptions", {"query": "customer:'cus_1'"}, "parameter_invalid", "query", "customer"),
        ("prices", {"query": "active:'true'", "limit": "101"}, "parameter_invalid_integer", "limit", "100"),
        ("products", {"query": "active:'true'", "page": "garbage"}, "parameter_invalid", "page", "next_page"),
        (
            "products",
            {"query": "active:'true'", "starting_after": "x"},
            "parameter_unknown",
            "starting_after",
            "",
        ),
    ],
)
def test_bad_searches_get_a_stripe_error(api, resource, params, code, param, says):
    # GIVEN a malformed search WHEN sent THEN 400 naming the param (and where, for the query)
    response = api.get(f"/v1/{resource}/search", params)
    support.assert_stripe_error(response.status, response.json, 400, code=code, param=param)
    assert says in response.json["error"]["message"]
