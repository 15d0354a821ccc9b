"""Pending invoice items swept onto a v2 cadence tick's invoice exactly once
(`billing.cadence_items`): the next invoice written for the customer takes them, whichever kind it
is, in the tick's own transaction. Crash points: in the transaction (nothing written, the retry
sweeps once), after it (the redelivery finds the tick billed), an item changed or taken by another
invoice between the read and the commit (the transaction is refused, the tick re-decided).

The flow is test_cadence_ticks's: the first tick bills 5.00 + 7 × 1.00 = 12.00 (1,200); items: a
15.00 setup fee (1,500) and a 3.00 credit (−300), so the tick's invoice is 1,200 + 1,500 − 300 =
2,400."""

from __future__ import annotations

import json
from typing import Any

import pytest
import support
from test_cadence_ticks import HOUR, Flow, bill, close, queued

from tally.billing import pending_items
from tally.clock import Clock
from tally.domain.records import InvoiceItem
from tally.store import objects

ITEMS = "/v1/invoiceitems"


def ok(response: support.Response) -> dict[str, Any]:
    assert response.status == 200, response.text
    return response.json


@pytest.fixture
def flow(api: support.Api) -> Flow:
    queued(api.account.id)
    return Flow(api)


def _item(flow: Flow, amount: int) -> str:
    body = {"customer": flow.customer, "amount": amount, "currency": "usd"}
    return str(ok(flow.api.post(ITEMS, body))["id"])


def _ticks(functions: support.Functions, flow: Flow) -> list[dict[str, Any]]:
    close(functions, flow.tick + HOUR + 60)
    return [r for r in queued(flow.account) if json.loads(r["body"])["kind"] == "cadence_tick"]


def _on(flow: Flow, item: str) -> str | None:
    return objects.get(flow.account, item, InvoiceItem, Clock.at(flow.tick)).invoice


def test_the_tick_sweeps_the_customers_pending_items_once(functions, flow):
    fee, credit = _item(flow, 1500), _item(flow, -300)
    # the preview shows them
    preview = ok(flow.api.post("/v1/invoices/create_preview", {"billing_cadence": flow.cadence}))
    assert preview["total"] == 2400
    records = _ticks(functions, flow)
    assert bill(functions, [*records, {**records[0], "messageId": "again"}]) == []
    (inv,) = flow.invoices()
    assert inv.total == 2400 and {ln.invoice_item for ln in inv.lines} >= {fee, credit}
    assert _on(flow, fee) == inv.id and _on(flow, credit) == inv.id
    shown = ok(flow.api.get(f"/v1/invoices/{inv.id}"))
    kinds = sorted(ln["parent"]["type"] for ln in shown["lines"]["data"])
    assert kinds == ["invoice_item_details"] * 2 + ["pricing_plan_subscription_details"] * 2
    # AND nothing is pending any more
    assert ok(flow.api.get(ITEMS, {"customer": flow.customer, "pending": "true"}))["data"] == []
    # AND the next close finalizes it with its items (the lifecycle keeps item lines as they are)
    close(functions, flow.tick + HOUR + 120)
    assert bill(functions, queued(flow.account)) == []
    (inv,) = flow.invoices()
    assert inv.status == "open" and inv.total == 2400 and len(inv.lines) == 4


def test_a_crash_in_the_tick_transaction_leaves_the_items_pending_and_the_retry_sweeps_once(functions, flow):
    fee = _item(flow, 1500)
    records = _ticks(functions, flow)
    with support.TransactionCrash(at=1):
        assert bill(functions, records) == [records[0]["messageId"]]
    assert flow.invoices() == [] and _on(flow, fee) is None
    assert bill(functions, records) == []
    (inv,) = flow.invoices()
    assert inv.total == 2700 and _on(flow, fee) == inv.id


def test_a_redelivery_after_the_transaction_sweeps_nothing_more(functions, flow):
    fee = _item(flow, 1500)
    records = _ticks(functions, flow)
    assert bill(functions, records) == []
    later = _item(flow, 200)  # pending after the tick: for the next invoice
    assert bill(functions, records) == []
    (inv,) = flow.invoices()
    assert _on(flow, fee) == inv.id and _on(flow, later) is None


def test_an_item_changed_between_the_read_and_the_commit_is_swept_as_changed(functions, flow, monkeypatch):
    fee = _item(flow, 1500)
    records = _ticks(functions, flow)
    real, done = pending_items.sweep, []

    def sweep(*args: Any, **kwargs: Any) -> Any:
        made = real(*args, **kwargs)
        if not done:
            done.append(True)
            ok(flow.api.post(f"{ITEMS}/{fee}", {"amount": 1800}))
        return made

    monkeypatch.setattr(pending_items, "sweep", sweep)
    assert bill(functions, records) == []
    (inv,) = flow.invoices()
    assert inv.total == 1200 + 1800 and _on(flow, fee) == inv.id


def test_an_item_taken_by_a_one_off_invoice_meanwhile_is_on_that_one_only(functions, flow, monkeypatch):
    # the rule: the next invoice written for the customer takes its pending items, whatever its kind
    fee = _item(flow, 1500)
    records = _ticks(functions, flow)
    real, other = pending_items.sweep, []

    def sweep(*args: Any, **kwargs: Any) -> Any:
        made = real(*args, **kwargs)
        if not other:  # (the one-off's own sweep comes through here too: mark first)
            other.append("")
            body = {"customer": flow.customer, "pending_invoice_items_behavior": "include"}
            other[0] = ok(flow.api.post("/v1/invoices", body))["id"]
        return made

    monkeypatch.setattr(pending_items, "sweep", sweep)
    assert bill(functions, records) == []
    tick = next(i for i in flow.invoices() if i.billing_cadence == flow.cadence)
    assert tick.total == 1200 and _on(flow, fee) == other[0]


def test_a_tick_without_plan_lines_still_invoices_the_pending_items(functions, api):
    queued(api.account.id)
    customer = ok(api.post("/v1/customers", {"name": "Bo"}))["id"]
    profile = ok(api.post("/v2/billing/profiles", json={"customer": customer}))["id"]
    cadence = ok(
        api.post(
            "/v2/billing/cadences",
            json={"billing_cycle": {"type": "day"}, "payer": {"billing_profile": profile}},
        )
    )
    ok(api.post(ITEMS, {"customer": customer, "amount": 900, "currency": "eur"}))
    from tally.domain.cadences import Cadence

    record = objects.get(api.account.id, cadence["id"], Cadence, Clock.at(0))
    tick = record.unbilled[1]
    preview = ok(api.post("/v1/invoices/create_preview", {"billing_cadence": cadence["id"]}))
    assert (preview["total"], preview["currency"]) == (900, "eur")
    close(functions, tick + HOUR + 60)
    records = [r for r in queued(api.account.id) if json.loads(r["body"])["kind"] == "cadence_tick"]
    assert bill(functions, records) == []
    (inv,) = ok(api.get("/v1/invoices", {"customer": customer}))["data"]
    assert (inv["total"], inv["currency"], inv["parent"]["type"]) == (900, "eur", "billing_cadence_details")
    billed = [e for e in support.stored_events(api.account.id) if e["type"] == "v2.billing.cadence.billed"]
    assert billed[0]["data"]["invoices"] == [inv["id"]]
