"""A metered item's `invoice_presentation_dimensions` on a cadence invoice: its usage over one
service interval shown as one line per distinct value of those dimensions. Pure, no I/O.

Stripe says only "Meter dimensions to group event dimension keys for invoice line items". Tally
groups, and prices the item's usage as a whole all the same (a rate's tiers apply to the item's
usage over the interval, not per group: the grouping is presentation). The lines' amounts are
cumulative differences, groups in the order of their values: the first group's line is the price
of its quantity, each next one the price of the groups so far less what the lines before bill, so
the lines always add up to the price of the total (tiers and `transform_quantity` included) and
no rounding is spread. A group is a dimension's value, or none when events lacked it.
"""

from __future__ import annotations

from collections.abc import Sequence

from tally.domain.pricing import PriceModel, billable_quantity, line_amount

Group = tuple[tuple[str, str | None], ...]  # (dimension, value) in the item's order


def group_of(keys: Sequence[str], values: Sequence[str | None], dimensions: Sequence[str]) -> Group:
    """The group of a meter segment (`values` in the meter's `keys` order) for `dimensions`."""
    named = dict(zip(keys, values, strict=True))
    return tuple((d, named.get(d)) for d in dimensions)


def order(group: Group) -> tuple[tuple[int, str], ...]:
    """Groups sort by their values, a missing value last."""
    return tuple((1, "") if v is None else (0, v) for _, v in group)


def label(group: Group) -> str:
    """`model: a, region: eu` (a missing value shows as `none`)."""
    return ", ".join(f"{d}: {'none' if v is None else v}" for d, v in group)


def split(model: PriceModel, quantities: Sequence[int]) -> list[tuple[int, int]]:
    """(billed quantity, amount) of each group's line, in the given order, by cumulative
    differences (module doc): their sums are the billed quantity and the amount of the total."""
    out: list[tuple[int, int]] = []
    used = billed_before = amount_before = 0
    for quantity in quantities:
        used += max(quantity, 0)
        if used == 0:  # nothing yet: a line of nothing (a volume tier's flat amount is not due)
            out.append((0, 0))
            continue
        billed = billable_quantity(model, used)
        amount = line_amount(model, billed)
        out.append((billed - billed_before, amount - amount_before))
        billed_before, amount_before = billed, amount
    return out
