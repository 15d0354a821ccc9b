"""Tally: usage-based billing that speaks Stripe's Billing API, on Lambda + DynamoDB."""
