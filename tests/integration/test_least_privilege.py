"""The IAM policies in template.yaml against the calls the handlers really make: every DynamoDB call
is recorded (with the function that made it) and turned into the permission AWS checks for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextvars import ContextVar

import pytest
import support

pytestmark = pytest.mark.usefixtures("moto_tables")

_running: ContextVar[str | None] = ContextVar("_running", default=None)
# Powertools documents GetItem as required: it reads the existing record when a conditional put
# fails without returning it (ReturnValuesOnConditionCheckFailure, boto3 >= 1.26.164, avoids that).
IDEMPOTENCY_FALLBACK = {("IdempotencyTable", "GetItem", "table")}
# Deleting a notification subscription made on the stack's topic, before accounts had their own
# topics (template.yaml, NotificationLegacyUnsubscribe): no new subscription is made there any more.
LEGACY_UNSUBSCRIBE = {("NotificationTopic", "sns:Unsubscribe", "topic")}
# A usage read first catches the usage stream up (issue 15, store/usage/catchup.py): the stream's
# ARN (DescribeTable, once per process), its checkpoint (GetItem) and, only when the aggregator is
# behind, the bucket updates and checkpoint (UpdateItem); the stream's own calls (DynamoDB Streams,
# not recorded here). Granted to every function that reads usage, exercised when it is behind.
USAGE_CATCH_UP = {
    ("UsageTable", "DescribeTable", "table"),
    ("UsageTable", "GetItem", "table"),
    ("UsageTable", "UpdateItem", "table"),
    ("UsageTable", "DescribeStream", "stream"),
    ("UsageTable", "GetShardIterator", "stream"),
    ("UsageTable", "GetRecords", "stream"),
}


@pytest.fixture
def needed(
    monkeypatch: pytest.MonkeyPatch, functions: support.Functions, moto_tables: dict[str, str]
) -> Iterator[dict[str, set[support.Grant]]]:
    """{function logical id: the permissions its calls needed} while the test runs."""
    from botocore.client import BaseClient

    logical = {name: logical_id for logical_id, name in moto_tables.items()}
    logical.update({f"tally-test-{q}": q for q in [*functions.template.queues, *functions.template.topics]})
    seen: dict[str, set[support.Grant]] = {}
    original_call = BaseClient._make_api_call
    original_handler = functions.handler

    def make_api_call(client, operation, params):
        function = _running.get()
        service = client.meta.service_model.service_name
        if function is not None and service in ("dynamodb", "sqs", "sns"):
            needed_for = {
                "dynamodb": support.needed_grants,
                "sqs": support.needed_sqs_grants,
                "sns": support.needed_sns_grants,
            }[service]
            grants = needed_for(operation, params)
            for resource, action, scope in grants:
                seen.setdefault(function, set()).add((logical.get(resource, resource), action, scope))
        return original_call(client, operation, params)

    def handler(logical_id):
        inner = original_handler(logical_id)

        def run(event, context):
            token = _running.set(logical_id)
            try:
                return inner(event, context)
            finally:
                _running.reset(token)

        return run

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    monkeypatch.setattr(functions, "handler", handler)
    yield seen


def _event(api, customer, value, identifier, event_name="tokens", headers=None):
    return api.post(
        "/v1/billing/meter_events",
        {
            "event_name": event_name,
            "identifier": identifier,
            "payload": {"stripe_customer_id": customer, "value": value},
        },
        headers=headers,
    )


def _meter_and_customer(api):
    meter = api.post(
        "/v1/billing/meters",
        {"display_name": "Tokens", "event_name": "tokens", "default_aggregation": {"formula": "sum"}},
    )
    assert meter.status == 200, meter.text
    return meter.json, api.post("/v1/customers", {"name": "John Doe"}).json["id"]


def test_ingest_needs_exactly_what_its_policy_grants(api, needed):
    # GIVEN a meter and a customer, with a usage alert on every customer and one on this customer
    meter, cus = _meter_and_customer(api)
    for customer in (None, cus):
        rule = {"meter": meter["id"], "gte": 5, "recurrence": "one_time"}
        if customer:
            rule["filters"] = [{"type": "customer", "customer": customer}]
        assert (
            api.post(
                "/v1/billing/alerts", {"alert_type": "usage_threshold", "title": "t", "usage_threshold": rule}
            ).status
            == 200
        )
    # WHEN every ingest route runs: an idempotent event, its replay, a failing idempotent request,
    # a duplicate identifier, a v2 session and stream (crossing both alerts), and a cancel adjustment
    assert _event(api, cus, "10", "a", headers={"Idempotency-Key": "k1"}).status == 200
    replay = _event(api, cus, "10", "a", headers={"Idempotency-Key": "k1"})
    assert replay.header("Idempotent-Replayed") == "true"
    assert _event(api, cus, "1", "b", event_name="nope", headers={"Idempotency-Key": "k2"}).status == 400
    assert _event(api, cus, "99", "a").json["identifier"] == "a"  # duplicate: the standing event
    # (v1 keeps its Idempotency-Key on the event, branch `ingest`; v2 routes keep Powertools
    # records: Put + Update on success, Delete when the request fails)
    v2 = {"event_name": "tokens", "identifier": "v2a", "payload": {"stripe_customer_id": cus, "value": "1"}}
    assert api.post("/v2/billing/meter_events", json=v2, headers={"Idempotency-Key": "k3"}).status == 200
    bad = {**v2, "event_name": "nope"}
    assert api.post("/v2/billing/meter_events", json=bad, headers={"Idempotency-Key": "k4"}).status == 400
    token = api.post("/v2/billing/meter_event_session", json={}).json["authentication_token"]
    stream = api.post(
        "/v2/billing/meter_event_stream",
        json={
            "events": [
                {
                    "event_name": "tokens",
                    "timestamp": time.strftime(
                        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() // 60 * 60 + 120)
                    ),
                    "payload": {"stripe_customer_id": cus, "value": value},
                }
                for value in ("30", "10")  # a batch: its events are INSERTed (BatchExecuteStatement)
            ]
        },
        key=token,
    )
    assert stream.status == 200, stream.text
    assert (
        len([e for e in support.stored_events(api.account.id) if e["type"] == "billing.alert.triggered"]) == 2
    )
    cancel = api.post(
        "/v1/billing/meter_event_adjustments",
        {"event_name": "tokens", "type": "cancel", "cancel": {"identifier": "a"}},
    )
    assert cancel.status == 200, cancel.text
    # AND an event of a customer whose subscription periods are unknown (created before they were
    # kept: its evaluation queries its subscriptions, `by_customer`; branch `alerts`)
    from tally.store import subscription_periods
    from tally.store.models import ObjectItem

    legacy = api.post("/v1/customers", {"name": "Legacy"}).json["id"]
    pk, sk = subscription_periods.key(api.account.id, legacy)
    ObjectItem(pk=pk, sk=sk).delete()
    assert _event(api, legacy, "1", "legacy").status == 200
    # THEN the calls needed exactly the ingest policy: nothing missing, nothing else granted
    assert needed["IngestFunction"] | IDEMPOTENCY_FALLBACK == support.template_grants("IngestFunction")
    # AND the usage aggregator (run by the harness after each request, as its stream mapping
    # would) needed nothing its policy does not grant
    assert needed["UsageAggregatorFunction"] <= support.template_grants("UsageAggregatorFunction")


def test_api_needs_exactly_what_its_policy_grants(api, needed):
    # GIVEN the catalog, a subscription and some usage, built through the API function
    meter, cus = _meter_and_customer(api)
    price = api.post(
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 4,
            "recurring": {"usage_type": "metered", "interval": "month", "meter": meter["id"]},
            "product_data": {"name": "Tokens"},
        },
        headers={"Idempotency-Key": "p1"},
    ).json
    sub = api.post("/v1/subscriptions", {"customer": cus, "items": [{"price": price["id"]}]}).json
    assert _event(api, cus, "25", "u1").status == 200
    # AND a price of an existing product (its create checks that the product exists)
    product = api.post("/v1/products", {"name": "Seats"}).json
    seats = api.post("/v1/prices", {"currency": "usd", "unit_amount": 100, "product": product["id"]})
    assert seats.status == 200, seats.text
    # WHEN reads, lists, searches, updates, previews, summaries, replays and deletes run
    api.post("/v1/prices", {"currency": "usd"}, headers={"Idempotency-Key": "p2"})  # fails: record deleted
    api.post("/v1/prices", {"currency": "usd", "unit_amount": 4}, headers={"Idempotency-Key": "p1"})
    api.post(f"/v1/customers/{cus}", {"email": "j@example.com", "metadata": {"plan": "pro"}})
    assert api.get("/v1/customers/search", {"query": "metadata['plan']:'pro'"}).json["data"]
    assert api.get("/v1/prices/search", {"query": "lookup_key:'none' OR type:'recurring'"}).status == 200
    for path in ("/v1/customers", "/v1/prices", "/v1/products", "/v1/billing/meters", "/v1/events"):
        assert api.get(path, {"limit": 2}).status == 200
    assert api.get("/v1/subscriptions", {"customer": cus}).status == 200
    assert api.get("/v1/customers", {"email": "j@example.com"}).status == 200  # by_field + BatchGetItem
    assert api.post("/v1/invoices/create_preview", {"subscription": sub["id"]}).status == 200
    summaries = api.get(
        f"/v1/billing/meters/{meter['id']}/event_summaries",
        {"customer": cus, "start_time": 0, "end_time": 4_000_000_020},
    )
    assert summaries.status == 200, summaries.text
    # (branch portal) a customer portal session and every portal data route, with its link's token
    portal = api.post("/v1/billing_portal/sessions", {"customer": cus})
    assert portal.status == 200, portal.text
    token = portal.json["url"].partition("#session=")[2]
    for path in ("/portal/api/overview", "/portal/api/invoices", "/portal/api/credits"):
        assert api.get(path, key=token).status == 200, path
    assert api.get(f"/portal/api/invoices/{sub['latest_invoice']}", key=token).status in (200, 404)
    assert api.get("/portal", key=None).status == 200
    assert api.post(f"/v1/billing/meters/{meter['id']}/deactivate").status == 200
    assert api.delete(f"/v1/subscriptions/{sub['id']}").status == 200
    nsub = api.post(
        "/v1/notification_subscriptions",
        {"protocol": "email", "endpoint": "lp@example.com", "event_types": ["invoice.*"], "customer": cus},
    )
    assert nsub.status == 200, nsub.text
    assert api.get("/v1/notification_subscriptions").status == 200
    assert api.delete(f"/v1/notification_subscriptions/{nsub.json['id']}").status == 200
    queue = _own_queue(api.account.id)
    nsub = api.post(
        "/v1/notification_subscriptions", {"protocol": "sqs", "endpoint": queue, "event_types": ["*"]}
    )
    assert nsub.status == 200, nsub.text
    assert api.delete(f"/v1/customers/{cus}").status == 200
    clock = api.post("/v1/test_helpers/test_clocks", {"frozen_time": 2_000_000_000}).json
    assert support.advance_clock(api, api.functions, clock["id"], 2_000_000_060)["status"] == "ready"
    # THEN the calls needed exactly the API function's policy: nothing missing, nothing else granted
    assert needed[
        "ApiFunction"
    ] | IDEMPOTENCY_FALLBACK | LEGACY_UNSUBSCRIBE | USAGE_CATCH_UP == support.template_grants("ApiFunction")


def _own_queue(account: str) -> str:
    """A customer's queue (made outside Tally) whose policy names the account's topic."""
    import json
    import os

    from tally.store.aws import sqs

    url = sqs().create_queue(QueueName=f"lp-{account[-8:]}")["QueueUrl"]
    arn = sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = f"{os.environ['NOTIFICATION_TOPIC_ARN']}-{account}"
    grant = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
    }
    sqs().set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Statement": [grant]})})
    return str(arn)


def test_billing_cycle_functions_need_exactly_what_their_policies_grant(functions, needed):
    # GIVEN a subscription whose period has ended (the flow of test_billing_cycles.py)
    import test_billing_cycles as cycles_flow

    cycles_flow._drain()
    plan = cycles_flow._plan()
    # AND one more anchored 37 s into a minute (its usage reads boundaries inside a minute)
    from tally.billing import subscription_creation
    from tally.billing.subscriptions import ItemSpec
    from tally.clock import Clock as At

    spec = ItemSpec(plan.metered, "items[0][price]")
    subscription_creation.create(plan.account, plan.customer, [spec], At.at(cycles_flow.START + 37))
    # AND (branch applying) billing credits its finalizations take (grants read, debited)
    from tally.billing import credit_grants
    from tally.domain.credits import Scope

    grant = credit_grants.GrantSpec(plan.customer, "usd", 100, Scope())
    credit_grants.create(plan.account, grant, At.at(cycles_flow.START + 60))
    # WHEN the schedule closes it, the worker bills it, and the duplicate delivery is a no-op
    cycles_flow.close(functions, cycles_flow.JUNE + 60)
    records = cycles_flow.queued(plan.account)
    assert cycles_flow.bill(functions, records + records) == []
    # AND it finalizes June, then late usage is trued up on July, and August's finalization
    # forgets June's billed usage (settled): every call of the late-usage path (billing.true_ups)
    from tally.billing import meter_events
    from tally.clock import Clock

    june_10, june_20 = cycles_flow._at(2031, 6, 10), cycles_flow._at(2031, 6, 20)
    for end in (cycles_flow.JUNE, cycles_flow.JULY, cycles_flow._at(2031, 8, 14, 9, 30)):
        if end != cycles_flow.JUNE:
            cycles_flow.close(functions, end + 60)
            assert cycles_flow.bill(functions, cycles_flow.queued(plan.account)) == []
        cycles_flow.close(functions, end + 3600 + 60)
        assert cycles_flow.bill(functions, cycles_flow.queued(plan.account)) == []
        if end == cycles_flow.JUNE:
            late = meter_events.EventInput(
                "alpaca_ai_tokens", {"stripe_customer_id": plan.customer, "value": "600"}, timestamp=june_10
            )
            assert meter_events.accept(plan.account, {0: late}, Clock.at(june_20)).stored
    # AND (topups) the `credits` message of a paid top-up invoice: the worker grants its credits
    import test_credit_top_ups

    test_credit_top_ups.paid_top_up_reaction(functions, plan.account)
    # THEN each function's calls needed exactly its policy: nothing missing, nothing else granted
    assert needed["ClosePeriodsFunction"] == support.template_grants("ClosePeriodsFunction")
    assert needed["BillPeriodFunction"] | USAGE_CATCH_UP == support.template_grants("BillPeriodFunction")


def test_dispatch_needs_exactly_what_its_policy_grants(api, needed, outbox):
    # GIVEN changes that write events (the outbox)
    cus = api.post("/v1/customers", {"name": "Outboxed"}).json["id"]
    assert api.post(f"/v1/customers/{cus}", {"name": "Renamed"}).status == 200
    # AND (topups) a credit grant, whose event may move a credit balance (the billing queue's message)
    import test_credit_grants

    test_credit_grants.grant(api, cus, 100)
    # WHEN the stream delivers them to DispatchFunction
    outbox.drain()
    # THEN its calls needed exactly its policy: Publish (and the topic's key), the webhook queue
    assert needed["DispatchFunction"] == support.template_grants("DispatchFunction")


def test_the_test_clock_worker_needs_exactly_what_its_policy_grants(api, functions, needed):
    functions.drain()  # nothing else waiting
    # GIVEN a customer on a test clock with a metered subscription and usage
    clock = api.post("/v1/test_helpers/test_clocks", {"frozen_time": 2_000_000_000}).json
    meter = api.post(
        "/v1/billing/meters",
        {"display_name": "Tokens", "event_name": "tokens", "default_aggregation": {"formula": "sum"}},
    ).json
    cus = api.post("/v1/customers", {"name": "On a clock", "test_clock": clock["id"]}).json["id"]
    price = api.post(
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 4,
            "recurring": {"usage_type": "metered", "interval": "month", "meter": meter["id"]},
            "product_data": {"name": "Tokens"},
        },
    ).json
    assert api.post("/v1/subscriptions", {"customer": cus, "items": [{"price": price["id"]}]}).status == 200
    assert _event(api, cus, "25", "u1").status == 200
    # AND (branch applying) billing credits its finalizations take (grants read, debited)
    grant = {
        "customer": cus,
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 50}},
        "applicability_config": {"scope": {"price_type": "metered"}},
    }
    assert api.post("/v1/billing/credit_grants", grant).status == 200
    # WHEN the clock advances two months (two periods billed, finalized, one paid) and a duplicate
    # message arrives after it is ready
    advanced = support.advance_clock(api, functions, clock["id"], 2_000_000_000 + 61 * 86400)
    assert advanced["status"] == "ready", advanced
    from tally.billing import test_clocks
    from tally.settings import settings
    from tally.store import queues

    queues.send(
        [test_clocks.advance_message(api.account.id, clock["id"], 2_000_000_000 + 61 * 86400)],
        settings().test_clock_queue_url,
    )
    assert functions.drain() == 1
    # THEN the worker's calls needed exactly its policy: nothing missing, nothing else granted
    assert needed["AdvanceTestClockFunction"] | USAGE_CATCH_UP == support.template_grants(
        "AdvanceTestClockFunction"
    )


def test_webhooks_function_needs_exactly_what_its_policy_grants(api, functions, needed):
    # GIVEN an endpoint whose receiver fails once then accepts, and a customer.created event
    import test_webhook_delivery as flow

    from tally_local.gateway import LambdaContext

    flow._drain(skew=10**6)
    receiver = support.WebhookReceiver(answers=[500, 200]).start()
    try:
        hook = flow._endpoint(api, receiver.url, ["*"])
        event_id = flow._customer_created(api)
        handler = functions.handler("WebhooksFunction")

        def run(records):
            answer = handler({"Records": records}, LambdaContext("WebhooksFunction"))
            assert answer["batchItemFailures"] == []

        # WHEN the event is fanned out and fails (a retry is queued), a retry read early waits
        # again, and the event fanned out once more is delivered
        fan_out = flow._record({"account": api.account.id, "event": event_id})
        run([fan_out])
        run(flow._drain())
        run(flow._drain(skew=10**6))
        flow._drain(skew=10**6)
        run([fan_out])
        run(flow._drain())
        assert len(receiver.got) == 2
        assert [a["succeeded"] for a in flow._attempts(api, hook["id"])] == [True, False]
    finally:
        receiver.stop()
    # THEN its calls needed exactly its policy: nothing missing, nothing else granted
    assert needed["WebhooksFunction"] == support.template_grants("WebhooksFunction")
