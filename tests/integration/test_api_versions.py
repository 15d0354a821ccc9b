"""API versions (issue 12 point 9): an app pinned to an acacia version (before 2025-03-31.basil)
reads invoices, their lines and subscriptions in their older shape — by its `Stripe-Version`
header, by its account's default, and in the webhooks of an endpoint with that `api_version`.
The event log keeps one copy, in Tally's shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
import support

from tally.billing import webhooks
from tally.clock import Clock
from tally.store.outbound import Answer

pytestmark = pytest.mark.usefixtures("moto_tables")

ACACIA = "2025-02-24.acacia"
OLDER_ACACIA = "2024-12-18.acacia"
BASIL = "2025-03-31.basil"


def ok(response: support.Response, status: int = 200) -> dict[str, Any]:
    assert response.status == status, response.text
    return response.json


def _subscribed(api: support.Api) -> dict[str, Any]:
    """A customer subscribed to 3 seats at 1,000 a month: its creation invoice (3,000)."""
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 1000,
                "recurring": {"interval": "month"},
                "product_data": {"name": "Seat"},
                "nickname": "Seat monthly",
            },
        )
    )
    customer = ok(api.post("/v1/customers", {"name": "Pinned"}))
    sub = ok(
        api.post(
            "/v1/subscriptions",
            {
                "customer": customer["id"],
                "items": [{"price": price["id"], "quantity": 3}],
                "metadata": {"plan": "team"},
            },
        )
    )
    return {"price": price, "customer": customer, "subscription": sub, "invoice": sub["latest_invoice"]}


def _assert_acacia_invoice(inv: dict[str, Any], seen: dict[str, Any]) -> None:
    sub, price = seen["subscription"], seen["price"]
    assert inv["subscription"] == sub["id"]
    assert inv["subscription_details"] == {"metadata": {"plan": "team"}}
    assert inv["paid"] is False and inv["paid_out_of_band"] is False
    assert (inv["discount"], inv["tax"], inv["total_tax_amounts"], inv["quote"]) == (None, None, [], None)
    assert "parent" not in inv and "total_taxes" not in inv
    (line,) = inv["lines"]["data"]
    assert line["price"]["id"] == price["id"] and line["price"]["object"] == "price"
    assert line["price"]["nickname"] == "Seat monthly" and line["price"]["unit_amount"] == 1000
    assert line["plan"]["id"] == price["id"] and line["plan"]["amount"] == 1000
    assert (line["type"], line["proration"], line["subscription"]) == ("subscription", False, sub["id"])
    assert line["subscription_item"] == sub["items"]["data"][0]["id"]
    assert line["invoice_item"] is None and line["proration_details"] == {"credited_items": None}
    assert (line["amount"], line["amount_excluding_tax"], line["quantity"]) == (3000, 3000, 3)
    assert line["unit_amount_excluding_tax"] == "1000"
    assert (line["tax_amounts"], line["tax_rates"]) == ([], [])
    assert not {"parent", "pricing", "taxes"} & set(line)


def test_an_acacia_pinned_request_reads_the_invoice_fields_of_its_version(api):
    # GIVEN a subscription's creation invoice
    seen = _subscribed(api)
    # WHEN an app pinned to 2025-02-24.acacia retrieves it
    inv = ok(api.get(f"/v1/invoices/{seen['invoice']}", headers={"Stripe-Version": ACACIA}))
    # THEN it reads subscription, subscription_details, paid and each line's price, type, proration
    _assert_acacia_invoice(inv, seen)
    assert inv["amount_due"] == 3000 and inv["total"] == 3000


def test_without_a_pin_or_from_basil_on_the_shape_is_tallys(api):
    # GIVEN a creation invoice
    seen = _subscribed(api)
    for headers in ({}, {"Stripe-Version": BASIL}, {"Stripe-Version": "2026-10-28.endive"}):
        # WHEN read unpinned, at basil, or at a release newer than Tally knows
        inv = ok(api.get(f"/v1/invoices/{seen['invoice']}", headers=headers))
        # THEN parent and pricing, no paid / line price
        assert inv["parent"]["subscription_details"]["subscription"] == seen["subscription"]["id"]
        assert "paid" not in inv and "subscription_details" not in inv
        (line,) = inv["lines"]["data"]
        assert line["pricing"]["price_details"]["price"] == seen["price"]["id"]
        assert not {"price", "plan", "type", "proration"} & set(line)


def test_acacia_reads_the_period_on_the_subscription_not_on_its_items(api):
    seen = _subscribed(api)
    sub_id = seen["subscription"]["id"]
    # WHEN an acacia app retrieves the subscription, lists them, or reads one item
    for shown in (
        ok(api.get(f"/v1/subscriptions/{sub_id}", headers={"Stripe-Version": OLDER_ACACIA})),
        ok(api.get("/v1/subscriptions", headers={"Stripe-Version": OLDER_ACACIA}))["data"][0],
    ):
        # THEN the period sits at the top, not on the items; `discount` is there
        assert shown["current_period_end"] == seen["subscription"]["current_period_end"]
        assert shown["discount"] is None
        assert "current_period_end" not in shown["items"]["data"][0]
    item = seen["subscription"]["items"]["data"][0]["id"]
    shown_item = ok(api.get(f"/v1/subscription_items/{item}", headers={"Stripe-Version": ACACIA}))
    assert "current_period_start" not in shown_item and shown_item["price"]["id"] == seen["price"]["id"]
    # AND expanded invoices follow the version too
    expanded = ok(
        api.get(
            f"/v1/subscriptions/{sub_id}", {"expand": ["latest_invoice"]}, headers={"Stripe-Version": ACACIA}
        )
    )
    _assert_acacia_invoice(expanded["latest_invoice"], seen)


def test_paying_out_of_band_reads_paid_true_and_its_event_says_it_was_unpaid(api):
    seen = _subscribed(api)
    inv_id = seen["invoice"]
    # GIVEN the invoice finalized (if still a draft) WHEN paid out of band
    pinned = {"Stripe-Version": ACACIA}
    paid = ok(api.post(f"/v1/invoices/{inv_id}/pay", {"paid_out_of_band": "true"}, headers=pinned))
    # THEN paid and paid_out_of_band read true
    assert (paid["status"], paid["paid"], paid["paid_out_of_band"]) == ("paid", True, True)
    # AND the invoice.paid event, read by the pinned app, says it was unpaid before
    events = ok(api.get("/v1/events", {"type": "invoice.paid"}, headers=pinned))["data"]
    (event,) = events
    assert event["api_version"] == ACACIA
    assert event["data"]["object"]["paid"] is True and event["data"]["object"]["subscription"]
    # AND the event log's own copy is still Tally's shape
    (stored,) = [e for e in support.stored_events(api.account.id) if e["type"] == "invoice.paid"]
    assert "paid" not in stored["data"]["object"] and stored["api_version"] == "2025-09-30.clover"


def test_the_account_default_version_applies_without_a_header(api):
    seen = _subscribed(api)
    # GIVEN the account's default set to acacia
    settings = ok(api.post("/v1/tally/account_settings", {"api_version": ACACIA}))
    assert settings["api_version"] == ACACIA
    # WHEN read without a header THEN acacia; with a basil header THEN basil
    _assert_acacia_invoice(ok(api.get(f"/v1/invoices/{seen['invoice']}")), seen)
    newer = ok(api.get(f"/v1/invoices/{seen['invoice']}", headers={"Stripe-Version": BASIL}))
    assert "parent" in newer and "paid" not in newer
    # WHEN cleared THEN the current version again
    cleared = ok(api.post("/v1/tally/account_settings", {"api_version": ""}))
    assert cleared["api_version"] == "2025-09-30.clover"
    assert "parent" in ok(api.get(f"/v1/invoices/{seen['invoice']}"))


def test_an_unknown_version_is_a_400_that_changes_nothing(api):
    # WHEN the header or the account setting names no Stripe version THEN 400, nothing created
    for bad in ("2025-02-24.basil", "latest", "2019-02-30"):
        response = api.post("/v1/customers", {"name": "X"}, headers={"Stripe-Version": bad})
        support.assert_stripe_error(response.status, response.json, 400, param="Stripe-Version")
        response = api.post("/v1/tally/account_settings", {"api_version": bad})
        support.assert_stripe_error(response.status, response.json, 400, param="api_version")
    assert ok(api.get("/v1/customers"))["data"] == []
    assert ok(api.get("/v1/tally/account_settings"))["api_version"] == "2025-09-30.clover"


def _delivered(api: support.Api, endpoint: dict[str, Any], event_id: str) -> dict[str, Any]:
    """What `endpoint` receives for `event_id` (one attempt, through `webhooks.deliver`)."""
    got: list[bytes] = []

    def post(url: str, body: bytes, headers: dict[str, str], **_: Any) -> Answer:
        got.append(body)
        return Answer(200, None, 1)

    now = Clock.system()
    message = {"endpoint": endpoint["id"], "attempt": 1, "first": now.now, "due": now.now}
    outcome = webhooks.deliver(api.account.id, event_id, message, now, post=post, send=lambda m: 0)
    assert outcome.what == "delivered", outcome
    (body,) = got
    return json.loads(body)


def test_each_webhook_endpoint_gets_events_in_its_api_version(api):
    # GIVEN an endpoint pinned to acacia and one without a version
    pinned = ok(
        api.post(
            "/v1/webhook_endpoints",
            {"url": "https://hooks.example.com/old", "enabled_events": ["*"], "api_version": ACACIA},
        )
    )
    assert pinned["api_version"] == ACACIA
    current = ok(
        api.post("/v1/webhook_endpoints", {"url": "https://hooks.example.com/new", "enabled_events": ["*"]})
    )
    seen = _subscribed(api)
    (created,) = [
        e
        for e in support.stored_events(api.account.id)
        if e["type"] == "invoice.created" and e["data"]["object"]["id"] == seen["invoice"]
    ]
    # WHEN the invoice.created event is delivered to each
    old, new = _delivered(api, pinned, created["id"]), _delivered(api, current, created["id"])
    # THEN the pinned endpoint reads the acacia invoice, the other Tally's shape
    assert old["api_version"] == ACACIA
    _assert_acacia_invoice(old["data"]["object"], seen)
    assert new["api_version"] == "2025-09-30.clover" and "parent" in new["data"]["object"]
    # AND with the account's default at acacia, the unpinned endpoint gets acacia too
    ok(api.post("/v1/tally/account_settings", {"api_version": ACACIA}))
    _assert_acacia_invoice(_delivered(api, current, created["id"])["data"]["object"], seen)


@pytest.fixture
def cli_env(monkeypatch, moto_tables):
    """Restore the variables the command sets from its flags after the test."""
    import os

    for name in ("OBJECTS_TABLE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    yield moto_tables
    from tally import settings

    settings.reset()


def test_the_cli_sets_the_account_default_version(api, cli_env, capsys):
    from tally_local import cli

    args = ["accounts", "update", api.account.id, "--table", cli_env["ObjectsTable"]]
    # WHEN `tally accounts update <acct> --api-version 2025-02-24.acacia` runs THEN the API shows it
    assert cli.main([*args, "--api-version", ACACIA]) == 0
    assert ACACIA in capsys.readouterr().out
    shown = ok(api.get("/v1/tally/account_settings"))
    assert (shown["api_version"], shown["invoice_grace_period_source"]) == (ACACIA, "deployment")
    # AND a bad version or no setting at all is a usage error; `default` goes back to Tally's
    assert cli.main([*args, "--api-version", "2025-02-24.basil"]) == 2
    assert cli.main(args) == 2
    assert cli.main([*args, "--api-version", "default"]) == 0
    assert ok(api.get("/v1/tally/account_settings"))["api_version"] == "2025-09-30.clover"
