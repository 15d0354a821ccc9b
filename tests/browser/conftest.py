"""Browser tests: Debian's headless Chromium (through chromedriver) drives the portal and the
dashboard served by the real local stack (`python -m tally_local`, as `make run`).

Run with `make test-browser` (not part of `make test`). Without Chromium or its driver the run
fails and says how to install them; nothing is skipped. Screenshots go to tests/browser/output/
(or $TALLY_BROWSER_OUTPUT).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import support
from webdriver import Browser, find_browser

OUTPUT = Path(os.environ.get("TALLY_BROWSER_OUTPUT") or Path(__file__).parent / "output")


@pytest.fixture(scope="session")
def local_server() -> Iterator[support.LocalServer]:
    find_browser()  # fail first, with the install command, when Chromium is missing
    server = support.LocalServer.start([support.new_test_key() for _ in range(2)])
    yield server
    code, output = server.stop()
    assert code == 0, f"the local server exited with {code}:\n{output}"


@pytest.fixture(scope="session")
def browser(local_server: support.LocalServer) -> Iterator[Browser]:
    driver = Browser()
    yield driver
    driver.close()


@pytest.fixture(scope="session")
def output() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT
