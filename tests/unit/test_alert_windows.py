"""What "usage" means for an alert (`tally.domain.alerts.window`), by hand-computed cases."""

from __future__ import annotations

import pytest

from tally.domain import alerts as rules
from tally.domain.records import Alert, UsageThreshold

P_START, P_END = 1_700_000_000 - 1_700_000_000 % 3600, 1_700_000_000 - 1_700_000_000 % 3600 + 30 * 86400


def _alert(created: int, recurrence: str = "one_time") -> Alert:
    return Alert("alrt_1", created, False, "t", usage_threshold=UsageThreshold("mtr_1", 100, recurrence))


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        (P_START - 86400, P_START),  # created before the period: the whole period counts
        (P_START + 60, P_START + 60),  # created on a minute: from that minute
        (P_START + 61, P_START + 61),  # created inside a minute: from that second
    ],
)
def test_with_a_subscription_usage_counts_from_the_later_of_period_start_and_creation(created, expected):
    w = rules.window(_alert(created), (P_START, P_END), now=P_START + 3600)
    assert (w.start, w.end, w.key) == (expected, P_END, "once")


def test_per_period_keys_its_trigger_by_the_period_start():
    assert rules.window(_alert(0, "per_period"), (P_START, P_END), now=P_START).key == str(P_START)


def test_without_a_subscription_usage_counts_from_creation_and_reaches_past_now():
    # now + 10 minutes (events may be 5 minutes ahead), aligned, plus the minute it starts
    w = rules.window(_alert(P_START + 30), None, now=P_START + 7200 + 15)
    assert (w.start, w.end, w.key) == (P_START + 30, P_START + 7200 + 600 + 60, "once")
    assert rules.window(_alert(P_START, "per_period"), None, now=P_START).key == "nosub"


def test_an_alert_created_after_the_period_end_has_an_empty_window():
    assert rules.window(_alert(P_END + 5), (P_START, P_END), now=P_END - 1).empty


def test_crossing_is_reaching_gte():
    alert = _alert(0)
    assert [rules.crossed(alert, u) for u in (99, 100, 101)] == [False, True, True]


def test_the_trigger_claim_names_alert_customer_and_key():
    assert rules.trigger_value("alrt_1", "cus_1", "once") == "alrt_1#cus_1#once"


def test_an_empty_watch_is_idle():
    assert rules.Watch().idle
    assert not rules.Watch(customer_alerts=1).idle
    assert not rules.Watch(alerts=(_alert(0),)).idle
