"""template.yaml is the single source of truth: it must lint clean, and the code must agree with it
(handlers exist, routes match both ways, tables match the PynamoDB models, sample events route)."""

from __future__ import annotations

import base64
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
import support
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from tally_local.gateway import load_handler
from tally_local.template import Function, Template, compile_routes, load, match

TEMPLATE = load()
FUNCTIONS = sorted(TEMPLATE.functions)
HTTP_FUNCTIONS = sorted(k for k, fn in TEMPLATE.functions.items() if fn.routes)
# Which environment variable names each model's table (settings read it; the template sets it).
MODEL_TABLE_ENV = {"tally.store.models.ObjectItem": "OBJECTS_TABLE"}
ATTRIBUTE_TYPES = {UnicodeAttribute: "S", NumberAttribute: "N"}


def test_cfn_lint_is_clean():
    # GIVEN the SAM template WHEN cfn-lint validates it (offline) THEN no findings
    from cfnlint.api import lint_file

    matches = lint_file(support.REPO_ROOT / "template.yaml")
    assert [str(m) for m in matches] == []


# -- functions and routes -------------------------------------------------------------------------------
@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_function_handler_exists_and_is_callable(logical_id):
    # GIVEN a function's CodeUri and Handler WHEN loaded like Lambda does THEN a callable handler
    fn = TEMPLATE.functions[logical_id]
    module, _, _ = fn.handler.rpartition(".")
    path = fn.code_dir / f"{module.replace('.', '/')}.py"
    assert path.is_file(), f"{logical_id}: {path.relative_to(support.REPO_ROOT)} does not exist"
    handler = load_handler(TEMPLATE, logical_id)
    assert callable(handler)
    assert list(inspect.signature(handler).parameters)[:2] == ["event", "context"]


def _routes(logical_id: str) -> tuple[set[str], set[str]]:
    """(routes the template sends to the function, routes its ROUTES dict registers)."""
    in_template = {r for r in TEMPLATE.functions[logical_id].routes if r != "$default"}
    registered = set(support.routes_of(load_handler(TEMPLATE, logical_id)))
    return in_template, registered


@pytest.mark.parametrize("logical_id", HTTP_FUNCTIONS)
def test_every_template_route_has_a_registered_handler(logical_id):
    # GIVEN the HttpApi routes of a function WHEN compared with its ROUTES THEN none is unhandled
    in_template, registered = _routes(logical_id)
    assert sorted(in_template - registered) == [], "routes in template.yaml without a handler"


@pytest.mark.parametrize("logical_id", HTTP_FUNCTIONS)
def test_every_registered_route_is_in_the_template(logical_id):
    # GIVEN a function's ROUTES WHEN compared with the template THEN none is unreachable
    in_template, registered = _routes(logical_id)
    assert sorted(registered - in_template) == [], "handlers with no route in template.yaml"


def test_route_keys_are_unique_across_functions():
    # GIVEN all functions WHEN their routes are collected THEN no route goes to two functions
    keys = [r for fn in TEMPLATE.functions.values() for r in fn.routes]
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == []


# -- tables and models ---------------------------------------------------------------------------------
def _models() -> dict[str, type[Model]]:
    import tally.store

    found: dict[str, type[Model]] = {}
    for info in pkgutil.iter_modules(tally.store.__path__, "tally.store."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Model) and cls is not Model and cls.__module__ == info.name:
                found[f"{cls.__module__}.{cls.__name__}"] = cls
    return found


def _table_of(model_name: str) -> dict:
    env = TEMPLATE.raw["Globals"]["Function"]["Environment"]["Variables"]
    return TEMPLATE.tables[env[MODEL_TABLE_ENV[model_name]]["Ref"]]


def _key_schema(model_keys: dict[str, str], schema: list[dict]) -> None:
    assert {k["KeyType"]: k["AttributeName"] for k in schema} == model_keys


def _model_keys(attributes: dict) -> dict[str, str]:
    keys = {}
    for name, attr in attributes.items():
        if attr.is_hash_key:
            keys["HASH"] = attr.attr_name or name
        if attr.is_range_key:
            keys["RANGE"] = attr.attr_name or name
    return keys


