"""/v1/webhook_endpoints through the API function: create (secret once), retrieve, update, list,
delete, the attempts list, and the rules on URLs and enabled_events."""

from __future__ import annotations

import re

import pytest
import support

from tally import settings

pytestmark = pytest.mark.usefixtures("moto_tables")

URL = "/v1/webhook_endpoints"
HOOK = "https://hooks.example.com/stripe"


def _create(api: support.Api, **data) -> dict:
    data.setdefault("url", HOOK)
    data.setdefault("enabled_events", ["invoice.finalized"])
    response = api.post(URL, data)
    assert response.status == 200, response.text
    return response.json


@pytest.fixture
def on_aws(monkeypatch):
    """As deployed: no local-mode exception for 127.0.0.1 and http."""
    monkeypatch.setenv("TALLY_WEBHOOKS_LOCAL", "false")
    settings.reset()
    yield
    monkeypatch.setenv("TALLY_WEBHOOKS_LOCAL", "true")
    settings.reset()


# -- create / retrieve ----------------------------------------------------------------------------
def test_create_returns_stripes_shape_with_the_secret_once(api):
    # GIVEN a URL, events, a description and metadata WHEN an endpoint is created
    created = _create(
        api,
        enabled_events=["invoice.finalized", "customer.subscription.updated"],
        description="billing hooks",
        metadata={"team": "billing"},
    )
    # THEN Stripe's webhook_endpoint, with a whsec_ secret
    assert re.fullmatch(r"we_[A-Za-z0-9]{24}", created["id"])
    assert created["object"] == "webhook_endpoint"
    assert created["url"] == HOOK and created["status"] == "enabled"
    assert created["enabled_events"] == ["invoice.finalized", "customer.subscription.updated"]
    assert (created["description"], created["metadata"]) == ("billing hooks", {"team": "billing"})
    assert created["application"] is None and created["api_version"] is None
    assert created["livemode"] is False and isinstance(created["created"], int)
    assert re.fullmatch(r"whsec_[0-9a-f]{64}", created["secret"])
    # AND retrieving it shows everything but the secret
    fetched = api.get(f"{URL}/{created['id']}")
    assert fetched.status == 200
    assert fetched.json == {k: v for k, v in created.items() if k != "secret"}


def test_every_event_with_a_star(api):
    # GIVEN enabled_events=['*'] WHEN created THEN it is kept as Stripe does
    assert _create(api, enabled_events=["*"])["enabled_events"] == ["*"]


def test_retrieve_of_a_missing_endpoint_is_404(api):
    response = api.get(f"{URL}/we_missing")
    support.assert_stripe_error(response.status, response.json, 404, code="resource_missing", param="id")


def test_another_account_cannot_see_or_change_the_endpoint(api, other_account):
    # GIVEN account A's endpoint WHEN account B reads, updates, deletes or lists
    created = _create(api)
    other = api.as_(other_account)
    # THEN every call is a 404 (or an empty list), and A's endpoint is unchanged
    assert other.get(f"{URL}/{created['id']}").status == 404
    assert other.post(f"{URL}/{created['id']}", {"disabled": "true"}).status == 404
    assert other.delete(f"{URL}/{created['id']}").status == 404
    assert other.get(f"{URL}/{created['id']}/attempts").status == 404
    assert other.get(URL).json["data"] == []
    assert api.get(f"{URL}/{created['id']}").json["status"] == "enabled"


# -- update ---------------------------------------------------------------------------------------
def test_update_url_events_description_metadata_and_disabled(api):
    created = _create(api, metadata={"a": "1"}, description="old")
    # WHEN the endpoint is updated
    response = api.post(
        f"{URL}/{created['id']}",
        {
            "url": "https://hooks.example.com/v2",
            "enabled_events": ["customer.created", "price.updated"],
            "disabled": "true",
            "description": "",
            "metadata": {"a": "", "b": "2"},
        },
    )
    # THEN the new values show, and no secret
    assert response.status == 200, response.text
    updated = response.json
    assert updated["url"] == "https://hooks.example.com/v2"
    assert updated["enabled_events"] == ["customer.created", "price.updated"]
    assert updated["status"] == "disabled" and updated["description"] is None
    assert updated["metadata"] == {"b": "2"} and "secret" not in updated
    # AND re-enabling works
    again = api.post(f"{URL}/{created['id']}", {"disabled": "false"}).json
    assert again["status"] == "enabled" and api.get(f"{URL}/{created['id']}").json == again


# -- list / delete --------------------------------------------------------------------------------
def test_list_is_newest_first_with_cursors(api):
    ids = [_create(api, description=str(n))["id"] for n in range(3)]
    page = api.get(URL, {"limit": 2}).json
    assert page["object"] == "list" and page["url"] == URL
    assert [e["id"] for e in page["data"]] == ids[::-1][:2] and page["has_more"] is True
    assert all("secret" not in e for e in page["data"])
    rest = api.get(URL, {"limit": 2, "starting_after": ids[1]}).json
    assert [e["id"] for e in rest["data"]] == [ids[0]] and rest["has_more"] is False


