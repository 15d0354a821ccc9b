"""The Params reader: every param is taken, converted and checked once, and named in errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tally.api.params import INT64_MAX, Params, apply_metadata
from tally.errors import InvalidRequest


def _error(call) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as raised:
        call()
    assert raised.value.status == 400
    return raised.value


# -- unknown params ---------------------------------------------------------------------------------
def test_an_untaken_param_is_unknown_and_named():
    # GIVEN a param no handler takes WHEN done() THEN parameter_unknown naming it
    params = Params({"name": "x", "nmae": "typo"})
    params.str("name")
    error = _error(params.done)
    assert (error.code, error.param) == ("parameter_unknown", "nmae")
    assert error.message == "Received unknown parameter: nmae"


def test_an_unknown_nested_param_is_named_with_its_path():
    # GIVEN created[gte] and a typo created[gtee] WHEN the sub-reader is done THEN the full path is named
    params = Params({"created": {"gte": "1", "gtee": "2"}})
    window = params.sub("created")
    assert window is not None
    window.int("gte")
    error = _error(window.done)
    assert (error.code, error.param) == ("parameter_unknown", "created[gtee]")


def test_an_unknown_param_in_a_list_item_is_named_with_its_index():
    # GIVEN items[1][prise] WHEN the item reader is done THEN items[1][prise] is named
    params = Params({"items": [{"price": "a"}, {"prise": "b"}]})
    items = params.sublist("items")
    assert items is not None
    items[0].str("price")
    items[0].done()
    error = _error(items[1].done)
    assert error.param == "items[1][prise]"


def test_ignored_params_are_not_unknown():
    # GIVEN a param explicitly ignored WHEN done() THEN no error
    params = Params({"legacy": "x"})
    params.ignore("legacy")
    params.done()


# -- strings ----------------------------------------------------------------------------------------
def test_a_missing_required_string_is_parameter_missing():
    # GIVEN no event_name WHEN required THEN parameter_missing naming it
    error = _error(lambda: Params({}).str("event_name", required=True))
    assert (error.code, error.param) == ("parameter_missing", "event_name")


def test_an_empty_optional_string_means_not_given():
    # GIVEN name='' WHEN read THEN None (Stripe treats '' as "unset")
    assert Params({"name": ""}).str("name") is None


def test_an_empty_string_is_kept_when_allowed():
    # GIVEN name='' WHEN read with empty_ok THEN ''
    assert Params({"name": ""}).str("name", empty_ok=True) == ""


def test_an_empty_required_string_is_parameter_invalid_empty_naming_the_param():
    # GIVEN event_name='' WHEN required THEN parameter_invalid_empty, and the message names the param
    error = _error(lambda: Params({"event_name": ""}).str("event_name", required=True))
    assert (error.code, error.param) == ("parameter_invalid_empty", "event_name")
    assert "{param}" not in error.message
    assert error.message.count("'event_name'") == 2


def test_an_integer_is_accepted_as_a_string():
    # GIVEN a JSON integer for a string param WHEN read THEN its decimal text
    assert Params({"name": 12}).str("name") == "12"


@pytest.mark.parametrize("value", [{"a": "b"}, ["a"], True, 1.5])
def test_a_non_string_is_invalid(value):
    # GIVEN a hash, list, bool, float or other object for a string WHEN read THEN parameter_invalid
    error = _error(lambda: Params({"name": value}).str("name"))
    assert error.param == "name"


def test_a_string_over_max_length_is_invalid():
    # GIVEN 257 chars for a 256-char field WHEN read THEN invalid
    error = _error(lambda: Params({"name": "x" * 257}).str("name", max_length=256))
    assert error.param == "name"


def test_max_length_counts_characters_not_bytes():
    # GIVEN 256 two-byte characters for a 256-char field WHEN read THEN accepted
    assert Params({"name": "é" * 256}).str("name", max_length=256) == "é" * 256


def test_a_nul_character_is_invalid():
    # GIVEN a NUL inside a string WHEN read THEN invalid (NULs break logs, CSV exports and C clients)
    error = _error(lambda: Params({"name": "a\x00b"}).str("name"))
    assert error.param == "name"


def test_a_value_outside_choices_is_invalid():
    # GIVEN formula=avg WHEN choices are sum|count|last THEN invalid, listing the choices
    error = _error(lambda: Params({"formula": "avg"}).str("formula", choices=("sum", "count", "last")))
    assert "sum, count, last" in error.message


# -- integers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("-5", -5), (7, 7), (str(INT64_MAX), INT64_MAX), ("0042", 42)],
)
def test_integers_are_converted(value, expected):
    # GIVEN an integer as text or JSON number WHEN read THEN the int
    assert Params({"n": value}).int("n") == expected


@pytest.mark.parametrize("value", ["1.5", "1e3", "abc", " 1", "+1", "0x10", "", "١٢"])
def test_non_integers_are_parameter_invalid_integer(value):
    # GIVEN text that is not a plain base-10 integer (incl. non-ASCII digits) WHEN read as required
    # THEN parameter_invalid_integer (or parameter_missing for '')
    error = _error(lambda: Params({"n": value}).int("n", required=True))
    assert error.code in ("parameter_invalid_integer", "parameter_missing")
    assert error.param == "n"


@pytest.mark.parametrize("value", [True, 1.0, ["1"], {"a": "1"}])
def test_non_integer_types_are_invalid(value):
    # GIVEN a bool, float, list or hash for an integer WHEN read THEN parameter_invalid_integer
    error = _error(lambda: Params({"n": value}).int("n"))
    assert error.code == "parameter_invalid_integer"


@pytest.mark.parametrize("value", [str(INT64_MAX + 1), "9" * 19, "9" * 20, "1" * 4000, 2**64])
def test_huge_integers_are_rejected_not_overflowed(value):
    # GIVEN integers beyond int64 (as text or JSON number) WHEN read THEN a 400 naming the param
    error = _error(lambda: Params({"n": value}).int("n"))
    assert (error.code, error.param) == ("parameter_invalid_integer", "n")


def test_integer_bounds_are_enforced():
    # GIVEN limit=0 with min 1 WHEN read THEN invalid; limit=101 with max 100 THEN invalid
    assert _error(lambda: Params({"limit": "0"}).int("limit", min=1, max=100)).param == "limit"
    assert _error(lambda: Params({"limit": "101"}).int("limit", min=1, max=100)).param == "limit"


def test_an_empty_optional_integer_means_not_given():
    # GIVEN limit='' WHEN read THEN None
    assert Params({"limit": ""}).int("limit") is None


# -- decimals and booleans ---------------------------------------------------------------------------
def test_a_decimal_keeps_twelve_places_exactly():
    # GIVEN 12 decimal places WHEN read THEN the exact Decimal
    assert Params({"d": "0.000000000001"}).decimal("d") == Decimal("0.000000000001")


@pytest.mark.parametrize("value", ["0.0000000000001", "1e-3", "NaN", "Infinity", "1,5", "١.٥", True])
def test_invalid_decimals_are_rejected(value):
    # GIVEN 13 places, exponents, NaN/Infinity, commas, non-ASCII digits or bools WHEN read THEN invalid
    assert _error(lambda: Params({"d": value}).decimal("d")).param == "d"


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), (True, True)])
def test_booleans(value, expected):
    # GIVEN Stripe's boolean spellings (or JSON booleans) WHEN read THEN the bool
    assert Params({"b": value}).bool("b") is expected


@pytest.mark.parametrize("value", ["yes", "1", "True", 1])
def test_other_boolean_spellings_are_invalid(value):
    # GIVEN yes/1/True WHEN read as a boolean THEN parameter_invalid_boolean
    assert _error(lambda: Params({"b": value}).bool("b")).code == "parameter_invalid_boolean"


# -- structures -------------------------------------------------------------------------------------
def test_a_string_where_a_hash_is_expected_is_invalid():
    # GIVEN recurring=month WHEN read as a hash THEN invalid naming it
    assert _error(lambda: Params({"recurring": "month"}).sub("recurring")).param == "recurring"


def test_a_string_where_a_list_is_expected_is_invalid():
    # GIVEN expand=customer (no brackets) WHEN read as a list THEN invalid naming it
    assert _error(lambda: Params({"expand": "customer"}).expand()).param == "expand"


def test_too_many_list_items_are_rejected():
    # GIVEN 21 expand entries WHEN the limit is 20 THEN invalid
    assert _error(lambda: Params({"expand": ["a"] * 21}).expand()).param == "expand"


def test_a_scalar_list_item_where_a_hash_is_expected_is_named_by_index():
    # GIVEN items[1]=x WHEN items are hashes THEN items[1] is named
    assert _error(lambda: Params({"items": [{"price": "p"}, "x"]}).sublist("items")).param == "items[1]"


# -- metadata ---------------------------------------------------------------------------------------
def test_metadata_values_and_deletions():
    # GIVEN metadata[a]=1 and metadata[b]='' WHEN read THEN a is set and b is marked for deletion
    assert Params({"metadata": {"a": "1", "b": ""}}).metadata() == {"a": "1", "b": None}


def test_empty_metadata_clears_everything():
    # GIVEN metadata='' WHEN read and applied THEN all keys are removed
    updates = Params({"metadata": ""}).metadata()
    assert apply_metadata({"a": "1", "b": "2"}, updates) == {}


def test_metadata_updates_merge_and_delete():
    # GIVEN current {a, b} and updates {b: deleted, c: new} WHEN applied THEN {a, c}
    assert apply_metadata({"a": "1", "b": "2"}, {"b": None, "c": "3"}) == {"a": "1", "c": "3"}


def test_absent_metadata_changes_nothing():
    # GIVEN no metadata param WHEN applied THEN the current metadata is kept
    assert apply_metadata({"a": "1"}, Params({}).metadata()) == {"a": "1"}


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({"k" * 41: "v"}, "metadata[" + "k" * 41 + "]"),
        ({"a[b": "v"}, "metadata[a[b]"),
        ({"k": "v" * 501}, "metadata[k]"),
        ({"k": {"nested": "v"}}, "metadata[k]"),
        ({"k": ["v"]}, "metadata[k]"),
        ({"k": True}, "metadata[k]"),
        ({f"k{i}": "v" for i in range(51)}, "metadata"),
        ("not-a-hash", "metadata"),
    ],
)
def test_invalid_metadata_is_rejected_naming_the_key(metadata, param):
    # GIVEN a long key, a bracket in a key, a long value, a non-string value, 51 keys, or a string
    # WHEN read THEN invalid, naming the offending key where there is one
    assert _error(lambda: Params({"metadata": metadata}).metadata()).param == param


def test_a_nul_in_a_metadata_value_is_rejected():
    # GIVEN a NUL inside a metadata value WHEN read THEN invalid (like every other string)
    assert _error(lambda: Params({"metadata": {"k": "a\x00b"}}).metadata()).param == "metadata[k]"


def test_a_nul_in_a_metadata_key_is_rejected():
    # GIVEN a NUL inside a metadata key WHEN read THEN invalid
    assert _error(lambda: Params({"metadata": {"a\x00b": "v"}}).metadata()).code == "parameter_invalid"


def test_merged_metadata_over_fifty_keys_is_rejected():
    # GIVEN 50 stored keys WHEN one more is added THEN invalid
    current = {f"k{i}": "v" for i in range(50)}
    with pytest.raises(InvalidRequest):
        apply_metadata(current, {"extra": "v"})