def test_every_model_is_mapped_to_a_template_table():
    # GIVEN the PynamoDB models in tally.store WHEN listed THEN each says which table it lives in
    unmapped = sorted(set(_models()) - set(MODEL_TABLE_ENV))
    assert unmapped == [], "add these models to MODEL_TABLE_ENV in tests/test_template.py"


@pytest.mark.parametrize("model_name", sorted(MODEL_TABLE_ENV))
def test_table_keys_match_the_model(model_name):
    # GIVEN a model and its table WHEN key schemas and attribute types are compared THEN they agree
    model = _models()[model_name]
    table = _table_of(model_name)
    _key_schema(_model_keys(model.get_attributes()), table["KeySchema"])
    declared = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    for name, attr in model.get_attributes().items():
        if (attr.attr_name or name) in declared:
            assert declared[attr.attr_name or name] == ATTRIBUTE_TYPES[type(attr)], name


@pytest.mark.parametrize("model_name", sorted(MODEL_TABLE_ENV))
def test_table_indexes_match_the_model(model_name):
    # GIVEN a model's global secondary indexes WHEN compared with the table's THEN same names and keys
    model = _models()[model_name]
    table = _table_of(model_name)
    in_table = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    in_model = {index.Meta.index_name: index for index in model._indexes.values()}
    assert sorted(in_table) == sorted(in_model)
    for name, index in in_model.items():
        _key_schema(_model_keys(index.Meta.attributes), in_table[name]["KeySchema"])
        assert in_table[name]["Projection"]["ProjectionType"] == index.Meta.projection.projection_type


@pytest.mark.parametrize("model_name", sorted(MODEL_TABLE_ENV))
def test_table_ttl_attribute_is_a_number_on_the_model(model_name):
    # GIVEN a table with TTL WHEN the model is read THEN the TTL attribute is a NumberAttribute on it
    ttl = _table_of(model_name).get("TimeToLiveSpecification")
    if ttl:
        attribute = _models()[model_name].get_attributes().get(ttl["AttributeName"])
        assert isinstance(attribute, NumberAttribute)


def test_idempotency_table_matches_powertools_defaults():
    # GIVEN the idempotency table WHEN compared with the Powertools persistence layer's defaults
    # (tally.store.idempotency uses them) THEN the key and TTL attributes agree
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    defaults = inspect.signature(DynamoDBPersistenceLayer.__init__).parameters
    table = TEMPLATE.tables["IdempotencyTable"]
    _key_schema({"HASH": defaults["key_attr"].default}, table["KeySchema"])
    assert defaults["sort_key_attr"].default is None
    assert table["TimeToLiveSpecification"]["AttributeName"] == defaults["expiry_attr"].default


# -- sample events --------------------------------------------------------------------------------------
SAMPLES = sorted(p.name for p in support.EVENTS_DIR.glob("*.json"))


def _kind(event: dict) -> str:
    """Which trigger a sample is: an SQS batch, a DynamoDB stream batch, a schedule's event, or an
    HTTP API request."""
    if "Records" in event:
        return "dynamodb" if event["Records"][0].get("eventSource") == "aws:dynamodb" else "sqs"
    if "detail-type" in event:
        return "schedule"
    return "http"


HTTP_SAMPLES = [n for n in SAMPLES if _kind(support.load_event(n)) == "http"]


@pytest.mark.parametrize("name", HTTP_SAMPLES)
def test_sample_event_is_a_routable_http_api_request(name):
    # GIVEN a sample trigger in events/ WHEN matched against the template's routes
    event = support.load_event(name)
    assert event["version"] == "2.0"
    method = event["requestContext"]["http"]["method"]
    found = match(compile_routes(TEMPLATE), method, event["rawPath"])
    # THEN it reaches a real (non-$default) route, named consistently, with a decodable body
    assert found is not None and found[0].key != "$default", (
        f"{name}: no route for {method} {event['rawPath']}"
    )
    assert event["routeKey"] == event["requestContext"]["routeKey"] == found[0].key
    if event.get("isBase64Encoded"):
        base64.b64decode(event["body"], validate=True).decode("utf-8")