def test_delete_returns_the_deleted_stub_and_the_endpoint_is_gone(api):
    created = _create(api)
    response = api.delete(f"{URL}/{created['id']}")
    assert response.status == 200
    assert response.json == {"id": created["id"], "object": "webhook_endpoint", "deleted": True}
    assert api.get(f"{URL}/{created['id']}").status == 404
    assert api.delete(f"{URL}/{created['id']}").status == 404
    assert created["id"] not in [e["id"] for e in api.get(URL).json["data"]]


def test_at_most_16_endpoints_per_account(api):
    for n in range(16):
        _create(api, description=str(n))
    response = api.post(URL, {"url": HOOK, "enabled_events": ["*"]})
    support.assert_stripe_error(response.status, response.json, 400, code="parameter_invalid", param="url")
    assert len(api.get(URL, {"limit": 100}).json["data"]) == 16


def test_attempts_of_a_new_endpoint_is_an_empty_list(api):
    created = _create(api)
    page = api.get(f"{URL}/{created['id']}/attempts").json
    assert page == {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": f"{URL}/{created['id']}/attempts",
    }


# -- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "code", "param"),
    [
        ({"enabled_events": ["*"]}, "parameter_missing", "url"),
        ({"url": HOOK}, "parameter_missing", "enabled_events"),
        ({"url": HOOK, "enabled_events": ["invoice.nope"]}, "parameter_invalid", "enabled_events"),
        ({"url": HOOK, "enabled_events": ["invoice.*"]}, "parameter_invalid", "enabled_events"),
        ({"url": HOOK, "enabled_events": "*"}, "parameter_invalid", "enabled_events"),
        ({"url": "ftp://x.example.com/", "enabled_events": ["*"]}, "url_invalid", "url"),
        ({"url": "not a url", "enabled_events": ["*"]}, "url_invalid", "url"),
        ({"url": "https://user:pw@x.example.com/", "enabled_events": ["*"]}, "url_invalid", "url"),
        (
            {"url": HOOK, "enabled_events": ["*"], "api_version": "2024-10-28.basil"},
            "parameter_invalid",
            "api_version",
        ),
        ({"url": HOOK, "enabled_events": ["*"], "secret": "whsec_x"}, "parameter_unknown", "secret"),
    ],
)
def test_bad_create_input_is_a_400_naming_the_param(api, data, code, param):
    response = api.post(URL, data)
    support.assert_stripe_error(response.status, response.json, 400, code=code, param=param)
    assert api.get(URL).json["data"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # http
        "https://10.0.0.7/x",  # private
        "https://192.168.1.1/x",
        "https://169.254.169.254/latest/meta-data",  # link-local: instance metadata
        "https://127.0.0.1/x",  # loopback
        "https://[::1]/x",
        "https://[::ffff:10.0.0.1]/x",  # IPv4-mapped private
        "http://127.0.0.1:8080/x",
    ],
)
def test_on_aws_only_https_to_public_addresses(api, on_aws, url):
    response = api.post(URL, {"url": url, "enabled_events": ["*"]})
    support.assert_stripe_error(response.status, response.json, 400, code="url_invalid", param="url")


def test_locally_http_to_127_0_0_1_is_allowed(api):
    assert _create(api, url="http://127.0.0.1:8123/hook")["url"] == "http://127.0.0.1:8123/hook"


def test_update_checks_the_url_and_events_too(api, on_aws):
    created = _create(api)
    bad_url = api.post(f"{URL}/{created['id']}", {"url": "https://10.1.2.3/"})
    support.assert_stripe_error(bad_url.status, bad_url.json, 400, code="url_invalid", param="url")
    bad_events = api.post(f"{URL}/{created['id']}", {"enabled_events": ["nope.nope"]})
    support.assert_stripe_error(
        bad_events.status, bad_events.json, 400, code="parameter_invalid", param="enabled_events"
    )
    assert api.get(f"{URL}/{created['id']}").json["url"] == HOOK


# -- types ----------------------------------------------------------------------------------------
def test_served_endpoints_read_as_stripes_types(api):
    # GIVEN an endpoint as created, retrieved, listed, updated and deleted
    import stripe_shapes

    created = _create(api, description="d", metadata={"k": "v"})
    served = {
        "create": created,
        "retrieve": api.get(f"{URL}/{created['id']}").json,
        "list": api.get(URL).json,
        "update": api.post(f"{URL}/{created['id']}", {"disabled": "true"}).json,
        "delete": api.delete(f"{URL}/{created['id']}").json,
    }
    # WHEN walked against the stripe SDK's WebhookEndpoint type THEN nothing is off
    assert {name: p for name, obj in served.items() if (p := stripe_shapes.problems(obj))} == {}
