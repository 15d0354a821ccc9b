"""Every test layer: fake AWS credentials only, and no endpoint inherited from a developer's shell.

Set at import time, before any test module imports boto3 or PynamoDB, so nothing can reach real
AWS by accident. The e2e server subprocess inherits the same environment.
"""

from __future__ import annotations

import os

from tally_local.aws import FAKE_CREDENTIALS

for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "TALLY_API_KEY", "TALLY_LIVEMODE"):
    os.environ.pop(_name, None)
os.environ.update(FAKE_CREDENTIALS)
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

# tests/browser drives a real Chromium: `make test-browser` runs it (and .ci/run), `make test` does not.
collect_ignore = [] if os.environ.get("TALLY_BROWSER_TESTS") == "1" else ["browser"]

# Property tests: no per-example deadline (CI shares 2 cores with moto and the e2e server).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("tally", deadline=None, print_blob=True)
_hypothesis_settings.load_profile("tally")