def test_every_function_has_a_sample_event():
    # GIVEN the template's functions WHEN the samples are routed THEN each function has at least one
    routes = compile_routes(TEMPLATE)
    covered = set()
    kinds = {_kind(support.load_event(name)) for name in SAMPLES}
    for name in HTTP_SAMPLES:
        event = support.load_event(name)
        found = match(routes, event["requestContext"]["http"]["method"], event["rawPath"])
        if found:
            covered.add(found[0].function)
    for logical_id, fn in TEMPLATE.functions.items():
        if (
            (fn.schedules and "schedule" in kinds)
            or (fn.queues and "sqs" in kinds)
            or (fn.streams and "dynamodb" in kinds)
        ):
            covered.add(logical_id)
    assert sorted(set(FUNCTIONS) - covered) == []


def test_schedule_sample_matches_the_template_input():
    # GIVEN the close schedule's Input in the template and the sample schedule event
    (schedule,) = TEMPLATE.functions["ClosePeriodsFunction"].schedules
    sample = support.load_event("schedule_close_periods.json")
    # THEN the sample has the keys the scheduler sends, and the schedule runs every minute (UTC)
    from tally_local.triggers import scheduled_event

    assert set(scheduled_event(schedule, 0, "arn")) == set(sample)
    assert schedule.seconds == 60


