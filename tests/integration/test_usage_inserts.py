"""A batch's events are written as PartiQL INSERTs, 25 to a BatchExecuteStatement (issue 15 point 5):
each its own conditional write at 1 write unit, 4 requests for 100 events instead of 100 Puts.

What must not change: first write wins (a taken identifier is a duplicate answered with the
standing event), an expired event is replaced (the Put's rule, which a taken INSERT falls back to),
a busy statement is retried alone, and a crash anywhere then a retry counts each event once
(test_meter_event_retries.py tries every boundary through the API)."""

from __future__ import annotations

import time

import pytest
import support

from tally.domain.aggregation import HOUR, Formula
from tally.domain.records import Meter, MeterEvent
from tally.settings import settings
from tally.store import usage
from tally.store.aws import dynamodb
from tally.store.usage import actions, write
from tally.store.usage.keys import EVENT_KEEP_SECONDS, event_key

NOW = int(time.time())
BASE = NOW // HOUR * HOUR - 5 * HOUR


def _meter(meter_id: str) -> Meter:
    return support.usage_meter(meter_id)


def _ev(ident: str, value: int, ts: int, meter_id: str, created: int = NOW) -> MeterEvent:
    return MeterEvent(ident, "e", meter_id, "cus_i", value, ts, {"value": str(value)}, created)


def _total(account: str, meter_id: str) -> int:
    return usage.aggregate(account, _meter(meter_id), "cus_i", BASE, BASE + 5 * HOUR)


def _counting(monkeypatch) -> list[str]:
    """The usage store's write requests, by operation, while the test runs."""
    seen: list[str] = []
    real = write.dynamodb

    class Client:
        def __getattr__(self, name):
            method = getattr(real(), name)

            def call(**kwargs):
                seen.append(name)
                return method(**kwargs)

            return call

    monkeypatch.setattr(write, "dynamodb", lambda: Client())
    return seen


def test_a_batch_of_100_is_four_requests_at_one_unit_per_event(moto_tables, monkeypatch):
    # GIVEN 100 new events over three hours
    account = "acct_ins100"
    events = [_ev(f"n{i}", i + 1, BASE + (i % 3) * HOUR + i, "mtr_i100") for i in range(100)]
    seen = _counting(monkeypatch)
    before = usage.STATS.write_units
    # WHEN they are recorded
    outcome = usage.record(account, Formula.SUM, 1, events, now=NOW)
    # THEN all are stored by 4 BatchExecuteStatements (25 INSERTs each) at 1 write unit each
    assert len(outcome.stored) == 100 and not outcome.duplicates
    assert seen == ["batch_execute_statement"] * 4
    assert usage.STATS.write_units - before == 100
    # AND each counts once
    monkeypatch.undo()
    assert _total(account, "mtr_i100") == sum(range(1, 101))


def test_taken_identifiers_are_duplicates_answered_with_the_standing_event(moto_tables):
    # GIVEN 10 events stored, 5 of them expired (past their dedupe window, not yet deleted by TTL)
    account = "acct_instaken"
    old = NOW - EVENT_KEEP_SECONDS - 60
    usage.record(account, Formula.SUM, 1, [_ev(f"t{i}", 1000, BASE + i, "mtr_it") for i in range(5)], now=NOW)
    usage.record(
        account, Formula.SUM, 1, [_ev(f"t{i}", 1000, BASE + i, "mtr_it", old) for i in range(5, 10)], now=old
    )
    assert _total(account, "mtr_it") == 10_000
    # WHEN a batch names all ten again (other values) and five new ones, with one repeated inside it
    again = [_ev(f"t{i}", 7, BASE + 100 + i, "mtr_it") for i in range(15)] + [_ev("t12", 9, BASE, "mtr_it")]
    outcome = usage.record(account, Formula.SUM, 1, again, now=NOW)
    # THEN the five live ones are duplicates answered with their standing event (value 1000) …
    standing = {e.identifier: s.value for e, s in outcome.duplicates}
    assert standing == {"t0": 1000, "t1": 1000, "t2": 1000, "t3": 1000, "t4": 1000, "t12": 7}
    # … the expired five are replaced (the Put's rule) and the five new ones stored
    assert sorted(e.identifier for e in outcome.stored) == sorted(f"t{i}" for i in range(5, 15))
    # AND the total counts every stored event once: 10 × 1000 + 10 × 7
    assert _total(account, "mtr_it") == 10_000 + 70


def test_busy_statements_are_retried_alone_and_count_once(moto_tables, monkeypatch):
    # GIVEN DynamoDB answering the first BatchExecuteStatement with every third statement throttled
    # (those are not written; the others are)
    account = "acct_insbusy"
    events = [_ev(f"b{i}", 1, BASE + i, "mtr_ib") for i in range(30)]
    real = write.dynamodb
    calls = {"n": 0}

    class Throttling:
        def batch_execute_statement(self, Statements):
            calls["n"] += 1
            if calls["n"] > 1:
                return real().batch_execute_statement(Statements=Statements)
            kept = [s for i, s in enumerate(Statements) if i % 3]
            answer = iter(real().batch_execute_statement(Statements=kept)["Responses"])
            busy = {"Error": {"Code": "ThrottlingError", "Message": "slow down"}}
            return {"Responses": [next(answer) if i % 3 else busy for i in range(len(Statements))]}

        def __getattr__(self, name):
            return getattr(real(), name)

    monkeypatch.setattr(write, "dynamodb", lambda: Throttling())
    monkeypatch.setattr(write.time, "sleep", lambda s: None)
    # WHEN the batch is recorded
    outcome = usage.record(account, Formula.SUM, 1, events, now=NOW)
    monkeypatch.undo()
    # THEN every event is stored, none reported as a duplicate, and each counts once
    assert len(outcome.stored) == 30 and not outcome.duplicates
    assert calls["n"] == 3  # 25 + 5 statements, then the 9 throttled of the first 25 again
    assert _total(account, "mtr_ib") == 30


