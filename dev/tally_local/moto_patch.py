"""An item-level rollback for moto's TransactWriteItems, for the local runtime, the tests and the bench.

moto 5.x backs up a transaction by deep-copying every table it touches, once per action
(`copy.deepcopy(self.tables[name])` inside the loop over TransactItems). A transaction therefore
costs O(actions × items in the table): on a usage table of a few thousand items one event takes
~0.1 s, and loading 100 k events would take hours and tens of GB of memory.

Without it, `make run` slows down as usage accumulates. This patch keeps moto's
transaction code as it is but (1) makes that table copy a no-op for the
duration of the call, and (2) saves, before the call, a copy of each item the transaction names
(or "absent"), restoring those items if moto raises. All-or-nothing is preserved — the same
items end up in the same state — and `canary()` checks it against the running server.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_state: dict[str, Any] = {}

# The patch replaces a moto internal; it is written and tested for exactly this release.
MOTO_VERSION = "5.2.5"


class WrongMotoVersion(RuntimeError):
    pass


def check_version(found: str | None = None) -> None:
    """Refuse to run on a moto release the patch was not written for (raises WrongMotoVersion)."""
    if found is None:
        from importlib.metadata import version

        found = version("moto")
    if found != MOTO_VERSION:
        raise WrongMotoVersion(
            f"Tally's local runtime needs moto {MOTO_VERSION} (its transaction patch replaces a moto "
            f"internal), but moto {found} is installed. Run `make clean && make install` to rebuild "
            f".venv from pyproject.toml, or "
            f"`.venv/bin/pip install 'moto[dynamodb,sqs,sns,events]=={MOTO_VERSION}'`."
        )


class _NoTableCopy:
    """Stands in for the `copy` module inside moto.dynamodb.models during one transaction."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, self._table_type):
            return value  # rollback is done item by item by the wrapper below
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _key_of(backend: Any, op_type: str, op: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    name = op.get("TableName")
    if not name or name not in backend.tables:
        return None
    table = backend.tables[name]
    if op_type == "Put":
        attrs = op.get("Item") or {}
        keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        if not all(k in attrs for k in keys):
            return None
        return name, {k: attrs[k] for k in keys}
    return (name, op["Key"]) if "Key" in op else None


def _partition_query(
    original: Callable[..., Any], original_all_items: Callable[..., Any]
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """moto answers every Query by sorting and walking every item of the table; DynamoDB reads one
    partition (of the table or of an index). During the call, the table's `all_items` is narrowed:
    to the queried partition for a base-table Query (in moto's own order), and for an index Query
    to the items whose index hash attributes can equal the queried values, sorted as moto sorts
    the whole table (its sort key is the item's primary key, unique, so a subset sorts in the same
    relative order). moto's own Query code then runs unchanged on that list, including its exact
    hash-key comparison. Returns (query, all_items) to set on moto's Table; the narrowing is per
    thread, so concurrent queries (in-process threads) never see each other's."""
    narrowing = threading.local()

    def all_items(self: Any) -> Any:
        narrowed = getattr(narrowing, "current", None)
        if narrowed is not None and narrowed[0] is self:
            return narrowed[1]()
        return original_all_items(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        if not index_name:
            partition = self.items.get(hash_key) or {}

            def narrowed() -> list[Any]:
                return list(partition.values())  # moto sorts the results itself
        else:
            wanted = kwargs.get("hash_key_conditions") or []
            if not wanted:
                return original(self, hash_key, *args, **kwargs)

            def narrowed() -> list[Any]:
                found = [
                    item
                    for items in self.items.values()
                    for item in items.values()
                    if all(_may_equal(item.attrs.get(name), value) for name, value in wanted)
                ]
                return sorted(found, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

        outer = getattr(narrowing, "current", None)
        narrowing.current = (self, narrowed)
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            narrowing.current = outer

    return query, all_items


def _may_equal(found: Any, wanted: Any) -> bool:
    """False only when moto's `found == wanted` (DynamoType) is certainly false: absent, another
    type, or another string or binary value. Numbers are left to moto ("1" equals "1.0")."""
    if found is None or found.type != wanted.type:
        return False
    return found.type not in ("S", "B") or found.value == wanted.value


def _cached_aliases() -> Callable[[], None]:
    """moto serializes every response member by asking six alias providers, built anew each time,
    which name to read it under: a DynamoDB Query of 100 items with 10 attributes asks ~10,000
    times, and that was two thirds of a test-clock test's CPU. For a plain dict (DynamoDB's
    responses) the answer depends only on the member's key, its shape and that shape's parent
    (botocore shapes do not change), so it is computed once per (key, shape, parent) and replayed.
    Anything else (model objects, other providers) is asked as moto does. Returns the undo."""
    from moto.core import serialize

    original = serialize.AttributePicker.get_possible_keys
    cache: dict[tuple[str, int, int], tuple[Any, Any, tuple[str, ...]]] = {}

    def get_possible_keys(self: Any, context: Any) -> Any:
        if type(context.obj) is not dict or self.alias_providers is not serialize.DEFAULT_ALIAS_PROVIDERS:
            return original(self, context)
        shape, parent = context.shape, getattr(context.shape, "parent", None)
        found = cache.get((context.key, id(shape), id(parent)))
        if found is None or found[0] is not shape or found[1] is not parent:
            found = (shape, parent, tuple(original(self, context)))
            cache[(context.key, id(shape), id(parent))] = found
        return iter(found[2])

    serialize.AttributePicker.get_possible_keys = get_possible_keys  # type: ignore[method-assign]

    def undo() -> None:
        serialize.AttributePicker.get_possible_keys = original  # type: ignore[method-assign]

    return undo


_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_not_visible",
    "approximate_number_of_messages_delayed",
)


def _uncounted_sends() -> Callable[[], None]:
    """moto's SendMessage reads the queue's whole attribute set to learn one flag
    (ContentBasedDeduplication), and ReceiveMessage does so for every message it hands out (to
    learn MessageRetentionPeriod); each time, every message in the queue is counted three times,
    so sending or receiving N messages costs O(N²) (10,000 took most of an hour). While a send or
    a receive runs, those three counts answer 0; everywhere else (GetQueueAttributes) they count
    as moto does. Returns the undo."""
    from moto.sqs.models import Queue, SQSBackend

    sending = threading.local()
    originals = {name: getattr(Queue, name) for name in _COUNTS}
    original_send, original_receive = SQSBackend.send_message, SQSBackend.receive_message

    def counted(prop: property) -> property:
        return property(lambda self: 0 if getattr(sending, "on", False) else prop.fget(self))  # type: ignore[misc]

    def uncounted(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            sending.on = True
            try:
                return original(self, *args, **kwargs)
            finally:
                sending.on = False

        return call

    for name, prop in originals.items():
        setattr(Queue, name, counted(prop))
    SQSBackend.send_message = uncounted(original_send)  # type: ignore[method-assign]
    SQSBackend.receive_message = uncounted(original_receive)  # type: ignore[method-assign]

    def undo() -> None:
        for name, prop in originals.items():
            setattr(Queue, name, prop)
        SQSBackend.send_message = original_send  # type: ignore[method-assign]
        SQSBackend.receive_message = original_receive  # type: ignore[method-assign]

    return undo


def _cached_lexing() -> Callable[[], None]:
    """moto lexes every UpdateExpression and ConditionExpression from its text on every request
    (≈ 0.4 and 0.6 ms each here; the ingest path sends the same few dozen texts again and again).
    The token lists depend on the text alone and are not changed after lexing (parsers read them
    by position; conditions' tokens are immutable namedtuples), so each text is lexed once and
    every request gets a fresh list of the same tokens. Returns the undo."""
    from collections import deque
    from functools import lru_cache

    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.tokens import ExpressionTokenizer

    make_list = ExpressionTokenizer.__dict__["make_list"]
    lex = ConditionExpressionParser._lex_condition_expression

    @lru_cache(maxsize=4096)
    def update_tokens(text: str) -> tuple[Any, ...]:
        return tuple(make_list.__func__(ExpressionTokenizer, text))

    @lru_cache(maxsize=4096)
    def condition_tokens(text: str) -> tuple[Any, ...]:
        return tuple(lex(ConditionExpressionParser(text, None, None)))

    def cached_make_list(cls: Any, text: str) -> list[Any]:
        return list(update_tokens(text)) if isinstance(text, str) else make_list.__func__(cls, text)

    def cached_lex(self: Any) -> Any:
        return deque(condition_tokens(self.condition_expression))

    ExpressionTokenizer.make_list = classmethod(cached_make_list)  # type: ignore[method-assign,assignment]
    ConditionExpressionParser._lex_condition_expression = cached_lex  # type: ignore[method-assign]

    def undo() -> None:
        ExpressionTokenizer.make_list = make_list  # type: ignore[method-assign]
        ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]

    return undo


def _attribute_values() -> Callable[[], None]:
    """moto serializes a DynamoDB item by walking botocore's shapes member by member: every
    attribute value is a structure of ten members (S, N, B, SS, NS, BS, M, L, NULL, BOOL), each
    asked for through an alias picker, so an item of 20 attributes costs ~200 lookups and a Query
    page of 100 items ~20,000 — a sixth of a billing test's CPU. An attribute value moto hands over
    is a plain dict keyed by those names (`dynamo_to_dict`), so it is written here as the JSON
    serializer writes it, rule for rule (strings by `str`, blobs base64, booleans as they are,
    None members and None map values left out, None list items kept); anything else (another
    shape, a non-dict value, another protocol) goes through moto's code. Returns the undo."""
    import base64

    from moto.core.serialize import BaseJSONSerializer

    original_structure = BaseJSONSerializer._serialize_type_structure
    original_map = BaseJSONSerializer._serialize_type_map

    def text(value: Any) -> Any:
        return value if value is None or value == {} or value == [] else str(value)

    def blob(value: Any) -> str:
        return base64.b64encode(value.encode() if isinstance(value, str) else value).strip().decode()

    def attribute(value: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, member in value.items():
            if member is None:
                continue
            if name in ("S", "N"):
                out[name] = text(member)
            elif name == "M":
                out[name] = {k: attribute(v) for k, v in member.items() if v is not None}
            elif name == "L":
                out[name] = [None if v is None else attribute(v) for v in member]
            elif name in ("SS", "NS"):
                out[name] = [text(v) for v in member]
            elif name == "B":
                out[name] = blob(member)
            elif name == "BS":
                out[name] = [blob(v) for v in member]
            elif name in ("NULL", "BOOL"):
                out[name] = member
            else:
                raise _NotPlain(name)
        return {name: out[name] for name in _AV_ORDER if name in out}  # the shape's member order

    def plain(value: Any) -> dict[str, Any] | None:
        try:
            return attribute(value)
        except (_NotPlain, AttributeError, TypeError):
            return None

    def structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and type(value) is dict:
            found = plain(value)
            if found is not None:
                serialized[shape.serialization.get("name", key)] = found
                return
        original_structure(self, serialized, value, shape, key)

    def mapping(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if getattr(shape.value, "name", None) == "AttributeValue" and type(value) is dict:
            found = {}
            for k, v in value.items():
                if v is None:
                    continue
                item = plain(v) if type(v) is dict else None
                if item is None:
                    break
                found[k] = item
            else:
                serialized[shape.serialization.get("name", key)] = found
                return
        original_map(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = structure  # type: ignore[method-assign]
    BaseJSONSerializer._serialize_type_map = mapping  # type: ignore[method-assign]

    def undo() -> None:
        BaseJSONSerializer._serialize_type_structure = original_structure  # type: ignore[method-assign]
        BaseJSONSerializer._serialize_type_map = original_map  # type: ignore[method-assign]

    return undo


_AV_ORDER = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")


class _NotPlain(Exception):
    """An attribute value with a member the fast path does not know: moto's code serializes it."""


def _method_names_once() -> Callable[[], None]:
    """moto lists a response class's methods (`inspect.getmembers`) on every request to check the
    action exists: ~0.2 ms a request. A class's functions do not change while it serves, so the
    list is kept per class. Returns the undo."""
    from moto.core import responses

    original = responses.method_names_from_class
    kept: dict[Any, list[str]] = {}

    def method_names(clazz: Any) -> list[str]:
        names = kept.get(clazz)
        if names is None:
            names = kept[clazz] = original(clazz)
        return names

    responses.method_names_from_class = method_names  # type: ignore[assignment]

    def undo() -> None:
        responses.method_names_from_class = original  # type: ignore[assignment]

    return undo


def _error(code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}}


def partiql_inserts() -> Callable[[], None]:
    """moto runs every PartiQL statement by converting every item of every table to JSON first
    (O(all items) per statement: a usage table of 10 k events made each INSERT cost ~0.1 s). A
    BatchExecuteStatement made only of the INSERTs Tally sends (`INSERT INTO "t" VALUE {'a': ?, …}`,
    every value a parameter) is done here as DynamoDB documents it: per statement, the item is
    written if its key is free, else the statement's error is `DuplicateItem`; a statement moto
    refuses (a bad item) reports moto's error. Anything else goes to moto's own code. Returns the
    undo."""
    from moto.dynamodb.models import DynamoDBBackend

    from tally.store.usage.actions import inserted

    original = DynamoDBBackend.batch_execute_statement

    def batch_execute_statement(self: Any, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        parsed = [inserted(s) for s in statements]
        if not statements or not all(parsed):
            return original(self, statements)  # anything but Tally's INSERTs: moto's own code
        responses: list[dict[str, Any]] = []
        for found in parsed:
            assert found is not None
            name, item = found
            if name not in self.tables:
                responses.append(_error("ResourceNotFound", "Requested resource not found"))
                continue
            table = self.tables[name]
            keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
            try:
                if self.get_item(name, {k: item[k] for k in keys if k in item}) is not None:
                    responses.append(_error("DuplicateItem", "Duplicate primary key exists in table"))
                    continue
                self.put_item(name, item)
            except Exception as exc:  # moto's validation of the key or the item
                message = getattr(exc, "message", None) or str(exc)
                responses.append(_error("ValidationError", message))
                continue
            responses.append({"TableName": name})
        return responses

    DynamoDBBackend.batch_execute_statement = batch_execute_statement  # type: ignore[method-assign]

    def undo() -> None:
        DynamoDBBackend.batch_execute_statement = original  # type: ignore[method-assign]

    return undo


def install() -> None:
    """Patch moto's DynamoDB backend class (affects the in-process moto server). Idempotent.

    Raises WrongMotoVersion on a moto release other than MOTO_VERSION."""
    check_version()
    with _lock:
        if _state:
            return
        import moto.dynamodb.models as models

        original: Callable[..., Any] = models.DynamoDBBackend.transact_write_items
        shim = _NoTableCopy(models.Table)

        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            saved: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
            seen: set[str] = set()
            for action in transact_items:
                if len(action) != 1:
                    continue
                op_type, op = next(iter(action.items()))
                found = _key_of(self, op_type, op)
                if found is None or repr(found) in seen:
                    continue
                seen.add(repr(found))
                name, key = found
                try:
                    item = self.get_item(name, key)
                except Exception:
                    continue  # moto reports the bad key itself
                saved.append((name, key, copy.deepcopy(item.to_json()["Attributes"]) if item else None))
            models.copy = shim  # type: ignore[assignment]
            try:
                return original(self, transact_items)
            except BaseException:
                for name, key, attrs in reversed(saved):
                    table = self.get_table(name)
                    if attrs is None:
                        hash_value, range_value = self.get_keys_value(table, key)
                        if table.get_item(hash_value, range_value) is not None:
                            table.delete_item(hash_value, range_value)
                    else:
                        table.put_item(attrs)
                raise
            finally:
                models.copy = copy  # type: ignore[assignment]

        _state["original"] = original
        models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        _state["query"] = models.Table.query, models.Table.all_items
        query, all_items = _partition_query(models.Table.query, models.Table.all_items)
        models.Table.query, models.Table.all_items = query, all_items  # type: ignore[method-assign]
        _state["sqs"] = _uncounted_sends()
        _state["lexing"] = _cached_lexing()
        _state["aliases"] = _cached_aliases()
        _state["attribute_values"] = _attribute_values()
        _state["method_names"] = _method_names_once()
        _state["partiql_inserts"] = partiql_inserts()


def uninstall() -> None:
    with _lock:
        if not _state:
            return
        import moto.dynamodb.models as models

        models.DynamoDBBackend.transact_write_items = _state.pop("original")  # type: ignore[method-assign]
        models.Table.query, models.Table.all_items = _state.pop("query")  # type: ignore[method-assign]
        _state.pop("sqs")()
        _state.pop("lexing")()
        _state.pop("aliases")()
        _state.pop("attribute_values")()
        _state.pop("method_names")()
        _state.pop("partiql_inserts")()


def installed() -> bool:
    return bool(_state)


def canary(client: Any, table: str, prefix: str) -> None:
    """A cancelled transaction must leave every item it touched as it was (through the server)."""
    from botocore.exceptions import ClientError

    counter = {"pk": {"S": f"{prefix}#canary"}, "sk": {"S": "counter"}}
    fresh = {"pk": {"S": f"{prefix}#canary"}, "sk": {"S": "fresh"}}
    client.put_item(TableName=table, Item={**counter, "v": {"N": "5"}})
    client.put_item(TableName=table, Item={"pk": {"S": f"{prefix}#canary"}, "sk": {"S": "taken"}})
    try:
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": counter,
                        "UpdateExpression": "ADD v :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": table, "Item": {**fresh, "x": {"S": "y"}}}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": f"{prefix}#canary"}, "sk": {"S": "taken"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TransactionCanceledException":
            raise
    else:
        raise AssertionError("moto rollback canary: the conflicting transaction was not cancelled")
    value = client.get_item(TableName=table, Key=counter, ConsistentRead=True)["Item"]["v"]["N"]
    leaked = client.get_item(TableName=table, Key=fresh, ConsistentRead=True).get("Item")
    if value != "5" or leaked is not None:
        raise AssertionError(f"moto rollback canary: counter={value}, leaked put={leaked}")
