"""Regenerate tests/data/stripe-fields.json: which fields of Stripe's objects are required, optional
(may be absent) and nullable (may be null), from the TypeScript types of Stripe's Node SDK.

stripe-python marks a field `Optional[...]` both when Stripe may send null and when Stripe may
leave it out (`SubscriptionItem.quantity: Optional[int]`), so it cannot tell `"quantity": null`
(which breaks Stripe .NET's `long Quantity`) from an absent `quantity`. The Node SDK's types can:
`quantity?: number` (optional, never null) vs `billing_thresholds: ... | null` (nullable).

Run by hand when Stripe's API moves (tests never run it and need no network):

    npm pack stripe && tar xzf stripe-*.tgz
    python tests/data/stripe_fields.py package/esm/resources > tests/data/stripe-fields.json

Each flag: "required" (always present, never null), "nullable" (always present, may be null),
"optional" (may be absent, never null), "optional_nullable" (may be absent or null).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# The resources Tally serves (file under resources/ → the interfaces kept from it).
FILES = {
    "Customers.d.ts": "Customer",
    "CustomerBalanceTransactions.d.ts": "CustomerBalanceTransaction",
    "Products.d.ts": "Product",
    "Prices.d.ts": "Price",
    "Plans.d.ts": "Plan",
    "Subscriptions.d.ts": "Subscription",
    "SubscriptionItems.d.ts": "SubscriptionItem",
    "Invoices.d.ts": "Invoice",
    "InvoiceLineItems.d.ts": "InvoiceLineItem",
    "InvoiceItems.d.ts": "InvoiceItem",  # oneoff: written by hand from Stripe's API reference
    "Events.d.ts": "Event",
    "Billing/Alerts.d.ts": "Alert",
    "Billing/AlertTriggereds.d.ts": "AlertTriggered",
    "Billing/Meters.d.ts": "Meter",
    "Billing/MeterEvents.d.ts": "MeterEvent",
    "Billing/CreditGrants.d.ts": "CreditGrant",
    "Billing/CreditBalanceSummary.d.ts": "CreditBalanceSummary",
    "Billing/CreditBalanceTransactions.d.ts": "CreditBalanceTransaction",
    "Billing/MeterEventSummaries.d.ts": "MeterEventSummary",
    "Billing/MeterEventAdjustments.d.ts": "MeterEventAdjustment",
    "V2/Billing/MeterEventSession.d.ts": "MeterEventSession",
    "V2/Billing/MeterEvents.d.ts": "MeterEvent",
    "V2/Billing/MeterEventAdjustments.d.ts": "MeterEventAdjustment",
    "WebhookEndpoints.d.ts": "WebhookEndpoint",
}
KEYS = {
    "Alert",
    "CreditGrant",
    "CreditBalanceSummary",
    "CreditBalanceTransaction",
    "AlertTriggered",
    "Meter",
    "MeterEvent",
    "MeterEventSummary",
    "MeterEventAdjustment",
    "MeterEventSession",
}
ALIASES = {"EventBase": "Event"}  # Node types an event's common fields as `EventBase`
PREFIX = {"Billing/": "billing.", "V2/Billing/": "v2.billing."}

_OPEN = re.compile(r"^\s*(?:export\s+)?(?:declare\s+)?(interface|namespace|class)\s+(\w+)[^{]*\{\s*$")
_FIELD = re.compile(r"^\s*(\w+)(\??):\s*(.*?);?\s*$")


def parse(text: str) -> dict[str, dict[str, str]]:
    """Every `interface` (by dotted path through its namespaces) → {field: flag}."""
    out: dict[str, dict[str, str]] = {}
    stack: list[tuple[str, str]] = []  # (kind, name); ("", "") for other braces
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(("/*", "*", "//")) or not line:
            continue
        if pending:
            pending += " " + line
            if pending.count("{") > pending.count("}") or not pending.endswith(";"):
                continue
            line, pending = pending, ""
        opened = _OPEN.match(raw)
        if opened:
            stack.append((opened.group(1), opened.group(2)))
            continue
        if line == "}" or line == "};":
            if stack:
                stack.pop()
            continue
        if stack and stack[-1][0] == "interface":
            field = _FIELD.match(line)
            if field is None:
                continue
            if field.group(3).count("{") > field.group(3).count("}"):
                pending = line
                continue
            name, optional, kind = field.groups()
            nullable = re.search(r"\|\s*null\b|\bnull\s*\|", kind) is not None
            flag = (
                ("optional" if optional else "required")
                if not nullable
                else ("optional_nullable" if optional else "nullable")
            )
            path = ".".join(n for k, n in stack if k in ("interface", "namespace"))
            out.setdefault(path, {})[name] = flag
    return out


def main(resources: Path) -> dict[str, dict[str, str]]:
    fields: dict[str, dict[str, str]] = {}
    for name, root in FILES.items():
        prefix = next((p for d, p in PREFIX.items() if name.startswith(d) and root in KEYS), "")
        parsed = parse((resources / name).read_text())
        for path, flags in parsed.items():
            path = ALIASES.get(path, path)
            if path == root or path.startswith(root + "."):
                fields[prefix + path] = dict(sorted(flags.items()))
    return dict(sorted(fields.items()))


if __name__ == "__main__":
    json.dump(main(Path(sys.argv[1])), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
