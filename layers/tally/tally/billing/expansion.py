"""`expand[]`: replace ids in a presented object by the objects they name, Stripe's way.

A path is dotted (`items.data.price.product`), at most 4 levels; on a list every path starts with
`data.`. Only Stripe's expandable fields of the objects Tally serves expand (the stripe SDK types
them `ExpandableField[...]`); any other path is Stripe's 400 "This property cannot be expanded
(path)." Paths are checked against the object's type before the request does anything (`check`),
then applied to the presented answer (`Expander.expand`), fetching each object once per request.
A null stays null, as on Stripe; an id whose object is gone stays an id (a deleted customer reads
as Stripe's deleted stub).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tally.billing import customers, meters, prices, products, subscriptions
from tally.clock import Clock
from tally.errors import InvalidRequest, NotFound
from tally.presenters import customers as customer_presenter
from tally.presenters.meters import meter as present_meter
from tally.presenters.prices import price as present_price
from tally.presenters.products import product as present_product
from tally.presenters.subscriptions import subscription as present_subscription

MAX_DEPTH = 4
MAX_PATHS = 20
# Per object type: expandable field path → the type it expands to (None: Tally always sends null).
EXPANDABLE: dict[str, dict[str, str | None]] = {
    "customer": {
        "default_source": None,
        "invoice_settings.default_payment_method": None,
        "test_clock": "test_helpers.test_clock",
    },
    "product": {"default_price": "price", "tax_code": None},
    "price": {"product": "product", "tiers": None},  # `tiers` is always included (docs/API.md)
    "plan": {"product": "product", "tiers": None},
    "subscription": {
        "customer": "customer",
        "latest_invoice": "invoice",
        "application": None,
        "default_payment_method": None,
        "default_source": None,
        "on_behalf_of": None,
        "pending_setup_intent": None,
        "schedule": None,
        "test_clock": "test_helpers.test_clock",
        "discounts": None,
        "default_tax_rates": None,
    },
    "subscription_item": {"discounts": None, "tax_rates": None},
    "billing.alert": {"usage_threshold.meter": "billing.meter"},
    "customer_balance_transaction": {
        "customer": "customer",
        "invoice": "invoice",
        "credit_note": None,
        "checkout_session": None,
    },
    "invoice": {
        "customer": "customer",
        "subscription": "subscription",
        "parent.subscription_details.subscription": "subscription",
        "application": None,
        "default_payment_method": None,
        "default_source": None,
        "latest_revision": None,
        "on_behalf_of": None,
        "test_clock": "test_helpers.test_clock",
        "discounts": None,
        "default_tax_rates": None,
    },
    "invoiceitem": {
        "customer": "customer",
        "invoice": "invoice",
        "pricing.price_details.price": "price",
        "test_clock": "test_helpers.test_clock",
        "discounts": None,
        "tax_rates": None,
    },
    "billing.credit_grant": {"customer": "customer", "test_clock": "test_helpers.test_clock"},
    "billing.credit_balance_transaction": {
        "credit_grant": "billing.credit_grant",
        "test_clock": "test_helpers.test_clock",
        "credit.credits_application_invoice_voided.invoice": "invoice",
        "debit.credits_applied.invoice": "invoice",
    },
    "billing.credit_balance_summary": {"customer": "customer"},
    "line_item": {
        "subscription": "subscription",
        "pricing.price_details.price": "price",
        "parent.subscription_item_details.subscription": "subscription",
        "discounts": None,
    },
}
# Objects embedded in others, which a path walks through without expanding.
EMBEDDED: dict[str, dict[str, str]] = {
    "subscription": {"items": "list:subscription_item"},
    "subscription_item": {"price": "price", "plan": "plan"},
    "invoice": {"lines": "list:line_item"},
}


def _cannot(path: str, index: int, hint: str = "") -> InvalidRequest:
    return InvalidRequest(f"This property cannot be expanded ({path}).{hint}", param=f"expand[{index}]")


def check(kind: str, paths: Sequence[str]) -> list[list[str]]:
    """Each path split into its steps, checked against the answer's type (e.g. `list:customer`)."""
    if len(paths) > MAX_PATHS:
        raise InvalidRequest(f"You cannot expand more than {MAX_PATHS} properties.", param="expand")
    out = []
    for index, path in enumerate(paths):
        steps = path.split(".")
        if len(steps) > MAX_DEPTH:
            raise InvalidRequest(
                f"You cannot expand more than {MAX_DEPTH} levels of a property ({path}).",
                param=f"expand[{index}]",
            )
        _check(kind, steps, path, index)
        out.append(steps)
    return out


