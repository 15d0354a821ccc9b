"""Partial periods of billing intents (issue 14 points 3 and 6; point 8's second scenario): a rate
change makes a rate card version, a license fee version and a plan version; an existing subscriber
keeps the old prices until a `modify` intent moves it in the middle of a service interval. On a
test clock, every invoice before and after is exact, totals by hand: the license fee is prorated
to the second (credit of the old fee's unused part, debit of the new fee's remaining part), rate
card usage is priced at the old rates before the modify and at the new rates after it, and each
line names its plan version and span. A deactivate mid-interval credits nothing by default and
the unused part when asked; `none` behaviours prorate nothing."""

from __future__ import annotations

from typing import Any

import support
from test_cadence_invoices import World, lines, ok, ts

HOUR = 3600
PLANS = "/v2/billing/pricing_plans"
JAN, JAN_16, FEB, MAR = ts(2026, 1, 1), ts(2026, 1, 16), ts(2026, 2, 1), ts(2026, 3, 1)
RATE, FEE = "rate_card_rate_details", "license_fee_details"


class Migration:
    """Plan version 1: model calls at 1.00 each (monthly rate card) and a 20.00 monthly license
    fee; one subscriber on it since January 1 (January's fee collected at commit)."""

    def __init__(self, api: support.Api, functions: support.Functions, event: str) -> None:
        self.api, self.event = api, event
        self.w = World(api, functions, JAN, {"type": "month", "month": {"day_of_month": 1}})
        self.item = self.w.metered_item(event)
        self.card = self.w.rate_card("month", 1, [{"metered_item": self.item, "unit_amount": "100"}])
        self.fee = self.w.license_fee("month", 1, "2000")
        self.card_component = self.w.component("rate_card", self.card["id"])
        self.fee_component = self.w.component("license_fee", self.fee)
        self.v1 = self.w.go_live()
        self.sub = self.w.subscribe()

    def rate_change(self) -> str:
        """Model calls go to 1.50 (a rate card version) and the fee to 50.00 (a license fee
        version); the plan pins both in a new version, made live. Returns that version."""
        api, card = self.api, self.card["id"]
        changed = ok(
            api.post(
                f"/v2/billing/rate_cards/{card}/modify_rates",
                json={"rates_to_create": [{"metered_item": self.item, "unit_amount": "150"}]},
            )
        )
        ok(api.post(f"/v2/billing/license_fees/{self.fee}", json={"unit_amount": "5000"}))
        fee_version = ok(api.get(f"/v2/billing/license_fees/{self.fee}/versions"))["data"][0]["id"]
        for component in (self.card_component, self.fee_component):
            ok(api.delete(f"{PLANS}/{self.w.plan}/components/{component['id']}"))
        self.w.component("rate_card", card, changed["id"])
        self.w.component("license_fee", self.fee, fee_version)
        return self.w.go_live()

    def modify(self, version: str, at: str, overrides: list[dict] | None = None) -> None:
        details: dict[str, Any] = {"pricing_plan_subscription": self.sub, "new_pricing_plan_version": version}
        if overrides is not None:
            details["overrides"] = {"partial_period_behaviors": overrides}
        self.w.intent(
            {
                "type": "modify",
                "modify": {
                    "type": "pricing_plan_subscription_details",
                    "pricing_plan_subscription_details": details,
                    "effective_at": {"type": "timestamp", "timestamp": at},
                },
            }
        )

    def version_of_sub(self) -> str:
        return ok(self.api.get(f"/v2/billing/pricing_plan_subscriptions/{self.sub}"))["pricing_plan_version"]


def _preview(api: support.Api, cadence: str) -> dict:
    return ok(api.post("/v1/invoices/create_preview", {"billing_cadence": cadence}))


