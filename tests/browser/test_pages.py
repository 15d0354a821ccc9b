"""The customer portal and the operator dashboard in a real browser, against the local stack.

Data (one account): Jenny, on a metered price of 2 cents per call whose current period began
3 days ago (`backdate_start_date` with a billing cycle anchor 4 days ahead), with 30 calls 2 days
ago, 10 a day ago and 2 an hour ago: 42 so far, 84 cents on the next invoice, and a 10.00
promotional credit grant. Max, another customer of the same account, has his own creation invoice.
"""

from __future__ import annotations

import calendar
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests
import support
from webdriver import Browser

from tally.billing import accounts, portal_sessions
from tally.domain.portal import PortalSession

A11Y = (Path(__file__).parent / "a11y.js").read_text()
DAY = 86400


class Account:
    def __init__(self, server: support.LocalServer) -> None:
        self.server = server
        self.key = server.take_key()

    def call(
        self, method: str, path: str, data: dict[str, Any] | None = None, bearer: str | None = None
    ) -> Any:
        answer = requests.request(
            method,
            self.server.url + path,
            data=data if method == "POST" else None,
            params=data if method == "GET" else None,
            headers={"Authorization": f"Bearer {bearer or self.key}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def world(local_server: support.LocalServer) -> dict[str, Any]:
    acct = Account(local_server)
    now = int(time.time())
    meter = acct.call(
        "POST",
        "/v1/billing/meters",
        {"display_name": "API calls", "event_name": "api_calls", "default_aggregation[formula]": "sum"},
    )
    price = acct.call(
        "POST",
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 2,
            "product_data[name]": "Calls",
            "recurring[interval]": "month",
            "recurring[usage_type]": "metered",
            "recurring[meter]": meter["id"],
        },
    )
    made = {}
    for name in ("Jenny Rosen", "Max Mustermann"):
        customer = acct.call("POST", "/v1/customers", {"name": name})
        acct.call(
            "POST",
            "/v1/subscriptions",
            {
                "customer": customer["id"],
                "items[0][price]": price["id"],
                "backdate_start_date": now - 3 * DAY,
                "billing_cycle_anchor": now + 4 * DAY,
            },
        )
        made[name] = customer
    jenny, max_ = made["Jenny Rosen"]["id"], made["Max Mustermann"]["id"]
    for ago, value in ((2 * DAY, 30), (DAY, 10), (3600, 2)):
        acct.call(
            "POST",
            "/v1/billing/meter_events",
            {
                "event_name": "api_calls",
                "timestamp": now - ago,
                "payload[stripe_customer_id]": jenny,
                "payload[value]": value,
            },
        )
    # a 10.00 promotional credit grant for Jenny (previews show no credits: the next invoice stays 0.84)
    acct.call(
        "POST",
        "/v1/billing/credit_grants",
        {
            "customer": jenny,
            "name": "Welcome credit",
            "category": "promotional",
            "amount[type]": "monetary",
            "amount[monetary][currency]": "usd",
            "amount[monetary][value]": 1000,
            "applicability_config[scope][price_type]": "metered",
        },
    )
    theirs = acct.call("GET", "/v1/invoices", {"customer": max_})["data"]
    return {"acct": acct, "meter": meter, "jenny": jenny, "max": max_, "max_invoice": theirs[0]["id"]}


def audit(browser: Browser) -> list[str]:
    return list(browser.js(A11Y))


def tab_through(browser: Browser, count: int) -> list[str]:
    """Press Tab from the top until `count` controls had focus; each must show a visible outline."""
    browser.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
    seen: list[str] = []
    for _ in range(count + 3):  # the first Tab may only bring the page itself into focus
        browser.keys("tab")
        focused = browser.js(
            "const e = document.activeElement; if (e === document.body) return null;"
            "const s = getComputedStyle(e);"
            "return [e.id || e.getAttribute('href') || e.textContent.trim().slice(0, 30), s.outlineStyle];"
        )
        if focused is None:
            continue
        assert focused[1] != "none", f"no visible focus on {focused[0]}"
        seen.append(focused[0])
        if len(seen) == count:
            break
    return seen


def test_portal(
    browser: Browser, world: dict[str, Any], local_server: support.LocalServer, output: Path
) -> None:
    acct = world["acct"]
    session = acct.call(
        "POST",
        "/v1/billing_portal/sessions",
        {"customer": world["jenny"], "return_url": "https://example.com/account"},
    )
    token = urlsplit(session["url"]).fragment.removeprefix("session=")
    # WHEN the portal link opens
    browser.get(session["url"])
    browser.wait("return document.body.dataset.done")
    # THEN it shows Jenny's figures: 42 calls so far, 84 cents due next
    assert browser.js("return document.getElementById('title').textContent") == "Billing for Jenny Rosen"
    assert browser.js("return document.querySelector('[data-testid=total]').textContent") == "42"
    assert (
        browser.js("return document.querySelector('#upcoming [data-testid=amount-due]').textContent")
        == "$0.84"
    )
    # AND the credits section shows the grant and the balance the credits API answers
    assert browser.js("return document.getElementById('credits-section').hidden") is False
    credits = browser.js("return document.getElementById('credits').textContent")
    assert "Welcome credit" in credits and "$10.00" in credits, credits
    # AND the token left the address bar (kept in this tab's sessionStorage only)
    assert "session=" not in browser.url and browser.js("return localStorage.length") == 0
    # AND the chart has exactly the points the API returned
    api = acct.call("GET", "/portal/api/overview", bearer=token)["usage"][0]
    shown = browser.js("return Chart.getChart(document.querySelector('canvas')).data.datasets[0].data")
    assert shown == [{"x": s["start_time"] * 1000, "y": s["aggregated_value"]} for s in api["summaries"]]
    assert sum(p["y"] for p in shown) == 42 and len(shown) >= 3
    projection = browser.js("return Chart.getChart(document.querySelector('canvas')).data.datasets[2].data")
    assert projection[-1] == {"x": api["period_end"] * 1000, "y": api["projected"]}
    browser.screenshot(output / "portal.png")
    assert audit(browser) == []
    # AND the keyboard reaches the return link and the printable invoice link
    order = tab_through(browser, 4)
    assert order[0] == "return"  # the return link, then the page's own controls
    assert any(str(o).startswith("/portal?invoice=") for o in order), order
    # WHEN the printable view of Jenny's invoice is opened with the keyboard
    browser.js("document.querySelector('a[href^=\"/portal?invoice=\"]').focus()")
    browser.keys("enter")
    browser.wait("return document.body.dataset.done && location.search.startsWith('?invoice=')")
    assert browser.js("return document.getElementById('invoice-view').hidden") is False
    browser.screenshot(output / "portal-invoice.png")
    assert audit(browser) == []
    # AND another customer's invoice is refused
    browser.get(f"{local_server.url}/portal?invoice={world['max_invoice']}")
    browser.wait("return document.body.dataset.done")
    assert (
        browser.js("return document.getElementById('error').textContent") == "This invoice is not available."
    )
    assert browser.js("return document.getElementById('invoice-view').hidden") is True


def expired_token(server: support.LocalServer, key: str, customer: str) -> str:
    """A link Tally signed 31 minutes ago (links last 30): made with the account's own secret."""
    endpoint, table = server.aws()
    account = accounts.account_of(key)
    item = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1").get_item(
        TableName=table, Key={"pk": {"S": f"{account}#portal_secret"}, "sk": {"S": "obj"}}
    )["Item"]
    then = int(time.time()) - 31 * 60
    session = PortalSession(
        "bps_expired", account, customer, then, then + portal_sessions.SESSION_SECONDS, None, None
    )
    return portal_sessions.token_for(session, item["body"]["S"])