def _check(kind: str, steps: list[str], path: str, index: int) -> None:
    if kind.startswith("list:"):
        if steps[0] != "data":
            hint = f" You may want to try expanding 'data.{path}' instead." if kind != "list:" else ""
            raise _cannot(path, index, hint)
        if len(steps) > 1:
            _check(kind[5:], steps[1:], path, index)
        return
    for k in range(len(steps), 0, -1):
        field = ".".join(steps[:k])
        if field in EXPANDABLE.get(kind, {}):
            target = EXPANDABLE[kind][field]
            if k < len(steps):
                if target is None:
                    raise _cannot(path, index)
                _check(target, steps[k:], path, index)
            return
    inner = EMBEDDED.get(kind, {}).get(steps[0])
    if inner is None or len(steps) == 1:
        raise _cannot(path, index)
    _check(inner, steps[1:], path, index)


class Expander:
    """Expands presented answers for one request; each object is fetched once."""

    def __init__(self, account: str, clock: Clock) -> None:
        self.account = account
        self.clock = clock
        self.cache: dict[tuple[str, str], Any] = {}
        self.fetchers: dict[str, Callable[[str], dict[str, Any]]] = {
            "customer": self._customer,
            "product": lambda i: present_product(products.retrieve(self.account, i, self.clock)),
            "price": lambda i: present_price(prices.retrieve(self.account, i, self.clock)),
            "subscription": lambda i: present_subscription(
                subscriptions.retrieve(self.account, i, self.clock)
            ),
            "billing.meter": lambda i: present_meter(meters.retrieve(self.account, i, self.clock)),
            "test_helpers.test_clock": self._test_clock,
            "invoice": self._invoice,
            "billing.credit_grant": self._credit_grant,
        }

    def _invoice(self, invoice_id: str) -> dict[str, Any]:
        from tally.billing import invoices  # lazy: only `latest_invoice` expands to an invoice
        from tally.presenters.invoices import invoice

        return invoice(invoices.retrieve(self.account, invoice_id, self.clock))

    def _credit_grant(self, grant_id: str) -> dict[str, Any]:
        from tally.billing import credit_grants  # lazy: only a ledger entry's grant needs it
        from tally.presenters.credits import grant

        return grant(credit_grants.retrieve(self.account, grant_id, self.clock))

    def _test_clock(self, clock_id: str) -> dict[str, Any]:
        from tally.billing import test_clocks  # lazy: only customers on a clock need it
        from tally.presenters.test_clocks import clock

        return clock(test_clocks.retrieve(self.account, clock_id, self.clock))

    def _customer(self, customer_id: str) -> dict[str, Any]:
        try:
            return customer_presenter.customer(customers.retrieve(self.account, customer_id, self.clock))
        except NotFound:
            return customer_presenter.deleted(customer_id)

    def fetch(self, kind: str, object_id: str) -> Any:
        """The presented object of that kind and id (the id itself if it cannot be read)."""
        key = (kind, object_id)
        if key not in self.cache:
            fetcher = self.fetchers.get(kind)
            try:
                self.cache[key] = object_id if fetcher is None else fetcher(object_id)
            except NotFound:
                self.cache[key] = object_id
        return self.cache[key]

    def expand(self, body: dict[str, Any], steps: Sequence[list[str]]) -> dict[str, Any]:
        for path in steps:
            self._walk(body, path)
        return body

    def _walk(self, value: Any, steps: list[str]) -> None:
        if not isinstance(value, dict) or not steps:
            return  # null stays null; a deleted or unreadable object stays as it is
        kind = value.get("object")
        if kind in ("list", "search_result"):
            for item in value.get("data", []):
                self._walk(item, steps[1:])
            return
        table = EXPANDABLE.get(str(kind), {})
        for k in range(len(steps), 0, -1):
            field = ".".join(steps[:k])
            if field in table:
                holder: Any = value
                for step in steps[: k - 1]:
                    holder = holder.get(step) if isinstance(holder, dict) else None
                if not isinstance(holder, dict):
                    return
                last = steps[k - 1]
                target = table[field]
                if isinstance(holder.get(last), str) and target is not None:
                    holder[last] = self.fetch(target, holder[last])
                self._walk(holder.get(last), steps[k:])
                return
        self._walk(value.get(steps[0]), steps[1:])
