"""The handlers' JSON logs carry the keys of the request being served, never a previous one's
(a warm Lambda serves request after request with the same Powertools logger)."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import support

from tally.observability import logger
from tally.store import api_keys


@contextmanager
def captured_logs() -> Iterator[list[dict[str, Any]]]:
    """The handlers' JSON log lines written inside the block, parsed, in order (filled on exit)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)
    records: list[dict[str, Any]] = []
    try:
        yield records
    finally:
        logging.getLogger(logger.name).removeHandler(handler)
        records += [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def _break_customer_list(functions: support.Functions, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `GET /v1/customers` fail unexpectedly (a 500 the handler logs, after authentication)."""
    routes = functions.route_table("ApiFunction")
    original = routes["GET /v1/customers"]

    def broken(request: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setitem(routes, original.key, dataclasses.replace(original, handler=broken))


def test_a_request_failing_before_authentication_is_not_logged_under_the_previous_account(
    api, functions, monkeypatch
):
    # GIVEN an authenticated request that fails unexpectedly (logged, under its account)
    _break_customer_list(functions, monkeypatch)
    with captured_logs() as records:
        assert api.get("/v1/customers").status == 500

        # WHEN the next request, with a key never issued, fails while its key is looked up
        def store_down(account: str, digest: str, now: int) -> bool:
            raise RuntimeError("DynamoDB unavailable")

        monkeypatch.setattr(api_keys, "exists", store_down)
        stranger = "sk_test_" + "S" * 40
        assert api.post("/v1/customers", {"name": "S"}, key=stranger).status == 500
    first, second = records
    # THEN the first error is logged with its account and route
    assert (first["message"], first["account"], first["route"]) == (
        "unhandled error",
        api.account.id,
        "GET /v1/customers",
    )
    # AND the second error carries no account or route: none was established for it
    assert second["message"] == "unhandled error"
    assert "account" not in second and "route" not in second, second
    assert second["correlation_id"] != first["correlation_id"]


def test_each_request_logs_its_own_account(functions, monkeypatch):
    # GIVEN two accounts whose list requests both fail unexpectedly
    _break_customer_list(functions, monkeypatch)
    first_account, second_account = support.new_account(), support.new_account()
    # WHEN each calls in turn
    with captured_logs() as records:
        for account in (first_account, second_account):
            assert support.Api(functions, account).get("/v1/customers").status == 500
    # THEN each error is logged under its own account
    assert [r["account"] for r in records] == [first_account.id, second_account.id]
