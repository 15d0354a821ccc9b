"""The largest integers Tally puts on the wire, so every typed SDK can decode them.

Stripe's typed SDKs (Go, Java, .NET) decode amounts and quantities into signed 64-bit integers;
anything above 2^63−1 fails to decode. Tally bounds what it emits well inside that range:

- `MAX_AMOUNT` (999,999,999,999,999 minor units, fifteen nines — also below 2^53, so JavaScript's
  numbers stay exact): every amount on an invoice — a line's `amount`, `subtotal`, `total`,
  `amount_due`, `amount_remaining`, `starting_balance`.
- `MAX_USAGE` (999,999,999,999,999,999, eighteen nines): every usage total and billed quantity —
  a summary's `aggregated_value`, a metered line's `quantity`.

Request-time checks keep licensed lines under MAX_AMOUNT (`check_licensed`), but usage
accumulates over many events, so the totals are checked where they are computed: a preview or a
summary beyond a limit is a 400 (`amount_too_large`, `usage_too_large`) rather than a wrong or
undecodable number. Pure: raises `tally.errors.InvalidRequest`.
"""

from __future__ import annotations

from collections.abc import Sequence

from tally.errors import InvalidRequest

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_AMOUNT = 999_999_999_999_999
MAX_USAGE = 999_999_999_999_999_999


def amount_too_large(what: str, value: int, param: str | None = None) -> InvalidRequest:
    return InvalidRequest(
        f"{what} would be {value:,}, more than the maximum amount of {MAX_AMOUNT:,} (in the currency's "
        "minor unit) that Tally bills.",
        code="amount_too_large",
        param=param,
    )


def check_amount(what: str, value: int, param: str | None = None) -> int:
    """`value` if |value| ≤ MAX_AMOUNT; else a 400 `amount_too_large` naming `param`."""
    if abs(value) > MAX_AMOUNT:
        raise amount_too_large(what, value, param)
    return value


def check_usage(what: str, value: int, param: str | None = None) -> int:
    """`value` if |value| ≤ MAX_USAGE; else a 400 `usage_too_large`."""
    if abs(value) > MAX_USAGE:
        raise InvalidRequest(
            f"{what} is {value:,}, beyond ±{MAX_USAGE:,}, the largest usage total Tally reports. "
            "Read a shorter period (e.g. value_grouping_window=hour) or cancel erroneous events.",
            code="usage_too_large",
            param=param,
        )
    return value


def check_licensed(lines: Sequence[tuple[int, str]], total_param: str = "items") -> None:
    """Licensed line amounts (amount, quantity param): each and their sum ≤ MAX_AMOUNT."""
    for amount, param in lines:
        check_amount("This item's amount per period", amount, param)
    check_amount("The subscription's amount per period", sum(amount for amount, _ in lines), total_param)
