"""Credit-balance alerts and automatic top-ups through the official `stripe` SDK on the local
server (issue 13 points 6 and 7), with a webhook endpoint on 127.0.0.1 that receives the signed
events: `billing.alert.triggered` when the balance is at or below the alert's threshold, the
top-up's invoice (created by the outbox's reaction, off the request), `invoice.paid` once it is
paid out of band, then the paid grant and `billing.alert.recovered`.

The alert's `credit_balance_threshold` is Stripe's preview shape (the GA SDK sends the dict as
given); the top-up rule is a Tally extension, called with the SDK's `raw_request`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import stripe
import support

pytestmark = pytest.mark.e2e
EVENTS = ["billing.alert.triggered", "billing.alert.recovered", "invoice.paid", "tally.credit_top_up.started"]


def _wait(what: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_an_alert_and_a_top_up_end_to_end(client: stripe.StripeClient, local_server) -> None:
    receiver = support.WebhookReceiver().start()
    try:
        hook = client.v1.webhook_endpoints.create({"url": receiver.url, "enabled_events": EVENTS})

        def received(kind: str) -> list[Any]:
            out = []
            for headers, payload in list(receiver.got):
                event = stripe.Webhook.construct_event(payload, headers["stripe-signature"], hook.secret)
                if event.type == kind:
                    out.append(event)
            return out

        # GIVEN a customer without credits and a credit-balance alert at 5.00 USD
        customer = client.v1.customers.create({"name": "Top me up"})
        alert = client.v1.billing.alerts.create(
            {
                "alert_type": "credit_balance_threshold",
                "title": "Credits low",
                "credit_balance_threshold": {  # type: ignore[typeddict-unknown-key]
                    "filters": [{"type": "customer", "customer": customer.id}],
                    "lte": {"balance_type": "monetary", "monetary": {"currency": "usd", "value": 500}},
                },
            }
        )
        assert isinstance(alert, stripe.billing.Alert) and alert.alert_type == "credit_balance_threshold"
        assert alert["credit_balance_threshold"]["lte"]["monetary"]["value"] == 500
        # THEN the endpoint gets billing.alert.triggered (balance 0 ≤ 500), signed
        (triggered,) = _wait(lambda: received("billing.alert.triggered"))
        assert triggered.data.object["alert"]["id"] == alert.id and triggered.data.object["value"] == 0
        # WHEN a rule "at or below 5.00, top up 20.00" is created (Tally's extension)
        raw = client.raw_request(
            "post",
            "/v1/tally/credit_top_up_rules",
            customer=customer.id,
            currency="usd",
            threshold=500,
            amount=2000,
        )
        rule = json.loads(raw.body)
        assert rule["object"] == "tally.credit_top_up_rule"
        # THEN one top-up invoice of 20.00, open, and its start event
        (started,) = _wait(lambda: received("tally.credit_top_up.started"))
        invoice = client.v1.invoices.retrieve(started.data.object["invoice"])
        assert (invoice.status, invoice.total, invoice.billing_reason) == ("open", 2000, "manual")
        # WHEN it is paid out of band
        client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
        # THEN invoice.paid, then a paid grant of 20.00 and billing.alert.recovered at 2000
        _wait(lambda: received("invoice.paid"))
        (recovered,) = _wait(lambda: received("billing.alert.recovered"))
        assert recovered.data.object["value"] == 2000
        grants = client.v1.billing.credit_grants.list({"customer": customer.id})
        assert [(g.category, g.amount.monetary.value) for g in grants.data if g.amount.monetary] == [
            ("paid", 2000)
        ]
        summary = client.v1.billing.credit_balance_summary.retrieve(
            {
                "customer": customer.id,
                "filter": {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}},
            }
        )
        assert summary.balances[0].available_balance.monetary is not None
        assert summary.balances[0].available_balance.monetary.value == 2000
        # AND exactly one of each, however often events were delivered
        time.sleep(1.0)
        assert (
            len(received("billing.alert.triggered")) == 1
            and len(received("tally.credit_top_up.started")) == 1
        )
        assert len(client.v1.invoices.list({"customer": customer.id}).data) == 1
    finally:
        receiver.stop()