def test_a_store_that_stays_busy_is_a_retryable_conflict_and_a_retry_counts_once(moto_tables, monkeypatch):
    # GIVEN every statement of the second request throttled until the request gives up
    account = "acct_insconf"
    events = [_ev(f"c{i}", 2, BASE + i, "mtr_ic") for i in range(60)]
    real = write.transact
    calls = {"n": 0}

    def busy_from_second(actions_, units):
        calls["n"] += 1
        if calls["n"] >= 2:
            return ["ThrottlingError"] * len(actions_)
        return real(actions_, units)

    monkeypatch.setattr(write, "transact", busy_from_second)
    monkeypatch.setattr(write.time, "sleep", lambda s: None)
    from tally.errors import Conflict

    with pytest.raises(Conflict):
        usage.record(account, Formula.SUM, 1, events, now=NOW)
    monkeypatch.undo()
    # WHEN the client retries THEN the first 25 (stored) are duplicates and the total is exact
    outcome = usage.record(account, Formula.SUM, 1, events, now=NOW)
    assert len(outcome.duplicates) == 25 and len(outcome.stored) == 35
    assert _total(account, "mtr_ic") == 120


def test_the_insert_writes_exactly_the_put_item(moto_tables):
    # GIVEN an event's Put WHEN it is sent as an INSERT instead THEN the stored item is the Put's item
    e = _ev("same", 5, BASE, "mtr_same")
    put, _ = actions.event_put("acct_same", e, "acct_same#usage#mtr_same#cus_i#0", NOW, Formula.SUM)
    insert = actions.event_insert(put)
    answer = dynamodb().batch_execute_statement(Statements=[insert["Insert"]])
    assert "Error" not in answer["Responses"][0]
    key = event_key("acct_same", "same")
    stored = dynamodb().get_item(TableName=settings().usage_table, Key=key, ConsistentRead=True)["Item"]
    assert stored == put["Put"]["Item"]
    # AND the same INSERT again is refused as DuplicateItem, leaving the item as it was
    again = dynamodb().batch_execute_statement(Statements=[insert["Insert"]])
    assert again["Responses"][0]["Error"]["Code"] == "DuplicateItem"
    after = dynamodb().get_item(TableName=settings().usage_table, Key=key, ConsistentRead=True)["Item"]
    assert after == stored


def test_quotes_and_placeholders_in_an_event_are_values_never_statement_text(moto_tables):
    # GIVEN events whose identifier and payload hold PartiQL's own syntax (every value is a
    # parameter; only attribute names Tally chose are in the statement)
    account = "acct_insquote"
    hostile = ["a'b", 'c"d', "e?f", "g}h{", "i', 'pk': ?, 'j"]
    events = [
        MeterEvent(
            f"q{i}{text}", "e", "mtr_iq", "cus_i", i + 1, BASE + i, {"value": str(i + 1), "note": text}, NOW
        )
        for i, text in enumerate(hostile)
    ]
    # WHEN they are recorded as one batch
    outcome = usage.record(account, Formula.SUM, 1, events, now=NOW)
    # THEN each is stored with exactly its identifier and payload, and counted once
    assert len(outcome.stored) == len(hostile)
    from tally.store.usage import duplicates

    standing = duplicates.standing(account, [e.identifier for e in events])
    assert {k: v.payload["note"] for k, v in standing.items()} == {
        e.identifier: e.payload["note"] for e in events
    }
    assert _total(account, "mtr_iq") == sum(range(1, len(hostile) + 1))


def test_a_request_writes_all_its_meters_events_together_and_an_identifier_is_one_event(
    moto_tables, monkeypatch
):
    # GIVEN 100 events over three meters (34 / 33 / 33), the last one repeating the first's
    # identifier on another meter
    account = "acct_insgroups"
    meters = ["mtr_ga", "mtr_gb", "mtr_gc"]
    events = {m: [] for m in meters}
    for i in range(100):
        m = meters[i % 3]
        events[m].append(_ev("g0" if i == 99 else f"g{i}", i + 1, BASE + i, m))
    groups = [usage.Group(Formula.SUM, 1, events[m]) for m in meters]
    seen = _counting(monkeypatch)
    # WHEN the request's groups are recorded
    outcome = usage.record_groups(account, groups, now=NOW)
    # THEN they share 4 BatchExecuteStatements (25 INSERTs each, not 25 per meter)
    assert seen == ["batch_execute_statement"] * 4
    # AND the repeated identifier is a duplicate of its first occurrence (meter a, value 1)
    assert [(e.identifier, e.meter_id, s.meter_id, s.value) for e, s in outcome.duplicates] == [
        ("g0", "mtr_ga", "mtr_ga", 1)
    ]
    monkeypatch.undo()
    assert len(outcome.stored) == 99
    assert _total(account, "mtr_ga") == sum(i + 1 for i in range(0, 99, 3))
    assert _total(account, "mtr_gb") == sum(i + 1 for i in range(1, 99, 3))
    assert _total(account, "mtr_gc") == sum(i + 1 for i in range(2, 99, 3))
