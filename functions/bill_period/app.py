"""Lambda entry point of the billing queue: bills each message's period (`billing.cycles`).

Each message is `{"account", "subscription", "period_end", "at"}` (bill a period), or
`{"kind": "finalize", "account", "invoice", "at"}` (advance a draft invoice whose grace period
ended: `billing.lifecycle.advance_due`), `{"kind": "expire_credit_grant", "account",
"credit_grant", "at"}` (record a grant's expiry: `billing.credit_ledger.expire_grant`), or
`{"kind": "credits", "account", "customer" | "credit_grant", "at"}` (an event that may have moved
the customer's credit balance: `billing.credit_evaluation`, at the customer's clock), or
`{"kind": "cadence_tick", "account", "cadence", "due", "at"}` (bill a v2 cadence's tick:
`billing.cadence_invoices.bill_tick`), or `{"kind": "plan_subscription_due", "account",
"subscription", "at"}` (a pricing plan subscription's due instant: its servicing events,
`billing.plan_servicing.announce`, then its service action credit grants,
`billing.service_grants.grant_due`); `at` (the close's or the event's instant) is the clock. A
message that fails is reported in `batchItemFailures`, so SQS retries only it (and moves it to the
dead-letter queue after the redrive limit); the others are deleted.
"""

from __future__ import annotations

import json
from typing import Any

from tally.billing import cadence_invoices, credit_ledger, cycles, lifecycle, plan_servicing, service_grants
from tally.clock import Clock
from tally.observability import entry_point, logger

CREDITS = "credits"  # the outbox's message kind (`tally.domain.credit_watch.reaction`)


def _bill(body: dict[str, Any]) -> cycles.Billed:
    clock = Clock.at(int(body["at"]))
    if body.get("kind") == CREDITS:  # lazy: only credit-watched customers' events need it
        from tally.billing import credit_evaluation

        # now, not the event's instant: the balance is read as it stands (a customer on a test
        # clock is evaluated at its frozen time all the same)
        account, customer, grant = str(body["account"]), body.get("customer"), body.get("credit_grant")
        credit_evaluation.react(account, customer, Clock.system(), credit_grant=grant)
        return cycles.Billed(CREDITS, None)
    if body.get("kind") == cycles.FINALIZE:  # a draft whose grace period ended
        outcome, invoice = lifecycle.advance_due(str(body["account"]), str(body["invoice"]), clock)
        return cycles.Billed(outcome, invoice)
    if body.get("kind") == cycles.EXPIRE:  # a credit grant whose expires_at passed
        written = credit_ledger.expire_grant(str(body["account"]), str(body["credit_grant"]), clock)
        return cycles.Billed("expired" if written else "already_expired")
    if body.get("kind") == cycles.PLAN_DUE:  # a v2 subscription's servicing instant or grants due
        account, sub = str(body["account"]), str(body["subscription"])
        done = plan_servicing.announce(account, sub, clock)  # first: a grant never precedes activation
        made = service_grants.grant_due(account, sub, clock)
        return cycles.Billed(f"{done.outcome}, {'granted' if made else 'no grant due'}")
    if body.get("kind") == cycles.TICK:  # a v2 cadence's tick (`billing.cadence_invoices`)
        ticked = cadence_invoices.bill_tick(
            str(body["account"]), str(body["cadence"]), int(body["due"]), clock
        )
        return cycles.Billed(ticked.outcome, ticked.invoice)
    return cycles.bill_period(str(body["account"]), str(body["subscription"]), int(body["period_end"]), clock)


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with cycles.one_watermark():  # the batch's usage reads share one catch-up of the usage stream
        return _handle(event)


def _handle(event: dict[str, Any]) -> dict[str, Any]:
    failures = []
    for record in event.get("Records", []):
        try:
            body = json.loads(record["body"])
            billed = _bill(body)
        except Exception:  # any failure: this message only is retried
            logger.exception("billing a period failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        logger.info(
            "invoice finalized" if body.get("kind") == cycles.FINALIZE else "period closed",
            extra={
                "account": body["account"],
                "subscription": body.get("subscription"),
                "period_end": body.get("period_end"),
                "outcome": billed.outcome,
                "invoice": billed.invoice.id if billed.invoice else None,
                "total": billed.invoice.total if billed.invoice else None,
            },
        )
    return {"batchItemFailures": failures}
