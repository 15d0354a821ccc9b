"""Hostile input for what branch v2events puts on the wire: the v2 billing event types in webhook
endpoints' `enabled_events` and `GET /v1/events` filters, and a metered item's
`invoice_presentation_dimensions`. Every row is a Stripe error (4xx, never 5xx) and changes
nothing: the endpoints and metered items listed are the same before and after."""

from __future__ import annotations

import pytest
import support

HOOKS = "/v1/webhook_endpoints"
URL = "http://127.0.0.1:9/hook"

BAD_TYPES = {
    "a v2 type Stripe does not name": "v2.billing.pricing_plan.deleted",
    "removed from the SDK": "v2.billing.cadence.errored",
    "a v2 wildcard": "v2.billing.*",
    "a rate card event (none documented)": "v2.billing.rate_card.created",
    "an intent event (none documented)": "v2.billing.intent.committed",
    "v2.core prefix": "v2.core.event",
    "trailing dot": "v2.billing.cadence.billed.",
    "upper case": "V2.BILLING.CADENCE.BILLED",
    "padded": " v2.billing.cadence.billed",
}


def _hooks(api: support.Api) -> list[str]:
    return [h["id"] for h in api.get(HOOKS, {"limit": 100}).json["data"]]


@pytest.mark.parametrize("kind", list(BAD_TYPES.values()), ids=list(BAD_TYPES))
def test_a_v2_type_stripe_does_not_name_is_refused_and_creates_nothing(api, kind):
    before = _hooks(api)
    resp = api.post(HOOKS, {"url": URL, "enabled_events": ["v2.billing.cadence.billed", kind]})
    support.assert_stripe_error(resp.status, resp.json, 400, param="enabled_events")
    assert _hooks(api) == before


def test_every_named_v2_type_is_accepted_also_those_tally_never_sends(api):
    kinds = [
        "v2.billing.pricing_plan.created",
        "v2.billing.pricing_plan_version.created",
        "v2.billing.pricing_plan_component.updated",
        "v2.billing.cadence.canceled",
        "v2.billing.pricing_plan_subscription.servicing_canceled",
        "v2.billing.pricing_plan_subscription.servicing_paused",
        "v2.billing.pricing_plan_subscription.collection_past_due",
    ]
    made = api.post(HOOKS, {"url": URL, "enabled_events": kinds})
    assert made.status == 200, made.text
    assert made.json["enabled_events"] == kinds


BAD_FILTERS = {
    "star inside": "v2.*.created",
    "star alone twice": "**",
    "star not after a dot": "v2.billing*",
}


@pytest.mark.parametrize("kind", list(BAD_FILTERS.values()), ids=list(BAD_FILTERS))
def test_a_bad_events_type_filter_is_a_400(api, kind):
    resp = api.get("/v1/events", {"type": kind})
    support.assert_stripe_error(resp.status, resp.json, 400, param="type")


def test_the_v2_prefix_filters_list_them(api):
    plan = api.post(
        "/v2/billing/pricing_plans",
        json={"currency": "usd", "display_name": "P", "tax_behavior": "exclusive"},
    ).json
    listed = api.get("/v1/events", {"type": "v2.billing.*"})
    assert listed.status == 200, listed.text
    assert [e["type"] for e in listed.json["data"]] == [
        "v2.billing.pricing_plan_version.created",
        "v2.billing.pricing_plan.created",
    ]
    assert listed.json["data"][1]["related_object"]["id"] == plan["id"]


BAD_DIMENSIONS = {
    "undeclared": ["color"],
    "twice": ["model", "model"],
    "empty": [""],
    "too long": ["m" * 101],
    "eleven": [f"d{i}" for i in range(11)],
    "not a list": {"a": "b"},
    "nested": [["model"]],
}


@pytest.mark.parametrize("dims", list(BAD_DIMENSIONS.values()), ids=list(BAD_DIMENSIONS))
def test_bad_invoice_presentation_dimensions_are_refused_and_create_nothing(api, dims):
    meter = api.post(
        "/v1/billing/meters",
        {
            "display_name": "T",
            "event_name": "hostile_pres",
            "default_aggregation": {"formula": "sum"},
            "dimension_payload_keys": ["model"],
        },
    ).json["id"]
    items = "/v2/billing/metered_items"
    before = api.get(items).json["data"]
    body = {"display_name": "T", "meter": meter, "invoice_presentation_dimensions": dims}
    resp = api.post(items, json=body)
    assert 400 <= resp.status < 500, resp.text
    assert resp.json["error"]["type"] == "invalid_request_error"
    assert str(resp.json["error"].get("param", "")).startswith("invoice_presentation_dimensions"), resp.json
    assert api.get(items).json["data"] == before
