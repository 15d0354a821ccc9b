"""Which endpoints `tally accounts create` treats as the local stack (and so gives fake credentials)."""

from __future__ import annotations

import pytest

from tally_local.cli import is_local


@pytest.mark.parametrize(
    ("endpoint", "local"),
    [
        ("http://127.0.0.1:5000", True),
        ("http://localhost:5000", True),
        ("http://127.0.0.2:5000", True),
        ("http://[::1]:5000", True),
        ("https://dynamodb.us-east-1.amazonaws.com", False),
        ("http://10.0.0.5:8000", False),
        ("http://localhost.example.com", False),
        ("", False),
    ],
)
def test_is_local(endpoint, local):
    # GIVEN an endpoint URL WHEN classified THEN only loopback addresses and localhost are local
    assert is_local(endpoint) is local
