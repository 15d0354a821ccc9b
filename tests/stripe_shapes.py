"""Check a presented object against Stripe's own type definitions.

Two sources, both Stripe's:
- the installed stripe-python SDK's typed resources (`stripe.Customer`, `stripe.billing.Meter`, …):
  each field's type (int, bool, str, literals, nested `StripeObject` classes, lists, expandables);
- tests/data/stripe-fields.json (from the Node SDK's types, see tests/data/stripe_fields.py): which
  fields are required, optional and nullable. stripe-python writes `Optional[...]` for both "may be
  null" and "may be absent", so it alone cannot catch a `"quantity": null` that Stripe never sends
  (Stripe .NET's `long Quantity` cannot read it).

`problems(obj)` walks an object by its `object` value and returns one line per field that Stripe's
SDKs would not read as Stripe's: null where Stripe's type is not nullable, a wrong scalar type, a
field Stripe does not have (unless a documented Tally extension), a required field missing.
"""

from __future__ import annotations

import decimal
import json
import sys
import types
import typing
from functools import cache
from typing import Any

import stripe
import support
from stripe import StripeObject

FIELDS: dict[str, dict[str, str]] = json.loads((support.DATA_DIR / "stripe-fields.json").read_text())

# Fields Tally adds on purpose (docs/API.md): `write_shards`, and the fields Stripe moved in
# 2025-03-31.basil that Tally keeps for older integrations (top-level periods, `invoice.subscription`).
EXTENSIONS = {
    ("billing.Meter", "write_shards"),
    # meter dimensions (branch dimensions): Stripe's preview field, and the analytics rows' `dimensions`
    ("billing.Meter", "dimension_payload_keys"),
    ("billing.MeterEventSummary", "dimensions"),
    ("Subscription", "current_period_start"),
    ("Subscription", "current_period_end"),
    ("Invoice", "subscription"),
    # cadence (issue 14 point 4): a v2 cadence's invoice and its lines, in the shapes of Stripe's
    # private-preview SDKs (stripe-v2-pricing-plans.md §9.1); stripe-python 16.1 predates them, so
    # its `InvoiceLineItem.Pricing.type` knows only `price_details`
    ("Invoice.Parent", "billing_cadence_details"),
    ("InvoiceLineItem.Parent", "pricing_plan_subscription_details"),
    ("InvoiceLineItem.Pricing", "rate_card_rate_details"),
    ("InvoiceLineItem.Pricing", "license_fee_details"),
    ("InvoiceLineItem.Pricing", "type"),
    # service actions (issue 14 point 5, branch actions): a grant scoped to a service action's
    # metered items, Stripe's private-preview `billable_items` scope (stripe-credits-and-user-asks §2.1)
    ("billing.CreditGrant.ApplicabilityConfig.Scope", "billable_items"),
}
# Sub-lists (`subscription.items`, `invoice.lines`): Stripe sends `total_count` on them too.
LIST_FIELDS = {"object", "data", "has_more", "url", "total_count"}


def roots() -> dict[str, type[StripeObject]]:
    """The SDK class of each `object` value Tally serves."""
    return {
        "customer": stripe.Customer,
        "customer_balance_transaction": stripe.CustomerBalanceTransaction,
        # revenue recognition (branch revrec): checked against the SDK's types only (the Node
        # SDK's required/nullable flags for these two are not in stripe-fields.json yet)
        "reporting.report_run": stripe.reporting.ReportRun,
        "reporting.report_type": stripe.reporting.ReportType,
        "file": stripe.File,
        "product": stripe.Product,
        "price": stripe.Price,
        "plan": stripe.Plan,
        "subscription": stripe.Subscription,
        "subscription_item": stripe.SubscriptionItem,
        "invoice": stripe.Invoice,
        "line_item": stripe.InvoiceLineItem,
        "invoiceitem": stripe.InvoiceItem,
        "event": stripe.Event,
        "billing.alert": stripe.billing.Alert,
        "billing.credit_grant": stripe.billing.CreditGrant,  # grants: billing credits
        "billing.credit_balance_transaction": stripe.billing.CreditBalanceTransaction,
        "billing.credit_balance_summary": stripe.billing.CreditBalanceSummary,
        "billing.alert_triggered": stripe.billing.AlertTriggered,
        "billing.meter": stripe.billing.Meter,
        "billing.meter_event": stripe.billing.MeterEvent,
        "billing.meter_event_summary": stripe.billing.MeterEventSummary,
        "billing.meter_event_adjustment": stripe.billing.MeterEventAdjustment,
        "v2.billing.meter_event_session": stripe.v2.billing.MeterEventSession,
        "v2.billing.meter_event": stripe.v2.billing.MeterEvent,
        "v2.billing.meter_event_adjustment": stripe.v2.billing.MeterEventAdjustment,
        "test_helpers.test_clock": stripe.test_helpers.TestClock,
        "webhook_endpoint": stripe.WebhookEndpoint,
        "billing_portal.session": stripe.billing_portal.Session,  # branch portal
    }