def test_a_rate_change_waits_for_a_mid_interval_modify_that_prorates_and_splits_usage(api, functions):
    # GIVEN a subscriber on version 1 since January 1, 10 calls on January 10
    m = Migration(api, functions, "migrate_calls")
    w = m.w
    w.advance(ts(2026, 1, 12))
    w.use("migrate_calls", 10, ts(2026, 1, 10))
    # WHEN the prices change (version 2 made live)
    v2 = m.rate_change()
    assert v2 != m.v1
    # THEN the existing subscriber keeps version 1: the next tick would bill its calls at 1.00
    assert m.version_of_sub() == m.v1
    before = _preview(api, w.cadence)
    assert lines(before) == [(JAN, FEB, RATE, 10, 1000)] and before["total"] == 1000
    # WHEN a modify intent moves it to version 2 on January 16, 00:00 (mid-interval; the
    # partial-period behaviours left to their defaults: prorated credit and debit)
    m.modify(v2, "2026-01-16T00:00:00.000Z")
    assert m.version_of_sub() == m.v1  # not yet effective at the clock's January 12
    w.advance(ts(2026, 1, 25))
    assert m.version_of_sub() == v2
    w.use("migrate_calls", 10, ts(2026, 1, 20))
    # the preview of the next tick already shows the split usage and the prorations (below)
    assert _preview(api, w.cadence)["total"] == 4049
    w.advance(FEB + 2 * HOUR)
    # THEN February 1's invoice, by hand (January: 31 days, 16 of them left after the modify):
    #   10 calls before the modify at 1.00 (version 1)                       1,000
    #   10 calls after it at 1.50 (version 2)                                1,500
    #   unused time on the 20.00 fee: 2,000 × 16/31 = 1,032.26 → credit     −1,032
    #   remaining time on the 50.00 fee: 5,000 × 16/31 = 2,580.65 → debit    2,581
    #                                                                        4,049
    commit, feb = w.invoices()
    assert commit["total"] == 2000  # January's fee, collected when the subscribe committed
    assert sorted(lines(feb)) == sorted(
        [
            (JAN, JAN_16, RATE, 10, 1000),
            (JAN_16, FEB, RATE, 10, 1500),
            (JAN_16, FEB, FEE, 1, -1032),
            (JAN_16, FEB, FEE, 1, 2581),
        ]
    )
    assert feb["total"] == 4049 and feb["status"] != "draft"
    # each line names the version that priced it, and what it prices
    by_amount = {ln["amount"]: ln for ln in feb["lines"]["data"]}

    def version(amount: int) -> str:
        return by_amount[amount]["parent"]["pricing_plan_subscription_details"]["pricing_plan_version"]

    assert (version(1000), version(-1032)) == (m.v1, m.v1)
    assert (version(1500), version(2581)) == (v2, v2)
    assert by_amount[1000]["description"] == (
        f"10 × migrate_calls (1 Jan 2026 – 16 Jan 2026, plan version {m.v1})"
    )
    assert by_amount[1500]["description"] == (
        f"10 × migrate_calls (16 Jan 2026 – 1 Feb 2026, plan version {v2})"
    )
    assert by_amount[-1032]["description"] == "Unused time on 1 × Platform fee after 16 Jan 2026"
    assert by_amount[2581]["description"] == "Remaining time on 1 × Platform fee after 16 Jan 2026"
    fee_versions = {
        by_amount[a]["pricing"]["license_fee_details"]["license_fee_version"] for a in (-1032, 2581)
    }
    assert len(fee_versions) == 2  # the old fee version credited, the new one debited
    assert by_amount[1000]["pricing"]["unit_amount_decimal"] == "100"
    assert by_amount[1500]["pricing"]["unit_amount_decimal"] == "150"
    # AND March 1's invoice is all version 2: February's fee in advance, February's 4 calls at 1.50
    w.advance(ts(2026, 2, 12))
    w.use("migrate_calls", 4, ts(2026, 2, 10))
    w.advance(MAR + 2 * HOUR)
    *_, mar = w.invoices()
    assert sorted(lines(mar)) == sorted([(FEB, MAR, FEE, 1, 5000), (FEB, MAR, RATE, 4, 600)])
    assert mar["total"] == 5600
    assert {
        ln["parent"]["pricing_plan_subscription_details"]["pricing_plan_version"]
        for ln in mar["lines"]["data"]
    } == {v2}


def test_none_behaviours_prorate_nothing_and_usage_still_splits(api, functions):
    # GIVEN the same migration, its modify asking for no credit and no debit
    m = Migration(api, functions, "none_calls")
    w = m.w
    w.advance(ts(2026, 1, 12))
    w.use("none_calls", 10, ts(2026, 1, 10))
    v2 = m.rate_change()
    behaviours = [
        {
            "type": "license_fee",
            "license_fee": {"credit_proration_behavior": "none", "debit_proration_behavior": "none"},
        }
    ]
    m.modify(v2, "2026-01-16T00:00:00.000Z", behaviours)
    w.advance(ts(2026, 1, 25))
    w.use("none_calls", 10, ts(2026, 1, 20))
    w.advance(FEB + 2 * HOUR)
    # THEN no proration line: January's fee stays as billed; the new fee starts with February
    _, feb = w.invoices()
    assert sorted(lines(feb)) == [(JAN, JAN_16, RATE, 10, 1000), (JAN_16, FEB, RATE, 10, 1500)]
    assert feb["total"] == 2500


