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


def _unsigned_requests() -> None:
    """In-process moto never checks a request's SigV4 signature: it reads only the access key and
    region from the Authorization header. Computing the signature (a canonical request and five
    HMACs per AWS call) was ~8 % of an integration test's CPU, so tests send the header with the
    same credential scope and no signature. Only this test process: the e2e servers and the
    local runtime (`make run`, the bench) sign as boto3 does."""
    from botocore import auth
    from botocore.exceptions import NoCredentialsError

    def add_auth(self: auth.SigV4Auth, request: object) -> None:
        if self.credentials is None:
            raise NoCredentialsError()
        headers = request.headers  # type: ignore[attr-defined]
        if "Authorization" in headers:
            del headers["Authorization"]
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.credentials.access_key}/20260101/{self._region_name}/"
            f"{self._service_name}/aws4_request, SignedHeaders=host, Signature=unsigned"
        )

    auth.SigV4Auth.add_auth = add_auth  # type: ignore[method-assign]


_unsigned_requests()
