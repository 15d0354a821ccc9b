"""Secret keys (Bearer, Basic, missing, wrong), one account never sees another's objects, and the
`tally accounts create` command that issues keys."""

from __future__ import annotations

import base64
import os
import re

import pytest
import support

from tally.api import auth
from tally_local import cli

pytestmark = pytest.mark.usefixtures("moto_tables")


def _basic(user: str, password: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# -- authentication ------------------------------------------------------------------------------------
def test_bearer_key_authenticates(api):
    # GIVEN a registered key WHEN sent as Bearer THEN the request succeeds
    assert api.get("/v1/customers", headers={"Authorization": f"Bearer {api.key}"}).status == 200


def test_basic_auth_with_the_key_as_user_authenticates(api):
    # GIVEN `curl -u sk_…:` (the key as user, empty password) WHEN sent THEN the request succeeds
    assert api.get("/v1/customers", key=None, headers=_basic(api.key)).status == 200


def test_both_schemes_reach_the_same_account(api):
    # GIVEN a customer created with Bearer WHEN listed with Basic THEN it is there
    customer = api.post("/v1/customers", {"name": "A"}).json
    listed = api.get("/v1/customers", key=None, headers=_basic(api.key)).json
    assert [c["id"] for c in listed["data"]] == [customer["id"]]


def test_no_key_is_401_with_a_stripe_error(api):
    # GIVEN no Authorization header WHEN calling THEN 401 explaining how to send the key
    response = api.get("/v1/customers", key=None)
    error = support.assert_stripe_error(response.status, response.json, 401, type="invalid_request_error")
    assert "API key" in error["message"]


def test_a_wrong_key_is_401_and_masked(api):
    # GIVEN an unregistered key WHEN calling THEN 401, and the message masks the key
    wrong = "sk_test_" + "W" * 40 + "tail"
    response = api.get("/v1/customers", key=wrong)
    error = support.assert_stripe_error(response.status, response.json, 401)
    assert error["message"] == f"Invalid API Key provided: {auth.mask(wrong)}"
    assert wrong not in response.text and "W" * 10 not in response.text
    assert error["message"].endswith("****tail")


def test_a_key_embedding_another_account_id_is_rejected(api, other_account):
    # GIVEN a well-formed key that claims the other account's id but was never issued
    forged = f"sk_test_tly_{other_account.id.removeprefix('acct_')}_{'x' * 32}"
    # WHEN used THEN 401: the key's hash, not its text, decides the account
    assert api.get("/v1/customers", key=forged).status == 401


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer    ",
        "Token sk_test_x",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b":pw").decode(),
    ],
)
def test_malformed_authorization_is_401(api, authorization):
    # GIVEN an Authorization header with no usable key WHEN calling THEN 401 (never 500)
    response = api.get("/v1/customers", key=None, headers={"Authorization": authorization})
    support.assert_stripe_error(response.status, response.json, 401)


def test_a_publishable_key_is_rejected(api):
    # GIVEN a pk_… key WHEN calling THEN 401
    assert api.get("/v1/customers", key="pk_test_" + "x" * 30).status == 401


def test_a_huge_key_is_rejected_without_a_lookup(api):
    # GIVEN a 100 KB key WHEN calling THEN 401 quickly (not a 500 from an over-long DynamoDB key)
    response = api.get("/v1/customers", key="sk_test_" + "x" * 100_000)
    support.assert_stripe_error(response.status, response.json, 401)


def test_unauthenticated_writes_store_nothing(api):
    # GIVEN a create without a key WHEN rejected THEN the account still has no customers
    assert api.post("/v1/customers", {"name": "A"}, key=None).status == 401
    assert api.get("/v1/customers").json["data"] == []


# -- isolation between accounts --------------------------------------------------------------------------
@pytest.fixture
def theirs(api, other_account) -> tuple[support.Api, dict]:
    """The other account's client and a customer it owns."""
    other = api.as_(other_account)
    return other, other.post("/v1/customers", {"name": "Theirs", "metadata": {"k": "v"}}).json


def test_another_accounts_customer_is_404(api, theirs):
    # GIVEN a customer of another account WHEN retrieved with our key THEN 404, as if it did not exist
    _, customer = theirs
    response = api.get(f"/v1/customers/{customer['id']}")
    support.assert_stripe_error(response.status, response.json, 404, code="resource_missing")


def test_another_accounts_customer_cannot_be_updated(api, theirs):
    # GIVEN their customer WHEN we update it THEN 404 and their customer is unchanged
    other, customer = theirs
    assert api.post(f"/v1/customers/{customer['id']}", {"name": "Mine now"}).status == 404
    assert other.get(f"/v1/customers/{customer['id']}").json == customer


def test_another_accounts_customer_cannot_be_deleted(api, theirs):
    # GIVEN their customer WHEN we delete it THEN 404 and it still exists for them
    other, customer = theirs
    assert api.delete(f"/v1/customers/{customer['id']}").status == 404
    assert other.get(f"/v1/customers/{customer['id']}").status == 200


def test_lists_show_only_the_callers_customers(api, theirs):
    # GIVEN one customer each WHEN each account lists THEN each sees only its own
    other, customer = theirs
    mine = api.post("/v1/customers", {"name": "Mine"}).json
    assert [c["id"] for c in api.get("/v1/customers").json["data"]] == [mine["id"]]
    assert [c["id"] for c in other.get("/v1/customers").json["data"]] == [customer["id"]]


