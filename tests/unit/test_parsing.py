"""Request bodies: Stripe's bracket notation and JSON, into plain dicts (tally.api.parsing)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import support
from hypothesis import given
from hypothesis import strategies as st

from tally.api.parsing import MAX_DEPTH, MAX_JSON_DEPTH, MAX_KEYS, parse_body, parse_form, parse_json
from tally.errors import InvalidRequest


# -- bracket notation ------------------------------------------------------------------------------
def test_plain_pairs_stay_strings():
    # GIVEN a flat form body WHEN parsed THEN every value is a string, nothing converted yet
    assert parse_form("name=Jenny+Rosen&balance=10&ok=true") == {
        "name": "Jenny Rosen",
        "balance": "10",
        "ok": "true",
    }


def test_nested_brackets_become_dicts():
    # GIVEN a meter's nested params WHEN parsed THEN they form nested dicts
    body = (
        "default_aggregation[formula]=sum&customer_mapping[type]=by_id&customer_mapping[event_payload_key]=c"
    )
    assert parse_form(body) == {
        "default_aggregation": {"formula": "sum"},
        "customer_mapping": {"type": "by_id", "event_payload_key": "c"},
    }


def test_indexed_items_become_a_list_of_dicts():
    # GIVEN items[0][price] and items[1][price] WHEN parsed THEN items is a list in index order
    body = "items[1][price]=price_b&items[0][price]=price_a&items[0][quantity]=2"
    assert parse_form(body) == {"items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}]}


def test_percent_encoded_brackets_are_the_same_as_literal_ones():
    # GIVEN the SDKs' encoding (items%5B0%5D%5Bprice%5D) WHEN parsed THEN same as literal brackets
    assert parse_form("items%5B0%5D%5Bprice%5D=p") == parse_form("items[0][price]=p")


def test_empty_brackets_append_to_a_list():
    # GIVEN expand[]=a&expand[]=b WHEN parsed THEN expand is ["a", "b"], in order
    assert parse_form("expand[]=customer&expand[]=items.data") == {"expand": ["customer", "items.data"]}


def test_indexed_scalars_become_a_list():
    # GIVEN the SDK's indexed form of a list (expand[0]=…) WHEN parsed THEN it is a list too
    assert parse_form("expand[0]=a&expand[1]=b") == {"expand": ["a", "b"]}


def test_metadata_keeps_keys_and_empty_values():
    # GIVEN metadata with a value and an empty value (Stripe's "delete this key")
    # WHEN parsed THEN both keys are there and the empty one is ''
    assert parse_form("metadata[order]=6735&metadata[old]=") == {"metadata": {"order": "6735", "old": ""}}


def test_bare_empty_value_is_kept():
    # GIVEN `metadata=` (Stripe's "clear all") WHEN parsed THEN the value is ''
    assert parse_form("metadata=") == {"metadata": ""}


def test_non_index_keys_inside_a_list_name_stay_a_dict():
    # GIVEN a map whose keys are not all digits WHEN parsed THEN it stays a dict
    assert parse_form("tiers[0]=a&tiers[x]=b") == {"tiers": {"0": "a", "x": "b"}}


@pytest.mark.parametrize(
    "body",
    [
        "a[b=1",  # unclosed bracket
        "a[=1",  # a lone opening bracket at the end
        "a[b]c=1",  # text after a bracket
        "[a]=1",  # no name before the bracket
        "=1",  # no name at all
        "a[b]]=1",  # double closing bracket
        "a[[b]]=1",  # nested opening bracket
    ],
)
def test_malformed_names_are_rejected(body):
    # GIVEN a malformed parameter name WHEN parsed THEN a 400 parameter_invalid, not a guess
    with pytest.raises(InvalidRequest) as raised:
        parse_form(body)
    assert raised.value.status == 400
    assert raised.value.code == "parameter_invalid"


def test_nesting_up_to_the_limit_is_accepted():
    # GIVEN a name exactly MAX_DEPTH brackets deep WHEN parsed THEN accepted
    name = "a" + "".join(f"[k{i}]" for i in range(MAX_DEPTH))
    parsed = parse_form(f"{name}=v")
    for i in range(MAX_DEPTH):
        parsed = parsed["a" if i == 0 else f"k{i - 1}"]
    assert parsed == {f"k{MAX_DEPTH - 1}": "v"}


def test_nesting_deeper_than_the_limit_is_rejected():
    # GIVEN a name one level deeper than MAX_DEPTH WHEN parsed THEN rejected, naming the param
    name = "metadata" + "[k]" * (MAX_DEPTH + 1)
    with pytest.raises(InvalidRequest) as raised:
        parse_form(f"{name}=v")
    assert raised.value.param == "metadata"


def test_a_duplicate_key_is_rejected():
    # GIVEN the same name twice WHEN parsed THEN rejected instead of silently keeping one value
    with pytest.raises(InvalidRequest) as raised:
        parse_form("name=a&name=b")
    assert raised.value.param == "name"


def test_a_duplicate_nested_key_is_rejected():
    # GIVEN the same nested name twice WHEN parsed THEN rejected, naming the top-level param
    with pytest.raises(InvalidRequest) as raised:
        parse_form("items[0][price]=a&items[0][price]=b")
    assert raised.value.param == "items"


def test_a_value_and_a_hash_under_one_name_conflict():
    # GIVEN metadata=x and metadata[a]=1 WHEN parsed THEN rejected as conflicting
    with pytest.raises(InvalidRequest):
        parse_form("metadata=x&metadata[a]=1")


def test_a_list_and_a_hash_under_one_name_conflict():
    # GIVEN expand[]=a and expand[x]=b WHEN parsed THEN rejected as conflicting
    with pytest.raises(InvalidRequest):
        parse_form("expand[]=a&expand[x]=b")


@pytest.mark.parametrize(
    "body",
    [
        "items[0][price]=a&items[2][price]=c",  # gap
        "items[1][price]=b",  # does not start at 0
        "items[0]=a&items[00]=b",  # two spellings of index 0
    ],
)
def test_index_gaps_are_rejected(body):
    # GIVEN list indices that are not 0, 1, 2, … WHEN parsed THEN rejected naming the list
    with pytest.raises(InvalidRequest) as raised:
        parse_form(body)
    assert raised.value.param == "items"


def test_a_huge_index_is_a_gap_not_a_huge_list():
    # GIVEN items[99999999999] WHEN parsed THEN rejected without building a huge list
    with pytest.raises(InvalidRequest):
        parse_form("items[99999999999][price]=x")


def test_at_most_max_keys_pairs_are_accepted():
    # GIVEN exactly MAX_KEYS pairs WHEN parsed THEN accepted
    assert len(parse_form("&".join(f"k{i}=v" for i in range(MAX_KEYS)))) == MAX_KEYS


def test_more_than_max_keys_pairs_are_rejected():
    # GIVEN 10,000 pairs WHEN parsed THEN rejected quickly with a 400
    with pytest.raises(InvalidRequest):
        parse_form("&".join(f"k{i}=v" for i in range(10_000)))


def test_percent_encoded_nul_is_kept_for_the_reader_to_reject():
    # GIVEN a NUL byte in a value WHEN parsed THEN it survives (Params rejects it with the param name)
    assert parse_form("name=a%00b") == {"name": "a\x00b"}


def test_percent_encoded_invalid_utf8_is_rejected():
    # GIVEN %FF (not UTF-8) in a value WHEN parsed THEN rejected, not turned into U+FFFD
    with pytest.raises(InvalidRequest):
        parse_form("name=%FF%FE")


# -- form encoding round trip (also checks the tests' own encoder) -----------------------------------
_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
_trees = st.recursive(
    _values,
    lambda inner: (
        st.dictionaries(_names, inner, min_size=1, max_size=4) | st.lists(inner, min_size=1, max_size=4)
    ),
    max_leaves=20,
)


def _depth(node: object) -> int:
    if isinstance(node, dict):
        return 1 + max(map(_depth, node.values()))
    if isinstance(node, list):
        return 1 + max(map(_depth, node))
    return 0


@given(st.dictionaries(_names, _trees, min_size=1, max_size=5).filter(lambda d: _depth(d) <= MAX_DEPTH + 1))
def test_stripe_form_encoding_round_trips(data):
    # GIVEN any nested params within the depth limit WHEN encoded like the SDKs and parsed
    # THEN the original structure comes back
    assert parse_form(support.form_encode(data)) == data


# -- JSON -------------------------------------------------------------------------------------------
def test_json_object_is_parsed_as_is():
    # GIVEN a JSON object with nesting and lists WHEN parsed THEN the same structure comes back
    body = {"events": [{"event_name": "e", "payload": {"value": "1"}}], "n": 3}
    assert parse_json(json.dumps(body)) == body


def test_json_floats_stay_exact_strings():
    # GIVEN a float WHEN parsed THEN it is kept as its exact text (never a binary float)
    assert parse_json('{"unit_amount_decimal": 0.1}') == {"unit_amount_decimal": "0.1"}


def test_empty_json_body_is_no_params():
    # GIVEN an empty (whitespace) body WHEN parsed THEN no params
    assert parse_json("  ") == {}


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "3", "null"])
def test_json_that_is_not_an_object_is_rejected(body):
    # GIVEN valid JSON that is not an object WHEN parsed THEN a 400
    with pytest.raises(InvalidRequest):
        parse_json(body)


@pytest.mark.parametrize("body", ["{", '{"a": }', "{'a': 1}", '{"a": NaN}', '{"a": Infinity}'])
def test_invalid_json_is_rejected(body):
    # GIVEN broken JSON (or NaN/Infinity) WHEN parsed THEN a 400 parameter_invalid
    with pytest.raises(InvalidRequest) as raised:
        parse_json(body)
    assert raised.value.code == "parameter_invalid"


def test_json_nested_deeper_than_the_limit_is_rejected():
    # GIVEN an object nested beyond the JSON limit WHEN parsed THEN rejected
    body: object = "v"
    for _ in range(MAX_JSON_DEPTH + 1):
        body = {"k": body}
    with pytest.raises(InvalidRequest):
        parse_json(json.dumps(body))


def test_json_nested_to_the_limit_is_accepted():
    # GIVEN a v2 body as deep as an intent action's component configuration (and to the limit)
    body: object = "v"
    for _ in range(MAX_JSON_DEPTH):
        body = {"k": body}
    assert parse_json(json.dumps(body))["k"]


def test_pathologically_deep_json_is_rejected_without_crashing():
    # GIVEN 100,000 nested arrays (would blow the recursion limit) WHEN parsed THEN a clean 400
    with pytest.raises(InvalidRequest):
        parse_json("[" * 100_000 + "]" * 100_000)


def test_json_lone_surrogate_escape_is_rejected():
    # GIVEN "\ud800" (valid JSON syntax, but not a Unicode character) WHEN parsed THEN rejected
    with pytest.raises(InvalidRequest):
        parse_json('{"name": "\\ud800"}')


# -- choosing the parser ----------------------------------------------------------------------------
@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"])
def test_json_content_type_selects_json(ctype):
    # GIVEN a JSON content type (any case, with parameters) WHEN parsed THEN read as JSON
    assert parse_body('{"a": {"b": 1}}', ctype) == {"a": {"b": 1}}


def test_form_content_type_reads_a_json_looking_body_as_form():
    # GIVEN a JSON-looking body declared as a form WHEN parsed THEN it is one (odd) form key,
    # which the Params reader then rejects as unknown: the content type is authoritative
    parsed = parse_body(quote('{"a"', safe="") + "=1", "application/x-www-form-urlencoded")
    assert parsed == {'{"a"': "1"}


def test_missing_content_type_sniffs_json():
    # GIVEN no content type and a body starting with "{" WHEN parsed THEN read as JSON
    assert parse_body('  {"a": "1"}', "") == {"a": "1"}


def test_missing_content_type_defaults_to_form():
    # GIVEN no content type and a form body WHEN parsed THEN read as a form
    assert parse_body("a[b]=1", "") == {"a": {"b": "1"}}
