"""Stripe's JSON, built from records: what the API answers and what the event log keeps.

Pure functions of records (and, where Stripe embeds other objects, of those records handed in).
"""
