"""The local server (`python -m tally_local`) over plain HTTP, as curl or any HTTP client uses it."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import requests
import support

pytestmark = pytest.mark.e2e
TIMEOUT = 10


@pytest.fixture
def http(local_server, e2e_key) -> requests.Session:
    """A session authenticated like `curl -u sk_…:` for a fresh account."""
    session = requests.Session()
    session.auth = (e2e_key, "")
    return session


def test_customer_round_trip(local_server, http):
    url = f"{local_server.url}/v1/customers"
    # GIVEN a customer created with a form body (brackets for metadata)
    created = http.post(url, data={"name": "Jenny Rosen", "metadata[order]": "6735"}, timeout=TIMEOUT)
    assert created.status_code == 200, created.text
    customer = created.json()
    assert customer["id"].startswith("cus_") and customer["metadata"] == {"order": "6735"}
    # WHEN it is read, updated, listed and deleted THEN each step sees the previous one
    assert http.get(f"{url}/{customer['id']}", timeout=TIMEOUT).json() == customer
    updated = http.post(f"{url}/{customer['id']}", data={"metadata[order]": ""}, timeout=TIMEOUT).json()
    assert updated["metadata"] == {}
    assert [c["id"] for c in http.get(url, timeout=TIMEOUT).json()["data"]] == [customer["id"]]
    assert http.delete(f"{url}/{customer['id']}", timeout=TIMEOUT).json()["deleted"] is True
    gone = http.get(f"{url}/{customer['id']}", timeout=TIMEOUT)
    assert gone.json() == {"id": customer["id"], "object": "customer", "deleted": True}


def test_json_bodies_are_accepted(local_server, http):
    # GIVEN a JSON body WHEN posted THEN read like a form
    response = http.post(f"{local_server.url}/v1/customers", json={"name": "Json"}, timeout=TIMEOUT)
    assert (response.status_code, response.json()["name"]) == (200, "Json")


def test_bearer_auth_works(local_server, e2e_key):
    # GIVEN `Authorization: Bearer sk_…` WHEN listing THEN 200
    response = requests.get(
        f"{local_server.url}/v1/customers", headers={"Authorization": f"Bearer {e2e_key}"}, timeout=TIMEOUT
    )
    assert response.status_code == 200


def test_no_key_is_a_401_stripe_error(local_server):
    # GIVEN no key WHEN calling THEN 401 with Stripe's error envelope
    response = requests.get(f"{local_server.url}/v1/customers", timeout=TIMEOUT)
    support.assert_stripe_error(response.status_code, response.json(), 401)


def test_a_wrong_key_is_a_masked_401(local_server):
    # GIVEN an unknown key WHEN calling THEN 401, the key masked in the message
    wrong = "sk_test_" + "Z" * 30 + "9876"
    response = requests.get(f"{local_server.url}/v1/customers", auth=(wrong, ""), timeout=TIMEOUT)
    error = support.assert_stripe_error(response.status_code, response.json(), 401)
    assert wrong not in response.text and error["message"].endswith("****9876")


def test_an_unknown_route_is_a_stripe_404(local_server, http):
    # GIVEN a path no route serves WHEN called THEN Stripe's "Unrecognized request URL" 404
    response = http.get(f"{local_server.url}/v1/unicorns", timeout=TIMEOUT)
    error = support.assert_stripe_error(response.status_code, response.json(), 404)
    assert "Unrecognized request URL" in error["message"]


def test_a_body_over_1_mib_is_a_413_stripe_error(local_server, http):
    # GIVEN a 2 MiB form body WHEN posted THEN 413 in Stripe's envelope, and nothing created
    url = f"{local_server.url}/v1/customers"
    response = http.post(url, data={"name": "x" * (2 * 1024 * 1024)}, timeout=TIMEOUT)
    support.assert_stripe_error(response.status_code, response.json(), 413)
    assert http.get(url, timeout=TIMEOUT).json()["data"] == []


def test_idempotent_replay_over_http(local_server, http):
    # GIVEN a create with an Idempotency-Key WHEN repeated THEN the same customer, marked replayed
    url = f"{local_server.url}/v1/customers"
    first = http.post(url, data={"name": "A"}, headers={"Idempotency-Key": "e2e-1"}, timeout=TIMEOUT)
    again = http.post(url, data={"name": "A"}, headers={"Idempotency-Key": "e2e-1"}, timeout=TIMEOUT)
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_tally_accounts_create_against_the_local_stack(local_server):
    # GIVEN the moto endpoint and table the server printed
    endpoint, table = local_server.aws()
    # WHEN `tally accounts create` runs against them (a separate process, like an operator would)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tally_local.cli",
            "accounts",
            "create",
            "--table",
            table,
            "--endpoint-url",
            endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    key = re.search(r"^\s+(sk_\S+)$", done.stdout, re.MULTILINE)
    # THEN the printed key works against the running server at once
    assert key, done.stdout
    response = requests.get(f"{local_server.url}/v1/customers", auth=(key.group(1), ""), timeout=TIMEOUT)
    assert response.status_code == 200, response.text


def test_tally_accounts_create_needs_no_aws_credentials_for_the_local_stack(local_server, tmp_path):
    # GIVEN a shell with no AWS_* variables and no ~/.aws (a fresh machine, no AWS account)
    endpoint, table = local_server.aws()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)
    # WHEN `tally accounts create` targets the local moto endpoint
    local = endpoint.replace("127.0.0.1", "localhost")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tally_local.cli",
            "accounts",
            "create",
            "--table",
            table,
            "--endpoint-url",
            local,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    # THEN it succeeds with fake credentials, and the key works against the server
    assert done.returncode == 0, done.stderr
    key = re.search(r"^\s+(sk_\S+)$", done.stdout, re.MULTILINE)
    assert key, done.stdout
    response = requests.get(f"{local_server.url}/v1/customers", auth=(key.group(1), ""), timeout=TIMEOUT)
    assert response.status_code == 200, response.text


def test_ordinary_requests_print_no_library_warnings(local_server, http):
    # GIVEN the requests of a first session: a customer, a meter, meter events (with and without
    # Idempotency-Key), lists
    url = local_server.url
    customer = http.post(f"{url}/v1/customers", data={"name": "W"}, timeout=TIMEOUT).json()
    http.post(
        f"{url}/v1/billing/meters",
        data={"display_name": "W", "event_name": "warn_check", "default_aggregation[formula]": "sum"},
        timeout=TIMEOUT,
    ).raise_for_status()
    event = {"event_name": "warn_check", "payload[stripe_customer_id]": customer["id"], "payload[value]": "3"}
    for headers in ({}, {"Idempotency-Key": "warn-check-1"}):
        post = http.post(f"{url}/v1/billing/meter_events", data=event, headers=headers, timeout=TIMEOUT)
        post.raise_for_status()
    for path in ("/v1/customers", "/v1/billing/meters"):
        http.get(f"{url}{path}", timeout=TIMEOUT).raise_for_status()
    # THEN the server printed no Python warning (Powertools, botocore, …) along the way
    warnings = re.findall(r"^.*\w+Warning\b.*$", local_server.output(), re.MULTILINE)
    assert warnings == []


def test_sigterm_stops_the_server_cleanly():
    # GIVEN a running local server of its own
    server = support.LocalServer.start([support.new_test_key()])
    assert requests.get(f"{server.url}/v1/customers", timeout=TIMEOUT).status_code == 401
    # WHEN it gets SIGTERM THEN it exits 0 within a few seconds, saying so
    code, output = server.stop(timeout=5)
    assert code == 0, output
    assert "Stopping" in output
    # AND the port no longer answers
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/v1/customers", timeout=2)
