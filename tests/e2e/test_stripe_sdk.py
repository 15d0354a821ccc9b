"""The official `stripe` SDK pointed at the local server: only the base URL and the key change."""

from __future__ import annotations

import pytest
import stripe

pytestmark = pytest.mark.e2e


def test_customer_round_trip(client):
    # GIVEN a customer created through the SDK
    customer = client.v1.customers.create({"name": "Jenny Rosen", "metadata": {"order": "6735"}})
    assert customer.id.startswith("cus_") and customer.metadata["order"] == "6735"
    # WHEN it is retrieved, updated and deleted THEN the SDK's objects reflect each step
    assert client.v1.customers.retrieve(customer.id).name == "Jenny Rosen"
    assert (
        client.v1.customers.update(customer.id, {"email": "jenny@example.com"}).email == "jenny@example.com"
    )
    assert client.v1.customers.delete(customer.id).deleted is True


def test_auto_pagination_walks_every_page(client):
    # GIVEN 7 customers WHEN auto-paging with pages of 3 THEN all 7 come back once, newest first
    ids = [client.v1.customers.create({"name": f"c{i}"}).id for i in range(7)]
    seen = [c.id for c in client.v1.customers.list({"limit": 3}).auto_paging_iter()]
    assert seen == ids[::-1]


def test_a_missing_object_raises_invalid_request_error(client):
    # GIVEN no such customer WHEN retrieved THEN the SDK raises its 404 error with Stripe's code
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve("cus_missing")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "id"


def test_an_unknown_param_names_the_param(client):
    # GIVEN a typo WHEN creating THEN InvalidRequestError naming it
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create({"nmae": "x"})
    assert (raised.value.code, raised.value.param) == ("parameter_unknown", "nmae")


def test_a_wrong_key_raises_authentication_error(local_server):
    # GIVEN a key the server does not know WHEN calling THEN stripe.AuthenticationError
    wrong = stripe.StripeClient("sk_test_" + "n" * 30, base_addresses={"api": local_server.url})
    with pytest.raises(stripe.AuthenticationError):
        wrong.v1.customers.list()


def test_an_explicit_idempotency_key_replays(client):
    # GIVEN a create with an idempotency key WHEN the SDK sends it twice THEN one customer
    first = client.v1.customers.create({"name": "A"}, {"idempotency_key": "sdk-1"})
    again = client.v1.customers.create({"name": "A"}, {"idempotency_key": "sdk-1"})
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"


def test_walkthrough_previews_25_tokens_as_4_cents(client):
    # GIVEN the guide's meter, price (4 cents per 100 tokens, rounded up), customer and subscription
    meter = client.v1.billing.meters.create(
        {
            "display_name": "Alpaca AI tokens",
            "event_name": "alpaca_ai_tokens",
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
        }
    )
    price = client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": 4,
            "billing_scheme": "per_unit",
            "transform_quantity": {"divide_by": 100, "round": "up"},
            "recurring": {"usage_type": "metered", "interval": "month", "meter": meter.id},
            "product_data": {"name": "Alpaca AI tokens"},
        }
    )
    customer = client.v1.customers.create({"name": "John Doe"})
    subscription = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    # WHEN 25 tokens are reported
    event = client.v1.billing.meter_events.create(
        {"event_name": "alpaca_ai_tokens", "payload": {"stripe_customer_id": customer.id, "value": "25"}}
    )
    assert event.event_name == "alpaca_ai_tokens"
    # THEN the preview invoice has a line of quantity 1 for 4 cents, and totals 4 cents
    preview = client.v1.invoices.create_preview({"subscription": subscription.id})
    lines = preview.lines.data
    assert any(line.quantity == 1 and line.amount == 4 for line in lines), lines
    assert preview.total == 4


def test_search_with_the_sdk_pages_through_next_page(client):
    # GIVEN 5 customers carrying a metadata pair and one that does not
    ids = [client.v1.customers.create({"name": f"s{i}", "metadata": {"cohort": "a"}}).id for i in range(5)]
    client.v1.customers.create({"name": "other", "metadata": {"cohort": "b"}})
    # WHEN the SDK searches with pages of 2 and auto-pages over next_page
    result = client.v1.customers.search({"query": "metadata['cohort']:'a'", "limit": 2})
    assert result.object == "search_result" and result.has_more is True and result.next_page
    seen = [c.id for c in result.auto_paging_iter()]
    # THEN every match comes back once, newest first
    assert seen == ids[::-1]