def test_another_accounts_id_is_not_a_valid_cursor(api, theirs):
    # GIVEN their customer's id WHEN used as our cursor THEN 404 naming the cursor
    _, customer = theirs
    response = api.get("/v1/customers", {"starting_after": customer["id"]})
    support.assert_stripe_error(response.status, response.json, 404, param="starting_after")


def test_another_accounts_events_are_invisible(api, theirs):
    # GIVEN their customer.created event WHEN our event log is read THEN it is empty
    assert support.stored_events(api.account.id) == []


# -- tally accounts create ---------------------------------------------------------------------------
_KEY_LINE = re.compile(r"^\s+(sk_test_tly_\S+)$", re.MULTILINE)


@pytest.fixture
def cli_env(monkeypatch, moto_tables):
    """Restore the variables the command sets from its flags after the test."""
    for name in ("OBJECTS_TABLE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    yield moto_tables
    from tally import settings

    settings.reset()


def test_accounts_create_prints_a_working_key_once(functions, cli_env, capsys):
    # GIVEN the objects table WHEN `tally accounts create --table …` runs
    assert cli.main(["accounts", "create", "--table", cli_env["ObjectsTable"]]) == 0
    out = capsys.readouterr().out
    # THEN it prints the account and the key (saying it is shown only once)
    keys = _KEY_LINE.findall(out)
    assert len(keys) == 1 and "only once" in out
    account = re.search(r"acct_[A-Za-z0-9]{16}", out)
    assert account and account.group(0) == auth.account_of(keys[0])
    # AND the key authenticates API requests as that account
    api = support.Api(functions, support.Account(account.group(0), keys[0]))
    created = api.post("/v1/customers", {"name": "via cli"})
    assert created.status == 200
    assert [c["id"] for c in api.get("/v1/customers").json["data"]] == [created.json["id"]]


def test_accounts_create_stores_only_the_key_hash(cli_env, capsys):
    # GIVEN a key created by the command WHEN its stored record is read THEN it holds the hash only
    cli.main(["accounts", "create", "--table", cli_env["ObjectsTable"]])
    key = _KEY_LINE.findall(capsys.readouterr().out)[0]
    from tally.store.aws import dynamodb
    from tally.store.models import OBJECT_SK, ObjectItem

    pk = ObjectItem.api_key_key(auth.account_of(key), auth.key_hash(key))
    item = dynamodb().get_item(
        TableName=cli_env["ObjectsTable"], Key={"pk": {"S": pk}, "sk": {"S": OBJECT_SK}}
    )
    assert "Item" in item
    assert key.rsplit("_", 1)[-1] not in repr(item["Item"])


def test_accounts_create_reads_the_table_from_the_environment(cli_env, capsys, monkeypatch):
    # GIVEN OBJECTS_TABLE set and no --table WHEN the command runs THEN it uses that table
    monkeypatch.setenv("OBJECTS_TABLE", cli_env["ObjectsTable"])
    assert cli.main(["accounts", "create"]) == 0
    assert len(_KEY_LINE.findall(capsys.readouterr().out)) == 1


def test_accounts_create_without_a_table_is_a_usage_error(cli_env, capsys, monkeypatch):
    # GIVEN neither --table nor OBJECTS_TABLE WHEN the command runs THEN exit 2 with a hint, no key
    monkeypatch.delenv("OBJECTS_TABLE")
    assert cli.main(["accounts", "create"]) == 2
    captured = capsys.readouterr()
    assert "--table" in captured.err and "sk_" not in captured.out


def test_accounts_create_reports_a_missing_table(cli_env, capsys):
    # GIVEN a table name that does not exist WHEN the command runs THEN exit 1, an error, no key shown
    assert cli.main(["accounts", "create", "--table", "no-such-table"]) == 1
    captured = capsys.readouterr()
    assert "no-such-table" in captured.err and "sk_" not in captured.out


# -- tally accounts update ---------------------------------------------------------------------------
def test_accounts_update_sets_the_invoice_grace_period(functions, cli_env, capsys, account):
    # GIVEN an account on the deployment's grace period
    api = support.Api(functions, account)
    assert api.get("/v1/tally/account_settings").json["invoice_grace_period"] == 3600
    # WHEN `tally accounts update <acct> --invoice-grace-period 3h` runs
    args = ["accounts", "update", account.id, "--table", cli_env["ObjectsTable"]]
    assert cli.main([*args, "--invoice-grace-period", "3h"]) == 0
    assert "10800" in capsys.readouterr().out
    # THEN the API shows it, set by the account (and `default` goes back to the deployment's)
    shown = api.get("/v1/tally/account_settings").json
    assert (shown["invoice_grace_period"], shown["invoice_grace_period_source"]) == (10800, "account")
    assert cli.main([*args, "--invoice-grace-period", "1h30m"]) == 0
    assert api.get("/v1/tally/account_settings").json["invoice_grace_period"] == 5400
    assert cli.main([*args, "--invoice-grace-period", "default"]) == 0
    assert api.get("/v1/tally/account_settings").json["invoice_grace_period_source"] == "deployment"


@pytest.mark.parametrize("value", ["73h", "3 hours", "-1", "", "1d"])
def test_accounts_update_refuses_a_bad_grace_period(cli_env, capsys, account, value):
    args = ["accounts", "update", account.id, "--table", cli_env["ObjectsTable"]]
    assert cli.main([*args, "--invoice-grace-period", value]) == 2
    assert "--invoice-grace-period" in capsys.readouterr().err
