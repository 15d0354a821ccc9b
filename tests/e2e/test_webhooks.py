"""Webhooks on the real local stack: an endpoint created over HTTP receives `customer.created`,
signed so that the official SDK verifies it. The queue poller of `tally_local.triggers` runs the
webhooks function, as the SQS event source does on AWS.

The event's `{account, event}` message is what `dispatch` sends for each recorded event; it is sent
here directly to the local webhook queue, so this test covers the webhooks function whether or not
dispatch runs (when it does, the event may arrive twice: deliveries are at least once)."""

from __future__ import annotations

import json
import time

import pytest
import requests
import stripe
import support

from tally.billing.accounts import account_of

pytestmark = pytest.mark.e2e
TIMEOUT = 10


def test_an_endpoint_receives_customer_created_signed(local_server, e2e_key):
    import boto3

    receiver = support.WebhookReceiver().start()
    try:
        http = requests.Session()
        http.auth = (e2e_key, "")
        # GIVEN an endpoint on 127.0.0.1 for customer.created, created over HTTP
        hook = http.post(
            f"{local_server.url}/v1/webhook_endpoints",
            data={"url": receiver.url, "enabled_events[]": "customer.created"},
            timeout=TIMEOUT,
        ).json()
        assert hook["secret"].startswith("whsec_"), hook
        # WHEN a customer is created and its event reaches the webhook queue
        customer = http.post(
            f"{local_server.url}/v1/customers", data={"name": "Jenny"}, timeout=TIMEOUT
        ).json()
        events = http.get(
            f"{local_server.url}/v1/events", params={"type": "customer.created"}, timeout=TIMEOUT
        ).json()["data"]
        (event,) = events
        endpoint, _ = local_server.aws()
        sqs = boto3.client(
            "sqs",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        queue = sqs.get_queue_url(QueueName="tally-local-WebhookQueue")["QueueUrl"]
        body = {"account": account_of(e2e_key), "event": event["id"]}
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
        deadline = time.monotonic() + 20
        while not receiver.got and time.monotonic() < deadline:
            time.sleep(0.1)
        # THEN the receiver got the event, and the SDK verifies it with the endpoint's secret
        assert receiver.got, local_server.output()[-3000:]
        for headers, payload in receiver.got:
            verified = stripe.Webhook.construct_event(payload, headers["stripe-signature"], hook["secret"])
            assert verified.id == event["id"] and verified.type == "customer.created"
            assert verified.data.object.id == customer["id"]
        # AND the attempt is listed
        attempts = http.get(
            f"{local_server.url}/v1/webhook_endpoints/{hook['id']}/attempts", timeout=TIMEOUT
        ).json()["data"]
        assert attempts and attempts[-1]["status_code"] == 200 and attempts[-1]["event"] == event["id"]
    finally:
        receiver.stop()
