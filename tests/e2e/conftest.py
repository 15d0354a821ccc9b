"""The real local stack (`python -m tally_local`) in a subprocess with its own moto.

Started once per session on a free port with E2E_ACCOUNTS explicit keys (TALLY_API_KEY); each test
takes an unused key with `e2e_key`, so every test works in a fresh account. At the end the server
gets SIGTERM and must exit cleanly within a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe
import support

# +2 catalog (test_v2_catalog_sdk.py), +1 revrec (test_revenue_recognition_sdk.py), +3 grants
# (test_credit_grants_sdk.py), +1 applying (test_credit_burndown_sdk.py), +1 ingest (keys), +1 topups
# (test_credit_top_ups_sdk.py), +2 oneoff (issue 13 point 5)
# +1 branch portal (test_portal_sdk.py), +1 cadence (test_cadence_invoices_sdk.py)
# +1 branch dimensions (test_meter_dimensions_sdk.py)
# +1 branch intents (test_intent_migration_sdk.py), +1 branch actions (test_service_actions_sdk.py)
# +1 branch v2events (test_v2_events_sdk.py)
E2E_ACCOUNTS = 81


@pytest.fixture(scope="session")
def local_server() -> Iterator[support.LocalServer]:
    server = support.LocalServer.start([support.new_test_key() for _ in range(E2E_ACCOUNTS)])
    yield server
    code, output = server.stop()
    assert code == 0, f"the local server exited with {code}:\n{output}"


@pytest.fixture
def e2e_key(local_server: support.LocalServer) -> str:
    return local_server.take_key()


@pytest.fixture
def client(local_server: support.LocalServer, e2e_key: str) -> stripe.StripeClient:
    """The official SDK on the local server: only the base addresses and the key change."""
    return stripe.StripeClient(
        e2e_key,
        base_addresses={"api": local_server.url, "meter_events": local_server.url},
        max_network_retries=2,
    )
