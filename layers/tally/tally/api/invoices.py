"""/v1/invoices/create_preview: the next invoice of a subscription, computed and not stored.

See `tally.billing.invoices` for which subscription and period a preview shows, and
`tally.domain.invoices` for how lines are priced: one line per subscription item (tiers are not
split into lines); a line's `quantity` is what is billed (seats, or usage after
`transform_quantity`, as Stripe shows it; the raw usage is in the description).
"""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.routing import Routes
from tally.billing import invoices
from tally.presenters.invoices import invoice as present

routes = Routes()


@routes.route("POST /v1/invoices/create_preview")
def create_preview(request: Request) -> dict[str, Any]:
    params = request.params()
    subscription_id = params.str("subscription", max_length=255)
    customer_id = params.str("customer", max_length=255)
    params.expand()
    params.done()
    return present(invoices.preview(request.account, subscription_id, customer_id, request.clock))
