"""The `tally.account_settings` object (a Tally extension; no Stripe counterpart)."""

from __future__ import annotations

from typing import Any

from tally.domain.records import AccountSettings
from tally.settings import settings


def account_settings(s: AccountSettings) -> dict[str, Any]:
    chosen = s.invoice_grace_period
    return {
        "object": s.OBJECT,
        "invoice_grace_period": settings().invoice_grace_seconds if chosen is None else chosen,
        "invoice_grace_period_source": "deployment" if chosen is None else "account",
        "livemode": s.livemode,
        "updated": s.updated,
    }
