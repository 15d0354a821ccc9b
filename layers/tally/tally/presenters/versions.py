"""Stripe JSON in the shapes of API versions before `2025-03-31.basil` (the acacia shapes).

Presenters build Tally's one shape (`domain.api_version.API_VERSION`); `legacy` rewrites a
finished answer or event, wherever its invoices, invoice lines, subscriptions and subscription
items sit (lists, search results, expanded fields, an event's `data`), into what an app pinned
to an acacia version reads (docs/API.md, "API versions"):

- invoice: `subscription` and `subscription_details` (from `parent.subscription_details`),
  `paid`, `paid_out_of_band`, `quote`, `discount`, `tax`, `total_tax_amounts`, `charge`,
  `payment_intent`, `application_fee_amount`; without `parent` and `total_taxes`.
- invoice line: `price` and `plan` (the objects), `type`, `proration`, `proration_details`,
  `subscription`, `subscription_item`, `invoice_item` (from `parent`), `unit_amount_excluding_tax`
  (from `pricing`), `amount_excluding_tax`, `tax_amounts`, `tax_rates`; without `parent`,
  `pricing`, `taxes`.
- invoice item: `price` and `plan` (the objects), `unit_amount(_decimal)`, `subscription`,
  `subscription_item`; without `pricing`, `parent`, `net_amount`, `quantity_decimal`.
- subscription: `current_period_start/end` at the top (Tally shows them there at every version)
  and `discount`; its items without `current_period_start/end`.
- event: `api_version` names the version rendered; `data.previous_attributes` follows its object.

Pure: the prices a legacy line embeds are handed in (`price_ids` says which).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tally.domain.records import Price
from tally.presenters.prices import plan as present_plan
from tally.presenters.prices import price as present_price

VERSIONED = frozenset({"invoice", "line_item", "subscription", "subscription_item", "invoiceitem"})


def touches(body: Any) -> bool:
    """Whether `body` holds an object whose shape depends on the version (or an event, which
    may carry one)."""
    if isinstance(body, dict):
        if body.get("object") in VERSIONED or body.get("object") == "event":
            return True
        return any(touches(v) for v in body.values() if isinstance(v, dict | list))
    if isinstance(body, list):
        return any(touches(v) for v in body)
    return False


def _line_price(line: Mapping[str, Any]) -> str | None:
    pricing = line.get("pricing") or {}
    details = pricing.get("price_details") or {}
    found = details.get("price")
    return found if isinstance(found, str) else None


def price_ids(body: Any) -> set[str]:
    """The prices the legacy shape of `body`'s invoice lines embeds."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("object") in ("line_item", "invoiceitem"):
                pid = _line_price(value)
                if pid:
                    found.add(pid)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(body)
    return found


def _ordered(out: dict[str, Any]) -> dict[str, Any]:
    """`id` and `object` first, then the rest by name, as Stripe orders its keys."""
    head: dict[str, Any] = {k: out[k] for k in ("id", "object") if k in out}
    return {**head, **{k: out[k] for k in sorted(out) if k not in head}}


def _invoice(inv: dict[str, Any], prices: Mapping[str, Price]) -> dict[str, Any]:
    out = dict(inv)
    parent = out.pop("parent", None) or {}
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    quote = (parent.get("quote_details") or {}) if isinstance(parent, dict) else {}
    out.pop("total_taxes", None)
    if "parent" in inv:
        # Tally's invoice keeps `subscription` (maybe expanded): it wins over the parent's id
        out["subscription"] = inv.get("subscription", details.get("subscription") if details else None)
        out["subscription_details"] = {"metadata": details.get("metadata")} if details else None
        out["quote"] = quote.get("quote")
    if "status" in inv:
        paid = inv["status"] == "paid"
        out["paid"] = paid
        # Tally collects no payments: a paid invoice that took money was paid out of band
        out["paid_out_of_band"] = paid and int(inv.get("amount_paid") or 0) > 0
        out.update(
            application_fee_amount=None,
            charge=None,
            discount=None,
            payment_intent=None,
            tax=None,
            total_tax_amounts=[],
        )
    return _ordered(out)