def test_portal_refuses_expired_and_tampered_links(
    browser: Browser, world: dict[str, Any], local_server: support.LocalServer, output: Path
) -> None:
    expired = expired_token(local_server, world["acct"].key, world["jenny"])
    good = world["acct"].call("POST", "/v1/billing_portal/sessions", {"customer": world["jenny"]})["url"]
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    for name, url in (("expired", f"{local_server.url}/portal#session={expired}"), ("tampered", tampered)):
        browser.get(url)
        browser.wait("return document.body.dataset.done")
        error = browser.js("return document.getElementById('error').textContent")
        assert "expired or is not valid" in error, (name, error)
        assert browser.js("return document.getElementById('portal').hidden") is True
        if name == "expired":
            browser.screenshot(output / "portal-expired.png")
            assert audit(browser) == []


def test_dashboard(
    browser: Browser, world: dict[str, Any], local_server: support.LocalServer, output: Path
) -> None:
    acct = world["acct"]
    browser.get(f"{local_server.url}/dashboard")
    browser.wait("return document.readyState === 'complete'")
    assert audit(browser) == []
    # WHEN the operator types the key and presses Enter (keyboard only)
    assert tab_through(browser, 2) == ["key", "Open dashboard"]
    browser.js("document.getElementById('key').focus()")
    browser.type("#key", acct.key)
    browser.keys("enter")
    browser.wait("return document.body.dataset.ready")
    # THEN the key is in no URL and not in localStorage
    urls = browser.js(
        "return [location.href, ...performance.getEntriesByType('resource').map((e) => e.name)]"
    )
    assert all(acct.key not in u for u in urls) and browser.js("return localStorage.length") == 0
    # WHEN Jenny's usage per day over the last week is asked for
    today = time.strftime("%Y-%m-%d", time.gmtime())
    week_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 6 * DAY))
    browser.js(
        "document.getElementById('customer').value = arguments[0];"
        "document.getElementById('from').value = arguments[1];"
        "document.getElementById('to').value = arguments[2];"
        "document.querySelector('#usage-form button').focus();",
        world["jenny"],
        week_ago,
        today,
    )
    browser.keys("enter")
    browser.wait("return document.body.dataset.chart === '1'")
    # THEN the chart has the points the summaries API returns
    start = calendar.timegm(time.strptime(week_ago, "%Y-%m-%d"))
    end = calendar.timegm(time.strptime(today, "%Y-%m-%d")) + DAY
    api = acct.call(
        "GET",
        f"/v1/billing/meters/{world['meter']['id']}/event_summaries",
        {
            "customer": world["jenny"],
            "start_time": start,
            "end_time": end,
            "value_grouping_window": "day",
            "limit": 100,
        },
    )["data"]
    shown = browser.js("return Chart.getChart(document.getElementById('usage-chart')).data.datasets[0].data")
    assert shown == [{"x": s["start_time"] * 1000, "y": s["aggregated_value"]} for s in reversed(api)]
    assert sum(p["y"] for p in shown) == 42
    browser.screenshot(output / "dashboard-usage.png")
    assert audit(browser) == []
    # AND for all customers: one stacked series per customer with usage (Jenny's alone here)
    browser.js(
        "document.getElementById('customer').value = '';document.querySelector('#usage-form button').focus();"
    )
    browser.keys("enter")
    browser.wait("return document.body.dataset.chart === '2'")
    stacked = browser.js(
        "return Chart.getChart(document.getElementById('usage-chart')).data.datasets"
        ".map((d) => [d.label, d.data])"
    )
    assert [label for label, _ in stacked] == [f"Jenny Rosen ({world['jenny']})"]
    assert stacked[0][1] == shown
    # AND every list opens from its tab with the keyboard, without an error
    expected = {
        "customers": "Jenny Rosen",
        "meters": "api_calls",
        "subscriptions": world["jenny"],
        "invoices": world["max"],
        "alerts": "No alerts yet.",
        "deliveries": "No webhook deliveries yet.",
        "events": "customer.created",
    }
    # the revenue recognition tab (branch revrec) is there exactly when its route answers
    revenue = requests.get(
        f"{local_server.url}/v1/tally/revenue_recognition",
        params={"interval_start": 1735689600, "interval_end": 1738368000},
        headers={"Authorization": f"Bearer {acct.key}"},
        timeout=30,
    )
    has_revenue = browser.js("return !!document.getElementById('tab-revenue')")
    assert has_revenue == (revenue.status_code == 200), revenue.text
    if has_revenue:
        expected["revenue"] = "Revenue"
    browser.js("document.getElementById('tab-usage').focus()")
    for tab, expect in expected.items():
        browser.keys("right")  # the arrow key moves to the next tab, Enter opens it
        assert browser.js("return document.activeElement.id") == f"tab-{tab}"
        browser.keys("enter")
        browser.wait(
            f"return document.getElementById('tab-{tab}').getAttribute('aria-selected') === 'true' && "
            f"!document.querySelector('#list [role=status]') && "
            f"document.getElementById('list').textContent.includes({expect!r})"
        )
        assert browser.js("return document.getElementById('error').hidden") is True, tab
        assert audit(browser) == [], tab
        if tab in ("events", "revenue"):
            browser.screenshot(output / f"dashboard-{tab}.png")
