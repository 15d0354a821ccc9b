"""The local runtime's moto patch keeps transactions all-or-nothing (so tests relying on it can fail)."""

from __future__ import annotations

from tally.local import moto_patch
from tally.settings import settings
from tally.store.aws import dynamodb


def test_a_cancelled_transaction_leaves_every_touched_item_as_it_was(moto_tables):
    # GIVEN the patch installed (the fixture does, as `make run` does)
    assert moto_patch.installed()
    # WHEN a transaction with an ADD, a new Put and a failing conditional Put is cancelled
    # THEN the counter keeps its value and the new item does not exist (canary raises otherwise)
    moto_patch.canary(dynamodb(), settings().usage_table, "acct_canary")
