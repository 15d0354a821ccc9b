"""The `Stripe-Version` header: checked on every request, and the answer rendered in the version
it names (or the account's default) when that version predates basil (docs/API.md, "API
versions"). Light at import: the ingest function runs the check, never a rendering."""

from __future__ import annotations

from typing import Any

from tally.clock import Clock
from tally.domain.api_version import check, legacy

HEADER = "stripe-version"
HEADER_PARAM = "Stripe-Version"


def requested(headers: dict[str, str]) -> str | None:
    """The version the request names (None: none), or a 400 for one Stripe has no such form of."""
    version = headers.get(HEADER)
    return None if version is None else check(version.strip(), HEADER_PARAM)


def render(account: str, requested_version: str | None, clock: Clock, body: Any) -> Any:
    """The answer `body` in the version the request named (None: the account's default):
    unchanged from basil on."""
    if requested_version is not None and not legacy(requested_version):
        return body
    from tally.billing import api_versions  # lazy: only answers that may change pay for it
    from tally.presenters.versions import touches

    if not touches(body):
        return body
    version = requested_version or api_versions.account_default(account, clock)
    return api_versions.render(account, body, version, clock)
