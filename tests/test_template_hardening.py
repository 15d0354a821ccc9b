"""template.yaml's production knobs: log retention, API access logs and throttling, least-privilege
IAM, deletion protection and reserved concurrency, each driven by a parameter (README: Deploy)."""

from __future__ import annotations

import json

import pytest
import support

from tally_local.template import load

TEMPLATE = load()
RESOURCES = TEMPLATE.raw["Resources"]
PARAMETERS = TEMPLATE.raw["Parameters"]
FUNCTIONS = sorted(TEMPLATE.functions)
DATA_TABLES = ["ObjectsTable", "UsageTable"]  # the idempotency table is a 24-hour replay cache

# What the ingest function calls (tally.api.meter_events → tally.store.objects/usage/idempotency);
# tests/integration/test_least_privilege.py checks that a full ingest scenario needs exactly these.
INGEST_GRANTS = {
    # (issue 15, branch `async`: alerts are evaluated by UsageAggregatorFunction, so ingest no
    # longer Queries hour buckets or the customer's subscriptions, nor writes trigger claims)
    ("ObjectsTable", "GetItem", "table"),  # keys, session tokens, customers, test clocks
    ("ObjectsTable", "Query", "table"),  # a meter this process never saw (its claim's partition)
    ("ObjectsTable", "BatchGetItem", "table"),  # key or token, meter claims, customers in one request
    ("ObjectsTable", "PutItem", "table"),  # a session's token hash
    ("UsageTable", "PutItem", "table"),  # the event item (one event, or a taken INSERT's fallback)
    ("UsageTable", "PartiQLInsert", "table"),  # a batch's event items, 25 per BatchExecuteStatement
    ("UsageTable", "UpdateItem", "table"),  # a cancel's mark and buckets, in TransactWriteItems
    ("UsageTable", "BatchGetItem", "table"),  # duplicates' standing events
    ("UsageTable", "GetItem", "table"),  # the event an adjustment cancels
    ("IdempotencyTable", "GetItem", "table"),
    ("IdempotencyTable", "PutItem", "table"),
    ("IdempotencyTable", "UpdateItem", "table"),
    ("IdempotencyTable", "DeleteItem", "table"),
}


def _log_groups() -> dict[str, dict]:
    return {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Logs::LogGroup"}


def _retention_is_the_parameter(group: dict) -> None:
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


def test_log_retention_parameter_defaults_to_a_finite_allowed_value():
    # GIVEN the retention parameter THEN its default is one CloudWatch accepts (never "forever")
    param = PARAMETERS["LogRetentionInDays"]
    assert param["Default"] in param["AllowedValues"]


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_function_has_its_log_group_with_retention(logical_id):
    # GIVEN a function WHEN the log groups are searched for Lambda's own name for its logs
    wanted = {"Fn::Sub": f"/aws/lambda/${{{logical_id}}}"}
    groups = [g for g in _log_groups().values() if g["Properties"].get("LogGroupName") == wanted]
    # THEN exactly one exists and its retention is the template parameter
    assert len(groups) == 1, f"no log group named /aws/lambda/<{logical_id}>"
    _retention_is_the_parameter(groups[0])


def _http_api() -> dict:
    (api,) = [v for v in RESOURCES.values() if v["Type"] == "AWS::Serverless::HttpApi"]
    return api["Properties"]


def test_http_api_writes_json_access_logs_to_a_retained_log_group():
    # GIVEN the HTTP API's access log settings
    settings = _http_api()["AccessLogSettings"]
    # THEN they go to a log group of the template that has the retention parameter
    group_id = settings["DestinationArn"]["Fn::GetAtt"][0]
    _retention_is_the_parameter(_log_groups()[group_id])
    # AND each line is a JSON object with the fields an operator needs, without headers or bodies
    line = json.loads(settings["Format"])
    assert {"requestId", "routeKey", "status", "ip", "latency"} <= set(line)
    assert not any("header" in v or "body" in v.lower() for v in line.values())


def test_http_api_default_route_throttling_comes_from_parameters():
    # GIVEN the HTTP API's default route settings THEN burst and rate are template parameters
    settings = _http_api()["DefaultRouteSettings"]
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    for name in ("ApiThrottlingBurstLimit", "ApiThrottlingRateLimit"):
        assert PARAMETERS[name]["Type"] == "Number" and PARAMETERS[name]["Default"] >= 1


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_policies_are_inline_statements_without_wildcards(logical_id):
    # GIVEN a function's Policies WHEN read THEN only inline statements (no SAM policy templates such
    # as DynamoDBCrudPolicy, no managed policies), and no wildcard action or resource
    for policy in RESOURCES[logical_id]["Properties"]["Policies"]:
        assert isinstance(policy, dict) and set(policy) == {"Statement"}, policy
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in a for a in actions), statement
            assert statement["Resource"] != "*", statement
    assert support.template_grants(logical_id), "a function without DynamoDB access?"


def test_ingest_gets_exactly_the_dynamodb_actions_it_uses():
    # GIVEN the ingest function's policy THEN it grants these actions on these tables, nothing more
    assert support.template_grants("IngestFunction") == INGEST_GRANTS


@pytest.mark.parametrize("logical_id", DATA_TABLES)
def test_data_tables_are_protected_from_deletion(logical_id):
    # GIVEN a data table WHEN the stack is deleted or the table replaced THEN it is retained
    table = RESOURCES[logical_id]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    # AND DeleteTable is refused while the parameter (default "true") keeps protection on
    assert table["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["ProtectTables", True, False]}
    assert TEMPLATE.raw["Conditions"]["ProtectTables"] == {
        "Fn::Equals": [{"Ref": "TableDeletionProtection"}, "true"]
    }
    assert PARAMETERS["TableDeletionProtection"]["Default"] == "true"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_reserved_concurrency_is_a_parameter_that_can_be_unset(logical_id):
    # GIVEN a function's reserved concurrency THEN it is its parameter, or no value at all when -1
    name = logical_id.removesuffix("Function") + "ReservedConcurrency"
    condition = "Reserve" + logical_id.removesuffix("Function") + "Concurrency"
    assert RESOURCES[logical_id]["Properties"]["ReservedConcurrentExecutions"] == {
        "Fn::If": [condition, {"Ref": name}, {"Ref": "AWS::NoValue"}]
    }
    assert TEMPLATE.raw["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": name}, "-1"]}]}
    assert PARAMETERS[name]["Default"] == -1
