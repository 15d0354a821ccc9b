"""`tally.domain.aggregation.Span`: how a [start, end) to the second is cut (hand-computed)."""

from __future__ import annotations

import pytest

from tally.domain.aggregation import HOUR, Partial, Span

H = 1_700_000_000 - 1_700_000_000 % HOUR  # an hour start


@pytest.mark.parametrize(
    ("start", "end", "whole", "partials"),
    [
        (H, H + HOUR, (H, H + HOUR), []),  # aligned: no partial minute
        (H + 30, H + 90, (H + 60, H + 60), [Partial(H, 30, 60), Partial(H + 60, 0, 30)]),
        (H + 10, H + 20, (H + 60, H), [Partial(H, 10, 20)]),  # both boundaries in one minute
        (H, H + 59, (H, H), [Partial(H, 0, 59)]),
        (H + 1, H + 60, (H + 60, H + 60), [Partial(H, 1, 60)]),
        (H + 5, H + 5, (H + 60, H), []),  # empty
    ],
)
def test_a_span_is_whole_minutes_and_at_most_two_partial_minutes(start, end, whole, partials):
    span = Span(start, end)
    assert span.whole() == whole
    assert span.partials() == partials


def test_whole_minutes_of_an_edge_hour_leave_the_partial_ones_out():
    span = Span(H + 30, H + HOUR + 90)
    assert span.minutes_in(H) == range(1, 60)
    assert span.minutes_in(H + HOUR) == range(0, 1)
    assert span.covers(H) is False and span.contains(H + 30) and not span.contains(H + HOUR + 90)
    assert span.hours() == (H, H + HOUR)


def test_only_a_part_holding_the_first_second_takes_a_minutes_undated_usage():
    assert Partial(H, 0, 30).holds_first_second and not Partial(H, 30, 60).holds_first_second