def key_of(cls: type) -> str:
    """The class's name in stripe-fields.json: `SubscriptionItem.BillingThresholds`, `billing.Meter`."""
    module = cls.__module__
    prefix = "v2.billing." if module.startswith("stripe.v2.billing") else ""
    if not prefix and module.startswith("stripe.billing"):
        prefix = "billing."
    return prefix + cls.__qualname__


class _Names(dict):
    """Names an annotation may use: the class's own nested classes, its outer classes, the SDK."""

    def __init__(self, cls: type) -> None:
        super().__init__()
        self.scopes: list[Any] = []
        module = sys.modules[cls.__module__]
        outer: Any = module
        for part in cls.__qualname__.split("."):
            outer = getattr(outer, part)
            self.scopes.insert(0, vars(outer))
        self.scopes += [vars(module)]

    def __missing__(self, name: str) -> Any:
        for scope in self.scopes:
            if name in scope:
                return scope[name]
        for package in (stripe, stripe.billing, stripe.v2.billing, stripe.test_helpers, typing):
            try:
                return getattr(package, name)
            except AttributeError:
                continue
        return Any  # a type of an object Tally never embeds (its field is always null here)


@cache
def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, globalns=dict(vars(sys.modules[cls.__module__])), localns=_Names(cls))


def problems(obj: Any, cls: type[StripeObject] | None = None, path: str = "") -> list[str]:
    out: list[str] = []
    if cls is None:
        kind = obj.get("object") if isinstance(obj, dict) else None
        if kind == "list":
            _list(obj, None, path or "list", out)
            return out
        if kind == "search_result":
            _search_result(obj, path or "search_result", out)
            return out
        if kind in roots() and obj.get("deleted") is True:
            return _deleted(obj, path or f"deleted {kind}")
        if kind not in roots():
            return [f"{path or '$'}: unknown object {kind!r}"]
        cls = roots()[kind]
    _object(obj, cls, path or str(obj.get("object")), out)
    return out


def _object(obj: Any, cls: type, path: str, out: list[str]) -> None:
    if not isinstance(obj, dict):
        out.append(f"{path}: {obj!r} is not an object ({cls.__qualname__})")
        return
    key = key_of(cls)
    flags = FIELDS.get(key, {})
    annotated = {k: v for k, v in hints(cls).items() if not k.startswith("_")}
    for name, value in obj.items():
        where = f"{path}.{name}"
        if (key, name) in EXTENSIONS:
            continue
        if name not in annotated and name not in flags:
            out.append(f"{where}: Stripe's {key} has no such field")
            continue
        flag = flags.get(name, "optional_nullable")
        if value is None:
            if flag not in ("nullable", "optional_nullable"):
                out.append(f"{where}: null, but Stripe's {key}.{name} is never null ({flag})")
            continue
        if name in annotated:
            _value(value, annotated[name], where, out)
    for name, flag in flags.items():
        if flag in ("required", "nullable") and name not in obj and name in annotated:
            out.append(f"{path}.{name}: missing, but Stripe always sends it ({flag})")


def _list(obj: Any, item: Any, path: str, out: list[str]) -> None:
    if not isinstance(obj, dict) or obj.get("object") != "list":
        out.append(f"{path}: {obj!r} is not a list object")
        return
    for name in set(obj) - LIST_FIELDS:
        out.append(f"{path}.{name}: a list has no such field")
    if not isinstance(obj.get("has_more"), bool):
        out.append(f"{path}.has_more: not a boolean")
    if not isinstance(obj.get("url"), str):
        out.append(f"{path}.url: not a string")
    if "total_count" in obj and not _is_int(obj["total_count"]):
        out.append(f"{path}.total_count: not an integer")
    data = obj.get("data")
    if not isinstance(data, list):
        out.append(f"{path}.data: not an array")
        return
    for i, element in enumerate(data):
        if item is None:
            out.extend(problems(element, None, f"{path}.data[{i}]"))
        else:
            _value(element, item, f"{path}.data[{i}]", out)