def _line(line: dict[str, Any], prices: Mapping[str, Price]) -> dict[str, Any]:
    out = dict(line)
    parent = out.pop("parent", None) or {}
    pricing = out.pop("pricing", None) or {}
    out.pop("taxes", None)
    item = parent.get("subscription_item_details") or {}
    invoice_item = parent.get("invoice_item_details") or {}
    source = item or invoice_item
    price = prices.get(_line_price(line) or "")
    out.update(
        amount_excluding_tax=line.get("amount"),
        invoice_item=source.get("invoice_item"),
        plan=present_plan(price) if price is not None and price.recurring is not None else None,
        price=present_price(price) if price is not None else None,
        proration=bool(source.get("proration")),
        proration_details=source.get("proration_details") or {"credited_items": None},
        subscription=source.get("subscription", line.get("subscription")),
        subscription_item=item.get("subscription_item"),
        tax_amounts=[],
        tax_rates=[],
        type="invoiceitem" if source.get("invoice_item") else "subscription",
        unit_amount_excluding_tax=pricing.get("unit_amount_decimal"),
    )
    return _ordered(out)


def _invoice_item(item: dict[str, Any], prices: Mapping[str, Price]) -> dict[str, Any]:
    """acacia's invoice item: `price`/`plan` (objects), `unit_amount(_decimal)`, `subscription`,
    `subscription_item`; without basil's `pricing`, `parent`, `net_amount`, `quantity_decimal`."""
    out = dict(item)
    pricing = out.pop("pricing", None) or {}
    for name in ("parent", "net_amount", "quantity_decimal", "customer_account"):
        out.pop(name, None)
    price = prices.get(_line_price(item) or "")
    unit = pricing.get("unit_amount_decimal")
    whole = unit if isinstance(unit, str) and unit.lstrip("-").isdigit() else None
    out.update(
        plan=present_plan(price) if price is not None and price.recurring is not None else None,
        price=present_price(price) if price is not None else None,
        subscription=None,
        subscription_item=None,
        unit_amount=int(whole) if whole is not None else None,
        unit_amount_decimal=unit,
    )
    return _ordered(out)


def _subscription(sub: dict[str, Any], prices: Mapping[str, Price]) -> dict[str, Any]:
    out = dict(sub)
    out["discount"] = None
    return _ordered(out)


def _top_level_period(sub: dict[str, Any]) -> dict[str, Any]:
    """The subscription with `current_period_start/end` at the top, from its first item when
    missing there (read before the items lose theirs)."""
    items = (sub.get("items") or {}).get("data") if isinstance(sub.get("items"), dict) else None
    first = items[0] if items and isinstance(items[0], dict) else {}
    missing = {
        k: first[k] for k in ("current_period_start", "current_period_end") if k not in sub and k in first
    }
    return {**sub, **missing} if missing else sub


def _item(item: dict[str, Any], prices: Mapping[str, Price]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("current_period_start", "current_period_end")}


_SHAPES: dict[str, Callable[[dict[str, Any], Mapping[str, Price]], dict[str, Any]]] = {
    "invoice": _invoice,
    "line_item": _line,
    "subscription": _subscription,
    "subscription_item": _item,
    "invoiceitem": _invoice_item,
}


def _previous(
    kind: str, before: dict[str, Any], after: Mapping[str, Any], prices: Mapping[str, Price]
) -> Any:
    """`data.previous_attributes` (a partial object of `kind`) in the legacy shape."""
    out = {k: _walk(v, prices, "") for k, v in before.items()}
    if kind == "invoice":
        out.pop("total_taxes", None)
        parent = out.pop("parent", None)
        if isinstance(parent, dict):
            details = parent.get("subscription_details") or None
            out["subscription"] = details.get("subscription") if details else None
            out["subscription_details"] = {"metadata": details.get("metadata")} if details else None
        if "status" in out and (out["status"] == "paid") != (after.get("status") == "paid"):
            out["paid"] = out["status"] == "paid"
    return out


def _walk(value: Any, prices: Mapping[str, Price], version: str) -> Any:
    if isinstance(value, list):
        return [_walk(v, prices, version) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("object")
    if kind == "subscription":
        value = _top_level_period(value)
    out = {k: _walk(v, prices, version) for k, v in value.items()}
    if kind == "event" and isinstance(value.get("data"), dict):
        data = value["data"]
        shown = data.get("object")
        if version:
            out["api_version"] = version
        if isinstance(shown, dict) and isinstance(data.get("previous_attributes"), dict):
            previous = _previous(str(shown.get("object")), data["previous_attributes"], shown, prices)
            out["data"] = {**out["data"], "previous_attributes": previous}
        return out
    shape = _SHAPES.get(kind) if isinstance(kind, str) else None
    return shape(out, prices) if shape is not None else out


def legacy(body: Any, version: str, prices: Mapping[str, Price]) -> Any:
    """`body` (an answer or an event, in Tally's shape) as an app on `version` (before basil)
    reads it; `prices`: the records of `price_ids(body)` (a price missing reads `price: null`)."""
    return _walk(body, prices, version)
