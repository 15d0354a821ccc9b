"""The `Stripe-Version` header: checked on every request, and the answer rendered in the version
it names (or the account's default) when that version predates basil (docs/API.md, "API
versions"). Light at import: the ingest function runs the check, never a rendering."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tally.domain.api_version import check, legacy

if TYPE_CHECKING:
    from tally.api.http import Request

HEADER = "stripe-version"
HEADER_PARAM = "Stripe-Version"


def requested(headers: dict[str, str]) -> str | None:
    """The version the request names (None: none), or a 400 for one Stripe has no such form of."""
    version = headers.get(HEADER)
    return None if version is None else check(version.strip(), HEADER_PARAM)


def render(request: Request, body: Any) -> Any:
    """The answer `body` in the request's version: unchanged from basil on."""
    if request.api_version is not None and not legacy(request.api_version):
        return body
    from tally.billing import api_versions  # lazy: only answers that may change pay for it
    from tally.presenters.versions import touches

    if not touches(body):
        return body
    version = request.api_version or api_versions.account_default(request.account, request.clock)
    return api_versions.render(request.account, body, version, request.clock)
