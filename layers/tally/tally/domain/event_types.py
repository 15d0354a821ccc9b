"""Which event types exist: the one place that says so (webhook `enabled_events`, what `*` means).

- `STRIPE_EVENT_TYPES`: every type Stripe documents for webhook endpoints, generated from Stripe's
  published SDK types (`tally.domain.stripe_event_types`, written by
  dev/tally_local/stripe_event_types.py). An endpoint may enable any of them, also those Tally
  never sends (an app written for Stripe registers its list unchanged; it simply hears nothing of
  charges or payouts).
- `TALLY_EVENT_TYPES`: types Tally writes that are not in Stripe's list (its own extensions, and
  Stripe's v2 "thin" meter, billing-credit and v2 billing events, which Stripe sends to event destinations,
  never to v1 webhook endpoints). An endpoint receives them only when it names them: `*` means
  Stripe's types, so an app built for Stripe never sees a type it cannot know.
"""

from __future__ import annotations

from tally.domain.credits import THIN_EVENT_TYPES
from tally.domain.meter_error_reports import ERROR_REPORT, NO_METER_FOUND
from tally.domain.stripe_event_types import STRIPE_EVENT_TYPES
from tally.domain.v2_events import NEVER_SENT, V2_EVENT_TYPES

ACCOUNT_SETTINGS_UPDATED = "tally.account_settings.updated"
# topups: Stripe's preview `billing.alert.recovered` (not in the GA list) and Tally's top-up start
ALERT_RECOVERED = "billing.alert.recovered"
CREDIT_TOP_UP_STARTED = "tally.credit_top_up.started"

TALLY_EVENT_TYPES = frozenset(
    {
        ACCOUNT_SETTINGS_UPDATED,
        ERROR_REPORT,
        NO_METER_FOUND,
        *THIN_EVENT_TYPES,
        *V2_EVENT_TYPES,
        *NEVER_SENT,
        ALERT_RECOVERED,
        CREDIT_TOP_UP_STARTED,
    }
)
EVENT_TYPES = STRIPE_EVENT_TYPES | TALLY_EVENT_TYPES

__all__ = ["EVENT_TYPES", "STRIPE_EVENT_TYPES", "TALLY_EVENT_TYPES", "in_all"]


def in_all(event_type: str) -> bool:
    """Whether an endpoint enabling `*` receives `event_type` (Stripe's types only)."""
    return event_type in STRIPE_EVENT_TYPES