def test_billing_queue_trigger_reports_partial_failures_and_has_a_dead_letter_queue():
    # GIVEN the billing worker's SQS trigger
    (trigger,) = TEMPLATE.functions["BillPeriodFunction"].queues
    assert trigger.report_failures and trigger.batch_size <= 10
    # THEN its queue redrives to a dead-letter queue that has an alarm
    redrive = TEMPLATE.queues[trigger.queue]["RedrivePolicy"]
    dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    alarms = [
        r["Properties"] for r in TEMPLATE.raw["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert any(a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq, "QueueName"]} for a in alarms)


def test_outbox_stream_trigger_is_filtered_reports_partial_failures_and_has_a_destination():
    # GIVEN the dispatch function's stream trigger on the objects table
    (trigger,) = TEMPLATE.functions["DispatchFunction"].streams
    assert trigger.table == "ObjectsTable" and trigger.report_failures and trigger.max_retries >= 0
    assert TEMPLATE.tables["ObjectsTable"]["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    raw = TEMPLATE.raw["Resources"]["DispatchFunction"]["Properties"]["Events"]["Outbox"]["Properties"]
    assert raw["BisectBatchOnFunctionError"] is True
    # THEN only event items pass its filters: a new event, a large (compressed) one, a report's first body
    from tally_local.streams import passes

    def record(name, new, old=None):
        out = {"eventName": name, "dynamodb": {"NewImage": new}}
        if old is not None:
            out["dynamodb"]["OldImage"] = old
        return out

    event = {"kind": {"S": "event"}, "body": {"S": "{}"}}
    assert passes(trigger.filters, record("INSERT", event))
    assert passes(trigger.filters, record("INSERT", {"kind": {"S": "event"}, "zbody": {"B": "eA=="}}))
    assert passes(trigger.filters, record("MODIFY", event, {"kind": {"S": "event"}}))
    assert not passes(trigger.filters, record("MODIFY", event, event))  # a report's later bodies
    assert not passes(trigger.filters, record("INSERT", {"kind": {"S": "event"}}))  # counts, no body yet
    assert not passes(trigger.filters, record("INSERT", {"kind": {"S": "customer"}, "body": {"S": "{}"}}))
    assert not passes(trigger.filters, record("REMOVE", event))  # TTL
    # AND failed batches land in a dead-letter queue that has an alarm
    alarms = [
        r["Properties"] for r in TEMPLATE.raw["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    dlq = trigger.on_failure
    assert any(a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq, "QueueName"]} for a in alarms)


def test_notification_topic_is_encrypted_and_not_public():
    # GIVEN the notification topic and its policy
    resources = TEMPLATE.raw["Resources"]
    (topic_id,) = TEMPLATE.topics
    assert TEMPLATE.topics[topic_id]["KmsMasterKeyId"] == {"Ref": "NotificationKey"}
    assert resources["NotificationKey"]["Properties"]["EnableKeyRotation"] is True
    (policy,) = [r for r in resources.values() if r["Type"] == "AWS::SNS::TopicPolicy"]
    # THEN every Allow names this AWS account as the principal (never "*")
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        if statement["Effect"] == "Allow":
            assert statement["Principal"] == {
                "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            }
    # AND the operator's email subscription exists only when the parameter is set, with a filter
    operator = resources["OperatorSubscription"]
    assert (
        operator["Condition"] == "HasOperatorEmail" and operator["Properties"]["FilterPolicy"]["event_type"]
    )
    assert TEMPLATE.raw["Parameters"]["OperatorEmail"]["Default"] == ""


def test_test_clock_queue_fails_the_clock_on_its_last_delivery_and_has_a_dead_letter_queue():
    # GIVEN the test clock worker's SQS trigger
    from tally.billing.test_clocks import ADVANCE_ATTEMPTS

    (trigger,) = TEMPLATE.functions["AdvanceTestClockFunction"].queues
    assert trigger.report_failures and trigger.batch_size == 1
    # THEN its queue redrives after exactly the attempts whose last one marks the clock
    # internal_failure, to a dead-letter queue that has an alarm
    redrive = TEMPLATE.queues[trigger.queue]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == ADVANCE_ATTEMPTS
    dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    alarms = [
        r["Properties"] for r in TEMPLATE.raw["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert any(a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq, "QueueName"]} for a in alarms)
    # AND the API function, which sends the advances, knows the queue
    assert TEMPLATE.functions["ApiFunction"].environment["TEST_CLOCK_QUEUE_URL"] == {"Ref": trigger.queue}


@pytest.mark.parametrize("resource", ["customers", "products", "prices", "subscriptions"])
def test_the_search_route_wins_over_the_id_route(resource):
    # GIVEN the template's routes WHEN /v1/<resource>/search is matched THEN the literal route
    # answers (as API Gateway prefers it over {id}), and any other id still reaches the retrieve
    routes = compile_routes(TEMPLATE)
    found = match(routes, "GET", f"/v1/{resource}/search")
    assert found is not None and (found[0].key, found[1]) == (f"GET /v1/{resource}/search", {})
    found = match(routes, "GET", f"/v1/{resource}/x_123")
    assert found is not None and found[0].key == f"GET /v1/{resource}/{{id}}"


def test_literal_segments_win_whatever_the_declaration_order():
    # GIVEN a template declaring the {id} route before the literal one
    fn = Function("Fn", Path("."), "app.handler", routes=["GET /v1/things/{id}", "GET /v1/things/search"])
    routes = compile_routes(Template({}, {"Fn": fn}, {}))
    # WHEN matched THEN the literal route still wins
    found = match(routes, "GET", "/v1/things/search")
    assert found is not None and found[0].key == "GET /v1/things/search"


def test_the_ingest_cache_stays_within_the_figures_settle_window():
    # GIVEN how long ingest may keep a watch list (`store.recent`) and its longest request
    from tally.billing.usage_figures import SETTLE
    from tally.settings import MAX_INGEST_CACHE_SECONDS

    parameter = TEMPLATE.raw["Parameters"]["IngestCacheSeconds"]
    ingest = TEMPLATE.raw["Resources"]["IngestFunction"]["Properties"]
    timeout = ingest.get("Timeout", TEMPLATE.raw["Globals"]["Function"]["Timeout"])
    # THEN the template and the settings allow the same range, the function reads the parameter,
    allowed = (parameter["MinValue"], parameter["MaxValue"], parameter["Default"])
    assert allowed == (0, MAX_INGEST_CACHE_SECONDS, 1)
    assert ingest["Environment"]["Variables"]["TALLY_INGEST_CACHE_SECONDS"] == {"Ref": "IngestCacheSeconds"}
    # AND a write that read a watch list kept that long still lands before figures are read
    assert timeout + MAX_INGEST_CACHE_SECONDS < SETTLE
