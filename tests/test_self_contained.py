"""A clone of the repository alone runs its tests: nothing is read from beside it (../shared)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import support

# The modules that read data files (Stripe fixtures, the walkthrough script).
DATA_READERS = [
    "tests/integration/test_catalog.py",
    "tests/integration/test_subscriptions_preview.py",
    "tests/integration/test_stripe_types.py",
    "tests/e2e/test_walkthrough.py",
    "tests/test_readme.py",
]


@pytest.mark.slow
def test_the_data_reading_tests_pass_in_a_lonely_copy(tmp_path):
    # GIVEN the repository's files (tracked or new, not ignored) copied where nothing is beside them
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=support.REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    lonely = tmp_path / "lonely" / "tally"
    for name in filter(None, listed.split("\0")):
        source = support.REPO_ROOT / name
        if source.is_file():
            (lonely / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, lonely / name)
    assert not (lonely.parent / "shared").exists()
    # WHEN the tests that read data files run there
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DATA_READERS],
        cwd=lonely,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # THEN they all pass, none skipped
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "skipped" not in done.stdout, done.stdout[-2000:]
