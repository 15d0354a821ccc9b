"""Which `Stripe-Version` values Tally accepts, and which get the pre-basil (acacia) shapes."""

from __future__ import annotations

import pytest

from tally.domain.api_version import API_VERSION, legacy, problem


@pytest.mark.parametrize(
    ("version", "accepted", "old_shape"),
    [
        ("2025-02-24.acacia", True, True),
        ("2024-09-30.acacia", True, True),
        ("2024-06-20", True, True),  # before acacia: no release name, the acacia shape
        ("2020-08-27", True, True),
        ("2025-03-31.basil", True, False),
        ("2025-08-27.basil", True, False),
        (API_VERSION, True, False),
        ("2025-07-30.preview", True, False),
        ("2026-10-28.endive", True, False),  # a release newer than Tally: the newest shape
        ("2024-10-28.basil", False, None),  # the date falls in acacia
        ("2025-10-01.basil", False, None),
        ("2025-09-30.endive", False, None),  # the first clover day is clover's
        ("2024-12-18", False, None),  # from acacia on, versions name their release
        ("2020-08-27.acacia", False, None),
        ("2019-02-30", False, None),
        ("2010-12-31", False, None),
        ("latest", False, None),
        ("", False, None),
        ("2025-02-24.Acacia", False, None),
        ("2025-02-24.acacia ", False, None),
        ("2025-02-24." + "a" * 60, False, None),
    ],
)
def test_versions_accepted_and_their_shape(version, accepted, old_shape):
    assert (problem(version) is None) == accepted, problem(version)
    if accepted:
        assert legacy(version) == old_shape