def test_a_modify_changing_nothing_priced_prorates_nothing_and_keeps_the_interval_whole(api, functions):
    # GIVEN a subscriber, and a modify on January 16 to the same version (quantities unchanged)
    m = Migration(api, functions, "same_calls")
    w = m.w
    w.advance(ts(2026, 1, 12))
    w.use("same_calls", 10, ts(2026, 1, 10))
    m.modify(m.v1, "2026-01-16T00:00:00.000Z")
    w.advance(ts(2026, 1, 25))
    w.use("same_calls", 10, ts(2026, 1, 20))
    w.advance(FEB + 2 * HOUR)
    # THEN one rate line over the whole interval (the rates did not change), no proration
    _, feb = w.invoices()
    assert lines(feb) == [(JAN, FEB, RATE, 20, 2000)]


def _deactivate(m: Migration, at: str, credit: str | None) -> None:
    details: dict[str, Any] = {"pricing_plan_subscription": m.sub}
    if credit is not None:
        details["overrides"] = {
            "partial_period_behaviors": [
                {"type": "license_fee", "license_fee": {"credit_proration_behavior": credit}}
            ]
        }
    m.w.intent(
        {
            "type": "deactivate",
            "deactivate": {
                "type": "pricing_plan_subscription_details",
                "pricing_plan_subscription_details": details,
                "effective_at": {"type": "timestamp", "timestamp": at},
            },
        }
    )


def test_a_deactivate_mid_interval_credits_the_unused_fee_only_when_asked(api, functions):
    # GIVEN two subscribers canceled on January 16: one by default (no credit), one prorated
    plain, prorated = Migration(api, functions, "quit_a"), Migration(api, functions, "quit_b")
    for m, credit in ((plain, None), (prorated, "prorated")):
        m.w.advance(ts(2026, 1, 12))
        m.w.use(m.event, 10, ts(2026, 1, 10))
        _deactivate(m, "2026-01-16T00:00:00.000Z", credit)
        m.w.use(m.event, 10, ts(2026, 1, 11))
        m.w.advance(FEB + 2 * HOUR)
    # THEN both bill January 1–16's usage (the last interval ends at the cancel); only the second
    # credits the fee's unused 16 of 31 days: −2,000 × 16/31 = −1,032
    _, feb_plain = plain.w.invoices()
    _, feb_prorated = prorated.w.invoices()
    assert lines(feb_plain) == [(JAN, JAN_16, RATE, 20, 2000)]
    assert sorted(lines(feb_prorated)) == [(JAN, JAN_16, RATE, 20, 2000), (JAN_16, FEB, FEE, 1, -1032)]
    assert feb_prorated["total"] == 968
    credit = next(ln for ln in feb_prorated["lines"]["data"] if ln["amount"] < 0)
    assert credit["description"] == "Unused time on 1 × Platform fee after 16 Jan 2026"


def test_overrides_are_shown_on_actions_and_the_grant_behaviour_is_kept_per_segment(api, functions):
    from tally.billing import plan_subscriptions
    from tally.clock import Clock
    from tally.domain import partial_periods

    # GIVEN a subscribe asking for no credits in partial intervals, then a modify left to defaults
    w = World(api, functions, JAN, {"type": "month", "month": {"day_of_month": 1}})
    w.component("license_fee", w.license_fee("month", 1, "2000"))
    v1 = w.go_live()
    none = [{"type": "recurring_credit_grant", "recurring_credit_grant": {"create_behavior": "none"}}]
    sub = w.subscribe(
        pricing_plan_subscription_details={
            "pricing_plan": w.plan,
            "overrides": {"partial_period_behaviors": none},
        }
    )
    intents = ok(api.get("/v2/billing/intents"))["data"]
    action = ok(api.get(f"/v2/billing/intents/{intents[0]['id']}/actions"))["data"][0]
    # THEN the action shows every behaviour in force (given or defaulted)
    assert action["subscribe"]["pricing_plan_subscription_details"]["overrides"] == {
        "partial_period_behaviors": [
            {"type": "license_fee", "license_fee": {"debit_proration_behavior": "prorated"}},
            {"type": "recurring_credit_grant", "recurring_credit_grant": {"create_behavior": "none"}},
        ]
    }
    w.advance(ts(2026, 1, 12))
    w.intent(
        {
            "type": "modify",
            "modify": {
                "type": "pricing_plan_subscription_details",
                "pricing_plan_subscription_details": {
                    "pricing_plan_subscription": sub,
                    "new_pricing_plan_version": v1,
                },
                "effective_at": {"type": "timestamp", "timestamp": "2026-01-16T00:00:00.000Z"},
            },
        }
    )
    # AND the subscription's segments keep their create_behavior for service-action grants
    stored = plan_subscriptions.retrieve(api.account.id, sub, Clock(JAN))
    assert partial_periods.grant_create_behavior(stored, JAN) == "none"
    assert partial_periods.grant_create_behavior(stored, JAN_16) == "full_credits"


