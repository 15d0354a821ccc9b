"""Stripe API versions: which one Tally's shapes are (each event records it), which versions a
request (`Stripe-Version`), an account default or a webhook endpoint may name, and which of them
get the shapes from before `2025-03-31.basil` (docs/API.md, "API versions").

A version is `YYYY-MM-DD` (Stripe's versions before 2024-09-30) or `YYYY-MM-DD.<release>` (from
`2024-09-30.acacia` on; `preview` versions too). A release name must fit its date (acacia from
2024-09-30, basil from 2025-03-31, clover from 2025-09-30); a later, unknown name is accepted
from the first date after the newest known release, so the next SDK's default keeps working and
gets Tally's newest shape.
"""

from __future__ import annotations

import re
from datetime import date

from tally.errors import InvalidRequest

API_VERSION = "2025-09-30.clover"  # the shape presenters build, and the event log keeps
BASIL = "2025-03-31"  # the first version with `parent`, `pricing`, item-level periods
LEGACY_SHAPE = "2025-02-24.acacia"  # the last version before basil: what older versions get
RELEASES = (("2024-09-30", "acacia"), ("2025-03-31", "basil"), ("2025-09-30", "clover"))
MAX_LENGTH = 64

_FORM = re.compile(r"(\d{4}-\d{2}-\d{2})(?:\.([a-z]+))?")


def _release_of(day: str) -> str | None:
    """The release a date falls in (None before acacia: those versions carry no name)."""
    name = None
    for start, release in RELEASES:
        if day >= start:
            name = release
    return name


def problem(version: str) -> str | None:
    """Why `version` is not a Stripe API version Tally accepts (None: it is)."""
    found = _FORM.fullmatch(version) if len(version) <= MAX_LENGTH else None
    if found is None:
        return "a version looks like 2025-02-24.acacia"
    day, name = found.group(1), found.group(2)
    try:
        date.fromisoformat(day)
    except ValueError:
        return f"{day} is not a date"
    if day < "2011-01-01":
        return "Stripe has no version that old"
    release = _release_of(day)
    if name is None:
        return None if release is None else f"versions from {RELEASES[0][0]} name their release"
    if name == "preview" and release is not None:
        return None
    if release is None:
        return f"versions before {RELEASES[0][0]} carry no release name"
    if name == release:
        return None
    newest_start, newest = RELEASES[-1]
    if release == newest and day > newest_start and name not in {r for _, r in RELEASES}:
        return None  # a release newer than Tally knows: served the newest shape
    return f"{day} falls in the {release} release"


def check(version: str, param: str | None = None) -> str:
    """`version` if Tally accepts it; else InvalidRequest (400) naming `param` when given."""
    why = problem(version)
    if why is not None:
        raise InvalidRequest(
            f"Invalid Stripe API version: {version} ({why}).", code="parameter_invalid", param=param
        )
    return version


def legacy(version: str) -> bool:
    """Whether `version` (an accepted one) gets the shapes from before 2025-03-31.basil."""
    return version[:10] < BASIL
