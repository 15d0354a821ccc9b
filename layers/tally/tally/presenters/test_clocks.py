"""The Stripe `test_helpers.test_clock` object."""

from __future__ import annotations

from typing import Any

from tally.domain.records import TestClock


def clock(c: TestClock) -> dict[str, Any]:
    return {
        "id": c.id,
        "object": c.OBJECT,
        "created": c.created,
        "deletes_after": c.deletes_after,
        "frozen_time": c.frozen_time,
        "livemode": c.livemode,
        "name": c.name,
        "status": c.status,
        "status_details": _details(c),
    }


def _details(c: TestClock) -> dict[str, Any]:
    """Stripe's `status_details`: while advancing, the frozen_time it is advancing to; else empty."""
    if c.status == "advancing" and c.advancing_to is not None:
        return {"advancing": {"target_frozen_time": c.advancing_to}}
    return {}


def deleted(clock_id: str) -> dict[str, Any]:
    return {"id": clock_id, "object": TestClock.OBJECT, "deleted": True}
