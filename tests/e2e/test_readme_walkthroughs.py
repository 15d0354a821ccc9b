"""The README's walkthroughs, run as a newcomer runs them: in order, in one account of one local
stack. First the curl walkthrough (tests/data/seed-walkthrough.sh, which tests/test_readme.py
holds to the README's curl block), then every Python block of the "Walkthroughs" section verbatim
but for the base URL and key, in one interpreter (each block continues the previous one's session).

Before the fix the SDK walkthrough reused the curl walkthrough's event_name (refused: an active
meter with that event_name exists), the test clock block billed nothing (its subscription was
"as above") and the alert watched the test-clock customer, whose usage is stamped with the clock's
frozen time and never counted."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
import support

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
README = (support.REPO_ROOT / "README.md").read_text()
README_URL = "http://127.0.0.1:4242"
README_KEY = "sk_test_BQokikJOvBiI2HlWgH4olfQ2"


def _walkthrough_python() -> str:
    start = README.index("\n## Walkthroughs\n")
    end = README.index("\n## ", start + 1)
    return "\n".join(re.findall(r"```python\n(.*?)```", README[start:end], re.S))


def test_the_readme_walkthroughs_run_in_order_on_one_stack(local_server, e2e_key):
    # GIVEN one account of the local stack, and curl on the PATH
    assert shutil.which("curl"), "the walkthrough needs curl"
    # WHEN the curl walkthrough runs first
    curl = subprocess.run(
        ["bash", str(support.DATA_DIR / "seed-walkthrough.sh"), local_server.url, e2e_key],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert curl.returncode == 0, curl.stdout[-2000:] + curl.stderr
    # AND then the README's Python blocks, in order, in one interpreter, on the same account
    source = _walkthrough_python()
    assert README_URL in source and README_KEY in source
    done = subprocess.run(
        [sys.executable, "-c", source.replace(README_URL, local_server.url).replace(README_KEY, e2e_key)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    # THEN every block ran, and printed what the README's comments say it prints
    assert done.returncode == 0, done.stdout + done.stderr
    printed = done.stdout.splitlines()
    assert printed == [
        "1 4",  # the SDK preview: 25 tokens → 1 unit → 4 cents
        "subscription_create paid 0",  # the clock's customer: nothing up front
        "subscription_cycle open 12",  # 250 tokens → 3 units → 12 cents, finalized
        "billing.alert.triggered 10025",  # the alert, once, signed
        "940",  # billing credits: 1,500 tokens (60 cents) burned off 10.00 at once
        "60 0 940",  # the invoice took those 60 cents of credit; the summary agrees
        # pricing plans: the commit's fee, then each tick's usage less the month's 5.00 credit
        "subscription_create 2000 0 2000",
        "subscription_cycle 15100 500 14600",
        "subscription_cycle 10200 500 9700",
        "subscription_cycle 2300 300 2000",
    ], done.stdout + done.stderr
