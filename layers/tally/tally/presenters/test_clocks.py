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
        "status_details": {},
    }


def deleted(clock_id: str) -> dict[str, Any]:
    return {"id": clock_id, "object": TestClock.OBJECT, "deleted": True}
