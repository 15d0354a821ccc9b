"""Stripe's search query language: the parser (domain.search_query), the fields each resource
searches (domain.search_fields) and the planner and page cursor (domain.search_plan)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.domain.records import Customer, Price, Recurring
from tally.domain.search_fields import check, matches
from tally.domain.search_plan import (
    BY_CUSTOMER,
    BY_FIELD,
    BY_TYPE,
    INDEXED,
    LOOKUP_KEY,
    METADATA,
    Source,
    created_floor,
    decode_page,
    encode_page,
    plan,
)
from tally.domain.search_query import Clause, parse
from tally.errors import InvalidRequest


def _error(text: str, kind: str = "customer") -> InvalidRequest:
    with pytest.raises(InvalidRequest) as raised:
        check(kind, parse(text))
    assert (raised.value.code, raised.value.param) == ("parameter_invalid", "query")
    return raised.value


# -- the parser -----------------------------------------------------------------------------------
def test_a_clause_has_a_field_an_operator_and_a_quoted_value():
    # GIVEN Stripe's own example WHEN parsed THEN two clauses joined by AND
    query = parse("name:'Jane Doe' AND metadata['foo']:'bar'")
    assert not query.any_of
    assert query.clauses == (
        Clause("name", ":", "Jane Doe", at=0),
        Clause("metadata", ":", "bar", key="foo", at=20),
    )


def test_double_quotes_escapes_numbers_null_booleans_and_negation():
    # GIVEN every value form WHEN parsed THEN each becomes its Python value
    query = parse('-email:"a\\"b" created>=1609459200 phone:null active:true metadata["k"]:\'it\\\'s\'')
    assert [(c.field, c.op, c.value, c.negated) for c in query.clauses] == [
        ("email", ":", 'a"b', True),
        ("created", ">=", 1609459200, False),
        ("phone", ":", None, False),
        ("active", ":", True, False),
        ("metadata", ":", "it's", False),
    ]


def test_or_joins_and_keywords_are_case_insensitive():
    # GIVEN clauses joined by `or` WHEN parsed THEN the query matches any of them
    assert parse("email:'a@b.c' or email:'d@e.f'").any_of is True
    # and a bare space is an AND
    assert parse("email:'a@b.c'   name:'x'").any_of is False


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("email:'a' AND name:'b' OR name:'c'", 1, "cannot be combined"),
        ("email:'a' name:'b' OR name:'c'", 1, "cannot be combined"),
        ("email:'abc", 7, "no closing '"),
        ("email'abc'", 6, "expected an operator"),
        ("email:abc", 7, "expected a quoted value"),
        ("email:'a'name:'b'", 10, "expected a space"),
        ("metadata[foo]:'x'", 10, "quoted metadata key"),
        ("metadata['foo':'x'", 15, "expected ]"),
        ("   ", 4, "empty"),
        ("email:'a' AND", 14, "expected a clause after AND"),
        ("(email:'a')", 1, "expected a field name"),
        (" AND ".join(["email:'a'"] * 11), 141, "at most 10 clauses"),
    ],
)
def test_a_malformed_query_says_where(text, where, says):
    # GIVEN a malformed query WHEN parsed THEN parameter_invalid on `query` naming the character
    with pytest.raises(InvalidRequest) as raised:
        parse(text)
    assert (raised.value.code, raised.value.param) == ("parameter_invalid", "query")
    assert f"at character {where}:" in raised.value.message and says in raised.value.message


QUERY_CHARACTERS = list("ab:~<>=-'\"\\[] \tANDORnulmetadcr1²٣")


@given(st.text(alphabet=st.sampled_from(QUERY_CHARACTERS), max_size=60) | st.text())
def test_any_text_is_a_query_or_a_query_error(text):
    # GIVEN any text WHEN parsed and checked for every resource THEN it is a query or a 400 on
    # `query` — never another exception (which would be a 500)
    for kind in ("customer", "product", "price", "subscription"):
        try:
            check(kind, parse(text))
        except InvalidRequest as error:
            assert (error.code, error.param) == ("parameter_invalid", "query")


# -- the fields of each resource ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "text", "says"),
    [
        ("customer", "address:'x'", "cannot be searched by address"),
        ("subscription", "customer:'cus_1'", "cannot be searched by customer"),
        ("customer", "email~'ab'", "at least 3"),
        ("price", "currency~'usd'", "does not take ~"),
        ("customer", "metadata['k']~'abc'", "does not take ~"),
        ("customer", "name>'a'", "does not take >"),
        ("customer", "created>'soon'", "takes a number"),
        ("customer", "created:'²'", "takes a number"),
        ("customer", "created:'--5'", "takes a number"),
        ("product", "active:'yes'", "true or false"),
        ("product", "name:null", "never null"),
        ("customer", "email:42", "quoted string"),
        ("price", "type:'monthly'", "one of one_time, recurring"),
    ],
)
def test_a_field_takes_only_its_operators_and_values(kind, text, says):
    # GIVEN a well-formed query a resource cannot answer WHEN checked THEN the error says why
    assert says in _error(text, kind).message


def _customer(**fields) -> Customer:
    return Customer(id="cus_1", created=1_700_000_000, livemode=False, invoice_prefix="X", **fields)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("email:'JENNY@example.com'", True),  # exact matches ignore case
        ("email~'example'", True),
        ("-email~'example'", False),
        ("name:null", True),
        ("-phone:null", False),
        ("metadata['plan']:'PRO'", True),
        ("metadata['plan']:'pro' AND metadata['other']:null", True),
        ("metadata['Plan']:'pro'", False),  # keys are exact
        ("created>1700000000", False),
        ("created>=1700000000 AND created<=1700000000", True),
        ("created:1700000000", True),
        ("email:'x@y.z' OR metadata['plan']:'pro'", True),
        ("email:'x@y.z' AND metadata['plan']:'pro'", False),
    ],
)
def test_a_customer_matches(text, expected):
    # GIVEN a customer WHEN a checked query is evaluated THEN it matches as Stripe's rules say
    jenny = _customer(email="jenny@example.com", metadata={"plan": "pro"})
    assert matches("customer", check("customer", parse(text)), jenny) is expected


def test_price_type_lookup_key_and_active():
    # GIVEN a recurring price with a lookup key
    price = Price(
        id="price_1",
        created=1,
        livemode=False,
        currency="usd",
        product="prod_A",
        unit_amount=Decimal(100),
        recurring=Recurring("month"),
        lookup_key="Pro_Monthly",
    )

    def hit(text: str) -> bool:
        return matches("price", check("price", parse(text)), price)

    # THEN type is derived, active is a boolean (quoted or not), ids and lookup keys are exact
    assert hit("type:'recurring' AND active:'true' AND currency:'USD'")
    assert not hit("active:false")
    assert hit("lookup_key:'Pro_Monthly'") and not hit("lookup_key:'pro_monthly'")
    assert hit("product:'prod_A'") and not hit("product:'prod_a'")


# -- the planner ----------------------------------------------------------------------------------
def _plan(kind: str, text: str) -> tuple[Source, ...]:
    return plan(kind, check(kind, parse(text)))


def test_the_planner_picks_an_index_for_an_exact_clause():
    # GIVEN an AND query with an indexed clause THEN that index alone is read (lookup key first)
    assert _plan("customer", "name~'jen' AND metadata['plan']:'pro'") == (Source(METADATA, "plan", "pro"),)
    assert _plan("price", "metadata['a']:'b' lookup_key:'pro'") == (Source(LOOKUP_KEY, value="pro"),)
    # AND nothing indexed (a substring, a negation, a null, a field without an index) reads by type
    for text in ("name~'jen'", "-metadata['plan']:'pro'", "metadata['plan']:null", "name:'Jen'"):
        assert _plan("customer", text) == (Source(BY_TYPE),)
    for text in ("email:null", "email:''", "-email:'a@b.c'", "email~'a@b'"):
        assert _plan("customer", text) == (Source(BY_TYPE),)


def test_exact_clauses_on_filtered_fields_read_the_by_field_index():
    # GIVEN an exact clause on a field with list-filter entries THEN its by_field partition(s):
    # text in any case (the value case-folded), ids exact, booleans as the entries spell them
    assert _plan("customer", "email:'Jenny@Example.COM'") == (
        Source(BY_FIELD, "email", "jenny@example.com", True),
    )
    assert _plan("subscription", "status:'ACTIVE'") == (Source(BY_FIELD, "status", "active", True),)
    assert _plan("invoice", "status:'Paid'") == (Source(BY_FIELD, "status", "paid", True),)
    by_sub = (Source(BY_FIELD, "subscription", "sub_1"),)
    assert _plan("invoice", "subscription:'sub_1' status:'open'") == by_sub
    assert _plan("invoice", "status:'open' customer:'cus_1'") == (Source(BY_CUSTOMER, value="cus_1"),)
    assert _plan("price", "product:'prod_AbC'") == (Source(BY_FIELD, "product", "prod_AbC"),)
    assert _plan("price", "currency:'EUR'") == (Source(BY_FIELD, "currency", "eur", True),)
    assert _plan("price", "type:'Recurring'") == (Source(BY_FIELD, "type", "recurring", True),)
    assert _plan("product", "active:'true'") == (Source(BY_FIELD, "active", "true"),)
    assert _plan("price", "active:false") == (Source(BY_FIELD, "active", "false"),)
    # AND an AND query reads the most selective index: lookup key, email, metadata, product, …
    assert _plan("customer", "metadata['a']:'1' AND email:'a@b.c'") == (
        Source(BY_FIELD, "email", "a@b.c", True),
    )
    assert _plan("price", "active:true AND type:'one_time' AND product:'prod_1'") == (
        Source(BY_FIELD, "product", "prod_1"),
    )
    assert _plan("price", "active:true AND metadata['a']:'1'") == (Source(METADATA, "a", "1"),)
    assert _plan("price", "product:'prod_1' AND lookup_key:'k'") == (Source(LOOKUP_KEY, value="k"),)
    # AND an OR of indexed clauses reads each partition, merged
    assert _plan("subscription", "status:'active' OR status:'trialing'") == (
        Source(BY_FIELD, "status", "active", True),
        Source(BY_FIELD, "status", "trialing", True),
    )


def test_every_indexed_clause_has_entries_the_store_writes():
    # GIVEN the planner's by_field fields THEN the store writes entries for each, and a twin in
    # any case for those searched case-insensitively
    from tally.domain.records import Invoice, Product, Subscription, SubscriptionItem
    from tally.domain.search_fields import BOOL, EXACT, FIELDS
    from tally.store import filters

    samples = {
        "customer": Customer("cus_1", 1, False, "C", email="A@B.c"),
        "product": Product("prod_1", 1, 1, False, "P"),
        "price": Price("price_1", 1, False, "usd", "prod_1", unit_amount=Decimal(5)),
        "subscription": Subscription(
            "sub_1", "cus_1", 1, False, "usd", "month", 1, 1, (SubscriptionItem("si_1", "price_1", 1, 1),)
        ),
        "invoice": Invoice("in_1", "cus_1", "sub_1", 1, False, "usd", 0, 1, (), 0, 0, 0, 0),
    }
    for kind, fields in INDEXED.items():
        written = {field for field, _ in filters.of_record(samples[kind])}
        assert set(fields) <= written, kind
        for field in fields:
            if FIELDS[kind][field].type not in (EXACT, BOOL):
                assert field in filters.ANY_CASE[kind], (kind, field)
    # AND a value that is not case-folded gets its folded twin; a folded one does not
    assert ("casefold(email)", "a@b.c") in filters.of_record(samples["customer"])
    lower = Customer("cus_2", 1, False, "C", email="a@b.c")
    assert {f for f, _ in filters.of_record(lower)} == {"email"}


def test_an_or_query_reads_every_index_or_everything():
    # GIVEN an OR whose clauses are all indexed THEN each index is read (merged)
    assert _plan("customer", "metadata['a']:'1' OR metadata['b']:'2'") == (
        Source(METADATA, "a", "1"),
        Source(METADATA, "b", "2"),
    )
    # AND one clause without an index means reading every object of the type
    assert _plan("customer", "metadata['a']:'1' OR name:'Jen'") == (Source(BY_TYPE),)


def test_created_clauses_set_the_lowest_position_read():
    # GIVEN created lower bounds in an AND query THEN the floor in positions (created ms, 15 digits)
    def floor(text: str) -> str:
        return created_floor(check("customer", parse(text)))

    assert floor("created>10 AND created>=5") == "000000000011000"
    assert floor("created:10 email:'a@b.c'") == "000000000010000"
    assert floor("created>=99999999999999") == "~"  # past any position: nothing to read
    # AND upper bounds, negations and OR queries do not narrow (stamps may run ahead of created)
    for text in ("created<10", "-created>10", "created>1 OR created>5", "email:'a@b.c'"):
        assert floor(text) == ""


# -- the page cursor ------------------------------------------------------------------------------
def test_a_page_token_round_trips_for_its_own_query_only():
    # GIVEN a next_page made for a query
    token = encode_page("001700000000000#cus_1", "email:'a@b.c'")
    # THEN it decodes for that query, and is refused for another, or when forged
    assert decode_page(token, "email:'a@b.c'") == "001700000000000#cus_1"
    for page, query in ((token, "email:'x@y.z'"), ("not-a-token", "q"), (encode_page("#x", "q"), "q")):
        with pytest.raises(InvalidRequest) as raised:
            decode_page(page, query)
        assert raised.value.param == "page"
