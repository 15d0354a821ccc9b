"""The `tally.account_settings` object (a Tally extension; no Stripe counterpart)."""

from __future__ import annotations

from typing import Any

from tally.domain.api_version import API_VERSION
from tally.domain.records import AccountSettings


def account_settings(s: AccountSettings, deployment_grace: int) -> dict[str, Any]:
    """`deployment_grace`: the grace period an account that chose none has (the deployment's)."""
    chosen = s.invoice_grace_period
    return {
        "object": s.OBJECT,
        "api_version": s.api_version or API_VERSION,
        "invoice_grace_period": deployment_grace if chosen is None else chosen,
        "invoice_grace_period_source": "deployment" if chosen is None else "account",
        "livemode": s.livemode,
        "updated": s.updated,
    }
