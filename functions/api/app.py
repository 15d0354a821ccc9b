"""Lambda entry point for everything but meter-event ingestion."""

from __future__ import annotations

from typing import Any

from tally.api import (
    account_settings,
    alerts,
    balance_transactions,
    billable_items,
    billing_portal,
    cadences,
    credit_balances,
    credit_grants,
    customers,
    events,
    intents,
    invoice_items,
    invoices,
    license_fees,
    meters,
    notification_subscriptions,
    portal,
    prices,
    pricing_plans,
    products,
    rate_cards,
    reporting,
    search,
    static,
    subscription_items,
    subscriptions,
    test_clocks,
    top_up_rules,
    webhook_endpoints,
)
from tally.api.http import handle
from tally.api.routing import merge
from tally.observability import entry_point

ROUTES = merge(
    customers.routes,
    meters.routes,
    products.routes,
    prices.routes,
    subscriptions.routes,
    subscription_items.routes,
    invoices.routes,
    events.routes,
    reporting.routes,  # branch revrec: revenue recognition
    search.routes,
    test_clocks.routes,
    notification_subscriptions.routes,
    account_settings.routes,
    webhook_endpoints.routes,
    alerts.routes,
    balance_transactions.routes,
    # branch portal: the customer portal's session route and data routes (pages: `static`)
    billing_portal.routes,
    portal.routes,
    credit_grants.routes,  # grants: billing credits
    credit_balances.routes,
    top_up_rules.routes,  # topups: automatic credit top-ups
    billable_items.routes,
    rate_cards.routes,
    license_fees.routes,
    pricing_plans.routes,
    cadences.routes,
    intents.routes,
    invoice_items.routes,  # oneoff (issue 13 point 5)
)
portal.bind(ROUTES)  # the portal's credits section reads the credit grants routes when they exist


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    page = static.serve(event)  # the portal and dashboard pages and their assets
    return page if page is not None else handle(event, context, ROUTES)
