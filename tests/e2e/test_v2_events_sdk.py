"""The v2 billing events through the official SDK on the local stack (branch v2events): a webhook
endpoint created with the SDK naming v2 types, a pricing plan and a cadence made over v2 routes
(`raw_request`: the GA SDK has no classes for these preview objects), their thin events listed with
`client.v1.events.list(type="v2.billing.*")` (`related_object` naming the v2 object and its path),
and one of them delivered signed to the endpoint, verified by `stripe.Webhook.construct_event`."""

from __future__ import annotations

import json
import time

import pytest
import stripe
import support

from tally.billing.accounts import account_of

pytestmark = pytest.mark.e2e
PREVIEW = "2026-08-12.preview"


def _call(client: stripe.StripeClient, method: str, path: str, **params) -> dict:
    return json.loads(client.raw_request(method, path, stripe_version=PREVIEW, **params).body)


def test_v2_billing_events_are_listed_and_delivered(client: stripe.StripeClient, local_server, e2e_key):
    import boto3

    receiver = support.WebhookReceiver().start()
    try:
        hook = client.v1.webhook_endpoints.create(
            {
                "url": receiver.url,
                "enabled_events": ["v2.billing.cadence.created", "v2.billing.pricing_plan.created"],
            }
        )
        plan = _call(
            client,
            "post",
            "/v2/billing/pricing_plans",
            currency="usd",
            display_name="P",
            tax_behavior="exclusive",
        )
        customer = client.v1.customers.create({"name": "Ada"})
        profile = _call(client, "post", "/v2/billing/profiles", customer=customer.id)
        cadence = _call(
            client,
            "post",
            "/v2/billing/cadences",
            billing_cycle={"type": "month"},
            payer={"billing_profile": profile["id"]},
        )
        listed = client.v1.events.list({"type": "v2.billing.*"}).data
        assert [e.type for e in listed] == [
            "v2.billing.cadence.created",
            "v2.billing.pricing_plan_version.created",
            "v2.billing.pricing_plan.created",
        ]
        created = listed[0]
        assert created.related_object.to_dict() == {
            "id": cadence["id"],
            "type": "v2.billing.cadence",
            "url": f"/v2/billing/cadences/{cadence['id']}",
        }
        assert listed[2].related_object["id"] == plan["id"]
        # the event reaches the endpoint (sent to the webhook queue as dispatch does), signed
        endpoint, _ = local_server.aws()
        sqs = boto3.client(
            "sqs",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        queue = sqs.get_queue_url(QueueName="tally-local-WebhookQueue")["QueueUrl"]
        sqs.send_message(
            QueueUrl=queue, MessageBody=json.dumps({"account": account_of(e2e_key), "event": created.id})
        )
        deadline = time.monotonic() + 20
        while (
            not any(json.loads(p)["id"] == created.id for _, p in receiver.got)
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        got = [(h, p) for h, p in receiver.got if json.loads(p)["id"] == created.id]
        assert got, local_server.output()[-3000:]
        headers, payload = got[0]
        verified = stripe.Webhook.construct_event(payload, headers["stripe-signature"], hook.secret)
        assert verified.type == "v2.billing.cadence.created"
        assert verified["related_object"]["id"] == cadence["id"]
    finally:
        receiver.stop()
