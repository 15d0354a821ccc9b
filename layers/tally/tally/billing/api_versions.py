"""The API version an answer or a webhook event is rendered in, and rendering it
(docs/API.md, "API versions").

A request's `Stripe-Version` header wins; without one, the account's default
(`/v1/tally/account_settings` `api_version`, unset: Tally's `API_VERSION`). A webhook endpoint's
own `api_version` wins for its deliveries, else the account's default. The event log keeps one
copy of each event, in Tally's shape; a version before basil gets it rewritten at delivery
(`presenters.versions.legacy`), with the prices its invoice lines embed read then.
"""

from __future__ import annotations

from typing import Any

from tally.billing import account_settings
from tally.clock import Clock
from tally.domain.api_version import legacy
from tally.domain.records import Price
from tally.errors import NotFound
from tally.presenters import versions
from tally.store import objects


def account_default(account: str, clock: Clock) -> str:
    """The version an account's answers and endpoints follow when they name none."""
    return account_settings.api_version(account, clock)


def render(account: str, body: Any, version: str, clock: Clock) -> Any:
    """`body` (Tally's shape) as `version` shows it: unchanged from basil on."""
    if not legacy(version) or not versions.touches(body):
        return body
    prices: dict[str, Price] = {}
    for price_id in sorted(versions.price_ids(body)):
        try:
            prices[price_id] = objects.get(account, price_id, Price, clock)
        except NotFound:
            pass  # a line naming a price that is gone shows `price: null`
    return versions.legacy(body, version, prices)
