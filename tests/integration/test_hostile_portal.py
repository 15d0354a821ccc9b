"""Hostile input to the customer portal (branch portal): the session route refuses what it does not
take with Stripe's error shape and writes nothing; the portal's data routes open one customer's
figures with a valid, unexpired link of that customer's account, and nothing with anything else;
the pages are only the files Tally ships."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import support

from tally.billing import portal_sessions
from tally.clock import Clock
from tally.store import portal_secrets

pytestmark = pytest.mark.usefixtures("moto_tables")

SESSIONS = "/v1/billing_portal/sessions"
DATA_ROUTES = ("/portal/api/overview", "/portal/api/invoices", "/portal/api/credits")


def ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


def err(response: support.Response, status: int, param: str | None = None, code: str | None = None) -> None:
    support.assert_stripe_error(response.status, response.json, status, code=code, param=param)


def token_of(session: dict[str, Any]) -> str:
    return str(session["url"]).partition("#session=")[2]


@pytest.fixture
def customer(api: support.Api) -> str:
    return str(ok(api.post("/v1/customers", {"name": "Jenny"}))["id"])


# -- the session route -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({}, "customer", "parameter_missing"),
        ({"customer": "cus_nope"}, "customer", "resource_missing"),
        ({"customer": ["a", "b"]}, "customer", None),
        ({"customer": {"id": "x"}}, "customer", None),
        ({"customer": "{c}", "return_url": "javascript:alert(1)"}, "return_url", None),
        ({"customer": "{c}", "return_url": "data:text/html,<script>x</script>"}, "return_url", None),
        ({"customer": "{c}", "return_url": "ftp://example.com/"}, "return_url", None),
        ({"customer": "{c}", "return_url": "/account"}, "return_url", None),
        ({"customer": "{c}", "return_url": "https://"}, "return_url", None),
        ({"customer": "{c}", "return_url": "https://example.com/a b"}, "return_url", None),
        ({"customer": "{c}", "return_url": "https://example.com/\nx"}, "return_url", None),
        ({"customer": "{c}", "return_url": "https://example.com/" + "é" * 1000}, "return_url", None),
        ({"customer": "{c}", "return_url": "https://example.com/\x7f"}, "return_url", None),
        ({"customer": "{c}", "return_url": "https://example.com/" + "a" * 2100}, "return_url", None),
        ({"customer": "{c}", "locale": "xx-YY"}, "locale", None),
        ({"customer": "{c}", "locale": "<script>"}, "locale", None),
        ({"customer": "{c}", "configuration": "bpc_other"}, "configuration", "resource_missing"),
        ({"customer": "{c}", "flow_data": {"type": "payment_method_update"}}, "flow_data", None),
        ({"customer": "{c}", "on_behalf_of": "acct_x"}, "on_behalf_of", "parameter_unknown"),
    ],
)
def test_hostile_session_creates_are_400s_that_write_nothing(
    api: support.Api, customer: str, params: dict[str, Any], param: str, code: str | None
) -> None:
    sent = {k: (customer if v == "{c}" else v) for k, v in params.items()}
    err(api.post(SESSIONS, sent), 400, param=param, code=code)
    assert portal_secrets.get(api.account.id) is None  # not even the account's secret was made


def test_the_documented_configuration_and_stripes_locales_are_taken(api: support.Api, customer: str) -> None:
    made = ok(
        api.post(SESSIONS, {"customer": customer, "configuration": "bpc_tally_default", "locale": "fr-CA"})
    )
    assert (made["configuration"], made["locale"], made["return_url"]) == ("bpc_tally_default", "fr-CA", None)


def test_another_accounts_customer_is_not_found(
    api: support.Api, other_account: support.Account, customer: str
) -> None:
    err(api.as_(other_account).post(SESSIONS, {"customer": customer}), 400, "customer", "resource_missing")


def test_a_session_needs_the_api_key_not_a_portal_token(api: support.Api, customer: str) -> None:
    token = token_of(ok(api.post(SESSIONS, {"customer": customer})))
    err(api.post(SESSIONS, {"customer": customer}, key=None), 401)
    err(api.post(SESSIONS, {"customer": customer}, key=token), 401)


# -- the data routes ---------------------------------------------------------------------------------
def _tamper_payload(token: str, **changes: Any) -> str:
    """The token with its payload changed and its signature kept."""
    _, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    return f"v1.{raw}.{signature}"


def test_tampered_and_foreign_tokens_open_nothing(
    api: support.Api, other_account: support.Account, customer: str
) -> None:
    token = token_of(ok(api.post(SESSIONS, {"customer": customer})))
    other_customer = ok(api.post("/v1/customers", {"name": "Max"}))["id"]
    theirs = api.as_(other_account)
    their_customer = ok(theirs.post("/v1/customers", {"name": "Eve"}))["id"]
    their_token = token_of(ok(theirs.post(SESSIONS, {"customer": their_customer})))
    head, payload, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    hostile = [
        None,  # no credential at all
        api.key,  # the account's API key opens no portal route
        _tamper_payload(token, c=other_customer),  # another customer, same signature
        _tamper_payload(token, x=4_102_444_800),  # a later expiry, same signature
        _tamper_payload(their_token, a=api.account.id, c=customer),  # their signature, our account
        f"{head}.{payload}.{flipped}",
        f"{head}.{payload}",
        f"v2.{payload}.{signature}",
        "v1.e30." + signature,  # `{}` signed by nobody
        "v1.W10." + signature,  # `[]`
        "v1.bm90IGpzb24." + signature,  # not JSON
        "v1." + "A" * 5000 + "." + signature,
        "mes_tok_" + "A" * 16 + "_" + "B" * 32,  # a meter event session token
    ]
    for bad in hostile:
        for path in DATA_ROUTES:
            err(api.get(path, key=bad), 401)
    # AND Basic auth with a good token is no bearer credential either
    basic = base64.b64encode(f"{token}:".encode()).decode()
    err(api.get(DATA_ROUTES[0], key=None, headers={"Authorization": f"Basic {basic}"}), 401)
    # AND their valid token reads their customer only, in their account
    assert ok(api.get(DATA_ROUTES[0], key=their_token))["customer"]["id"] == their_customer


def test_an_invoice_outside_the_link_is_a_404(api: support.Api, other_account: support.Account) -> None:
    # GIVEN two customers of the account, each with an open creation invoice, and one elsewhere
    price = ok(
        api.post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 500,
                "product_data": {"name": "Seat"},
                "recurring": {"interval": "month"},
            },
        )
    )["id"]
    invoices = {}
    for name in ("mine", "theirs"):
        cus = ok(api.post("/v1/customers", {"name": name}))["id"]
        sub = ok(api.post("/v1/subscriptions", {"customer": cus, "items": [{"price": price, "quantity": 1}]}))
        invoices[name] = (cus, sub["latest_invoice"])
    token = token_of(ok(api.post(SESSIONS, {"customer": invoices["mine"][0]})))
    assert ok(api.get(f"/portal/api/invoices/{invoices['mine'][1]}", key=token))["amount_due"] == 500
    for other in (invoices["theirs"][1], "in_nope", "../v1/customers", "x" * 3000):
        err(api.get(f"/portal/api/invoices/{other}", key=token), 404)


def test_a_deleted_customers_link_opens_nothing(api: support.Api, customer: str) -> None:
    token = token_of(ok(api.post(SESSIONS, {"customer": customer})))
    ok(api.delete(f"/v1/customers/{customer}"))
    for path in DATA_ROUTES:
        err(api.get(path, key=token), 401)


def test_expiry_is_real_time_to_the_second(api: support.Api, account: support.Account, customer: str) -> None:
    session, token = portal_sessions.create(account.id, customer, None, None, Clock(1_900_000_000))
    assert session.expires_at == 1_900_000_000 + 30 * 60
    assert portal_sessions.verify(token, Clock(session.expires_at - 1)).customer == customer
    with pytest.raises(Exception, match="invalid or has expired"):
        portal_sessions.verify(token, Clock(session.expires_at))


# -- crash points: a session writes once (the account's secret, the first time) ------------------------
def test_a_crash_storing_the_first_secret_then_a_retry(api: support.Api, customer: str, monkeypatch) -> None:
    from tally.store.models import ObjectItem

    real = ObjectItem.save
    calls = {"n": 0}

    def crash_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.kind == portal_secrets.KIND and calls["n"] == 0:
            calls["n"] += 1
            raise support.InjectedCrash("injected crash storing the portal secret")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ObjectItem, "save", crash_once)
    # WHEN the first session crashes at its only write THEN it fails (500) and nothing is stored
    crashed = api.post(SESSIONS, {"customer": customer})
    assert crashed.status == 500 and crashed.json["error"]["type"] == "api_error"
    assert portal_secrets.get(api.account.id) is None
    # AND the retry makes the secret once and its link works
    token = token_of(ok(api.post(SESSIONS, {"customer": customer})))
    assert ok(api.get(DATA_ROUTES[0], key=token))["customer"]["id"] == customer


def test_two_first_sessions_racing_agree_on_one_secret(api: support.Api, customer: str, monkeypatch) -> None:
    # GIVEN another request stores the account's secret between this one's read and its write
    stored = portal_secrets.get_or_put(api.account.id, "ab" * 32, 1)
    real_get = portal_secrets.get
    reads = {"n": 0}

    def stale_first_read(account: str) -> str | None:
        reads["n"] += 1
        return None if reads["n"] == 1 else real_get(account)

    monkeypatch.setattr(portal_secrets, "get", stale_first_read)
    # WHEN this one stores its own THEN the conditional write loses and it signs with the stored one
    assert portal_secrets.get_or_put(api.account.id, "cd" * 32, 2) == stored
    monkeypatch.undo()
    token = token_of(ok(api.post(SESSIONS, {"customer": customer})))
    assert ok(api.get(DATA_ROUTES[0], key=token))["customer"]["id"] == customer


# -- the pages --------------------------------------------------------------------------------------
def test_pages_and_assets_are_only_the_shipped_files(api: support.Api) -> None:
    for path, kind in (
        ("/portal", "text/html"),
        ("/dashboard", "text/html"),
        ("/assets/chart.umd.min.js", "text/javascript"),
        ("/assets/portal.js", "text/javascript"),
        ("/assets/chart.js-LICENSE.md", "text/markdown"),
    ):
        page = api.get(path, key=None)
        assert page.status == 200 and page.headers["Content-Type"].startswith(kind), (path, page.status)
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert api.get("/portal", key=None).headers["Cache-Control"] == "no-store"
    for path in (
        "/assets/",
        "/assets/../template.yaml",
        "/assets/%2e%2e%2fsettings.py",
        "/assets/portal.html",
        "/assets/vendor/chart.js/chart.umd.min.js",
        "/portal/",
        "/dashboard.html",
    ):
        assert api.get(path, key=None).status == 404, path
    # a POST to a page is no page: the API's 404 for a URL it does not serve
    err(api.post("/portal", {}, key=None), 404)
