"""The Stripe API version whose shapes Tally serves (each event records it)."""

API_VERSION = "2025-09-30.clover"
