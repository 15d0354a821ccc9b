"""The shared entry-point decorator: what every Lambda function logs and warns."""

from __future__ import annotations

import warnings

from tally.observability import entry_point, metrics

NO_METRICS = "No application metrics to publish"


class _Context:
    function_name = "tally-test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:tally-test"
    aws_request_id = "req-1"


def _warnings_of_one_invocation() -> list[str]:
    handler = entry_point(lambda event, context: {"statusCode": 200})
    with warnings.catch_warnings(record=True) as caught:
        handler({"requestContext": {"requestId": "r"}}, _Context())
    return [str(w.message) for w in caught if NO_METRICS in str(w.message)]


def test_an_invocation_that_records_no_metric_does_not_warn():
    # GIVEN a handler that records no metric (most API requests) behind the shared decorators
    # WHEN it is invoked as Lambda would THEN Powertools' warning is not emitted
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert _warnings_of_one_invocation() == []


def test_recorded_metrics_are_flushed_after_the_invocation(monkeypatch, capsys):
    # GIVEN metrics enabled and a handler that records one (as meter events do)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    handler = entry_point(lambda event, context: metrics.add_metric("Things", "Count", 2) or {})
    # WHEN it is invoked THEN the metric is published (EMF on stdout) and the set is empty again
    handler({"requestContext": {"requestId": "r"}}, _Context())
    assert '"Things"' in capsys.readouterr().out
    assert metrics.metric_set == {}