def test_collect_at_on_effective_at_invoices_the_prorations_at_commit_and_no_tick_again(api, functions):
    # GIVEN the migration, the clock at January 16 00:00, 10 calls on January 10
    m = Migration(api, functions, "collect_calls")
    w = m.w
    w.advance(ts(2026, 1, 12))
    w.use("collect_calls", 10, ts(2026, 1, 10))
    v2 = m.rate_change()
    w.advance(JAN_16)
    # WHEN a modify effective on reserve (now) collects on its effective date
    intent = ok(
        api.post(
            "/v2/billing/intents",
            json={
                "currency": "usd",
                "cadence": w.cadence,
                "actions": [
                    {
                        "type": "modify",
                        "modify": {
                            "type": "pricing_plan_subscription_details",
                            "collect_at": "on_effective_at",
                            "pricing_plan_subscription_details": {
                                "pricing_plan_subscription": m.sub,
                                "new_pricing_plan_version": v2,
                            },
                        },
                    }
                ],
            },
        )
    )
    reserved = ok(api.post(f"/v2/billing/intents/{intent['id']}/reserve", json={}))
    # THEN the reserve shows what the commit collects: 2,581 − 1,032 = 1,549
    assert reserved["amount_details"]["amount_due"] == "1549"
    ok(api.post(f"/v2/billing/intents/{intent['id']}/commit", json={}))
    _, update = w.invoices()
    assert update["billing_reason"] == "subscription_update"
    assert sorted(lines(update)) == [(JAN_16, FEB, FEE, 1, -1032), (JAN_16, FEB, FEE, 1, 2581)]
    # AND February 1's tick bills the split usage only: the prorations are not billed twice
    w.advance(ts(2026, 1, 20))
    w.use("collect_calls", 10, ts(2026, 1, 18))
    w.advance(FEB + 2 * HOUR)
    *_, feb = w.invoices()
    assert sorted(lines(feb)) == [(JAN, JAN_16, RATE, 10, 1000), (JAN_16, FEB, RATE, 10, 1500)]
    assert feb["total"] == 2500


def test_a_deactivate_effective_now_credits_at_commit_into_the_customer_balance(api, functions):
    # GIVEN a subscriber, the clock at January 16
    m = Migration(api, functions, "quit_now")
    w = m.w
    w.advance(JAN_16)
    # WHEN it is deactivated now with a prorated credit (deactivate collects on its effective date)
    behaviours = [{"type": "license_fee", "license_fee": {"credit_proration_behavior": "prorated"}}]
    intent = ok(
        api.post(
            "/v2/billing/intents",
            json={
                "currency": "usd",
                "cadence": w.cadence,
                "actions": [
                    {
                        "type": "deactivate",
                        "deactivate": {
                            "type": "pricing_plan_subscription_details",
                            "pricing_plan_subscription_details": {
                                "pricing_plan_subscription": m.sub,
                                "overrides": {"partial_period_behaviors": behaviours},
                            },
                        },
                    }
                ],
            },
        )
    )
    reserved = ok(api.post(f"/v2/billing/intents/{intent['id']}/reserve", json={}))
    assert reserved["amount_details"]["amount_due"] == "0"  # nothing to charge: a credit
    assert reserved["amount_details"]["subtotal"] == "-1032"
    ok(api.post(f"/v2/billing/intents/{intent['id']}/commit", json={}))
    w.advance(ts(2026, 1, 16, 2))  # the close finalizes the commit's invoice
    # THEN the credit invoice finalizes into the customer's balance (−10.32), and February 1
    # bills nothing more (no usage, the credit already given)
    _, credit = w.invoices()
    assert lines(credit) == [(JAN_16, FEB, FEE, 1, -1032)] and credit["status"] != "draft"
    assert ok(api.get(f"/v1/customers/{w.customer}"))["balance"] == -1032
    w.advance(FEB + 2 * HOUR)
    assert len(w.invoices()) == 2