def _search_result(obj: dict[str, Any], path: str, out: list[str]) -> None:
    """Stripe's `SearchResultObject`: object, data, has_more, next_page (string or null), url."""
    for name in set(obj) - {"object", "data", "has_more", "next_page", "url"}:
        out.append(f"{path}.{name}: a search result has no such field")
    if not isinstance(obj.get("has_more"), bool):
        out.append(f"{path}.has_more: not a boolean")
    if not isinstance(obj.get("url"), str):
        out.append(f"{path}.url: not a string")
    if obj.get("next_page") is not None and not isinstance(obj["next_page"], str):
        out.append(f"{path}.next_page: not a string or null")
    for i, element in enumerate(obj.get("data") or []):
        out.extend(problems(element, None, f"{path}.data[{i}]"))


def _deleted(obj: dict[str, Any], path: str) -> list[str]:
    """Stripe's `Deleted<Object>`: exactly id (string), object, deleted: true."""
    extra = sorted(set(obj) - {"id", "object", "deleted"})
    out = [f"{path}.{name}: a deleted object has no such field" for name in extra]
    if not isinstance(obj.get("id"), str):
        out.append(f"{path}.id: not a string")
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_decimal(text: str) -> bool:
    try:
        return decimal.Decimal(text).is_finite() and "e" not in text.lower()
    except decimal.InvalidOperation:
        return False


def _matches(value: Any, tp: Any, path: str) -> list[str]:
    found: list[str] = []
    _value(value, tp, path, found)
    return found


def _value(value: Any, tp: Any, path: str, out: list[str]) -> None:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None and len(options) < len(args):
            return
        attempts = [_matches(value, option, path) for option in options]
        if not any(not found for found in attempts):
            # an expandable is an id or the object: report the object's problems when it is one
            out.extend(min(attempts, key=len))
        return
    if origin is typing.Literal:
        if value not in args:
            out.append(f"{path}: {value!r} is not one of {args}")
        return
    if tp is bool:
        if not isinstance(value, bool):
            out.append(f"{path}: {value!r} is not a boolean")
        return
    if tp is int:
        if not _is_int(value):
            out.append(f"{path}: {value!r} is not an integer")
        return
    if tp is float:
        if not (isinstance(value, int | float) and not isinstance(value, bool)):
            out.append(f"{path}: {value!r} is not a number")
        return
    if tp is decimal.Decimal:  # the SDK parses Stripe's decimal strings ("0.05")
        if not (isinstance(value, str) and _is_decimal(value)):
            out.append(f"{path}: {value!r} is not a decimal string")
        return
    if tp is str:
        if not isinstance(value, str):
            out.append(f"{path}: {value!r} is not a string")
        return
    if origin in (list, typing.List):  # noqa: UP006 - the SDK's annotations use typing.List
        if not isinstance(value, list):
            out.append(f"{path}: {value!r} is not an array")
            return
        for i, element in enumerate(value):
            _value(element, args[0], f"{path}[{i}]", out)
        return
    if origin in (dict, typing.Dict):  # noqa: UP006
        if not isinstance(value, dict):
            out.append(f"{path}: {value!r} is not a hash")
            return
        for k, element in value.items():
            _value(element, args[1], f"{path}[{k}]", out)
        return
    base = origin or tp
    if isinstance(base, type) and issubclass(base, stripe.ListObject):
        _list(value, args[0] if args else None, path, out)
        return
    if isinstance(base, type) and base.__name__ == "UntypedStripeObject":
        # `event.data.object`: the object the event is about, checked as its own type
        if isinstance(value, dict) and value.get("object") in roots():
            out.extend(problems(value, None, path))
        return
    if isinstance(base, type) and issubclass(base, StripeObject):
        _object(value, base, path, out)
        return
    out.append(f"{path}: no rule for the SDK type {tp!r}")
