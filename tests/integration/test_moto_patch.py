"""The local runtime's moto patch keeps transactions all-or-nothing (so tests relying on it can fail)."""

from __future__ import annotations

from tally.settings import settings
from tally.store.aws import dynamodb
from tally_local import moto_patch


def test_a_cancelled_transaction_leaves_every_touched_item_as_it_was(moto_tables):
    # GIVEN the patch installed (the fixture does, as `make run` does)
    assert moto_patch.installed()
    # WHEN a transaction with an ADD, a new Put and a failing conditional Put is cancelled
    # THEN the counter keeps its value and the new item does not exist (canary raises otherwise)
    moto_patch.canary(dynamodb(), settings().usage_table, "acct_canary")


def test_another_moto_release_is_refused_with_what_to_do():
    # GIVEN a moto release the patch was not written for WHEN the local runtime checks THEN it refuses
    import pytest

    with pytest.raises(moto_patch.WrongMotoVersion, match="make clean && make install"):
        moto_patch.check_version("5.1.0")
    moto_patch.check_version(moto_patch.MOTO_VERSION)  # the pinned one passes
