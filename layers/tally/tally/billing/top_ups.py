"""Placeholder: the top-up actions (filled in once grants and one-off invoices land)."""