def test_search_of_each_resource_with_the_sdk(client):
    # GIVEN a product, a lookup-keyed price and a subscription
    product = client.v1.products.create({"name": "Search plan"})
    price = client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": 900,
            "product": product.id,
            "recurring": {"interval": "month"},
            "lookup_key": "search_monthly",
        }
    )
    customer = client.v1.customers.create({"email": "sdk@example.com"})
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    # WHEN each resource is searched through the SDK THEN it finds them
    assert [c.id for c in client.v1.customers.search({"query": "email:'sdk@example.com'"})] == [customer.id]
    assert [p.id for p in client.v1.products.search({"query": "name~'search' AND active:'true'"})] == [
        product.id
    ]
    assert [p.id for p in client.v1.prices.search({"query": "lookup_key:'search_monthly'"})] == [price.id]
    assert [s.id for s in client.v1.subscriptions.search({"query": "status:'active'"})] == [sub.id]


def test_a_malformed_search_raises_invalid_request_error(client):
    # GIVEN AND mixed with OR WHEN searched THEN InvalidRequestError on `query` saying where
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.search({"query": "email:'a@b.c' AND name:'x' OR name:'y'"})
    assert (raised.value.code, raised.value.param) == ("parameter_invalid", "query")
    assert "character 1" in str(raised.value.user_message)


def test_customer_search_by_email_with_the_static_api(local_server, e2e_key, client, monkeypatch):
    # GIVEN a customer whose email is not lower case, among others (the search reads the email
    # index: the exact partition and the case-folded twins', docs/API.md "What each query reads")
    wanted = client.v1.customers.create({"email": "Grace.Hopper@Example.com", "name": "Grace"})
    others = [client.v1.customers.create({"email": f"other{i}@example.com"}).id for i in range(3)]
    # WHEN the SDK's module-level API searches by email in another case
    monkeypatch.setattr(stripe, "api_key", e2e_key)
    monkeypatch.setattr(stripe, "api_base", local_server.url)
    found = stripe.Customer.search(query="email:'grace.hopper@EXAMPLE.com'")
    # THEN exactly that customer comes back, with the whole query checked
    assert ([c.id for c in found.data], found.has_more) == ([wanted.id], False)
    assert stripe.Customer.search(query="email:'grace.hopper@example.com' AND name:'ada'").data == []
    paged = stripe.Customer.search(query="email:'OTHER1@example.com'", limit=1).auto_paging_iter()
    assert [c.id for c in paged] == [others[1]]


def test_a_usage_alert_with_the_sdk_fires_once(client):
    # GIVEN a meter, a customer and an alert on that customer at 100 (Stripe's create call)
    import time

    meter = client.v1.billing.meters.create(
        {
            "display_name": "SDK alert tokens",
            "event_name": "sdk_alert_tokens",
            "default_aggregation": {"formula": "sum"},
        }
    )
    customer = client.v1.customers.create({"name": "Alerted"})
    alert = client.v1.billing.alerts.create(
        {
            "alert_type": "usage_threshold",
            "title": "100 tokens",
            "usage_threshold": {
                "gte": 100,
                "meter": meter.id,
                "recurrence": "one_time",
                "filters": [{"type": "customer", "customer": customer.id}],
            },
        }
    )
    assert isinstance(alert, stripe.billing.Alert) and alert.status == "active"
    assert alert.usage_threshold is not None and alert.usage_threshold.filters is not None
    assert alert.usage_threshold.filters[0].customer == customer.id
    # WHEN 60 + 60 tokens are reported (after the alert's creation)
    ahead = (int(time.time()) // 60 + 2) * 60
    for value in ("60", "60"):
        client.v1.billing.meter_events.create(
            {
                "event_name": "sdk_alert_tokens",
                "timestamp": ahead,
                "payload": {"stripe_customer_id": customer.id, "value": value},
            }
        )
    # THEN one billing.alert.triggered event, whose object the SDK reads as AlertTriggered — once
    # the usage aggregator has run (issue 15: alerts follow the stream, within seconds)
    deadline = time.monotonic() + 15
    while not (found := client.v1.events.list({"type": "billing.alert.triggered"}).data):
        assert time.monotonic() < deadline, "no billing.alert.triggered within 15 s"
        time.sleep(0.1)
    (event,) = found
    triggered = event.data.object
    assert triggered["value"] == 120 and triggered["customer"] == customer.id
    assert triggered["alert"]["id"] == alert.id
    # AND the alert deactivates, activates and archives through the SDK
    assert client.v1.billing.alerts.deactivate(alert.id).status == "inactive"
    assert client.v1.billing.alerts.activate(alert.id).status == "active"
    assert client.v1.billing.alerts.archive(alert.id).status == "archived"
    assert [a.id for a in client.v1.billing.alerts.list({"meter": meter.id}).data] == [alert.id]
