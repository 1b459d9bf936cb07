"""Process metrics and their Prometheus text."""

from __future__ import annotations

from flowcast.engine.metrics import Metrics


def test_counters_gauges_and_summaries_render_as_prometheus_text() -> None:
    m = Metrics()
    m.describe("flowcast_deadletters_total", "Refused input")
    m.inc("flowcast_deadletters_total", 2, reason="unknown_sensor")
    m.inc("flowcast_deadletters_total", reason="unknown_sensor")
    m.inc("flowcast_deadletters_total", reason='odd"quote')
    m.set("flowcast_consumer_lag_total", 17)
    for v in (0.1, 0.2, 0.3, 0.4):
        m.observe("flowcast_close_to_ack_seconds", v)
    assert m.counter("flowcast_deadletters_total", reason="unknown_sensor") == 3
    assert m.counter("flowcast_deadletters_total", reason="none") == 0
    assert m.gauge("flowcast_consumer_lag_total") == 17
    assert m.quantiles("flowcast_close_to_ack_seconds")[0.5] == 0.25
    text = m.render()
    assert "# HELP flowcast_deadletters_total Refused input" in text
    assert "# TYPE flowcast_deadletters_total counter" in text
    assert 'flowcast_deadletters_total{reason="unknown_sensor"} 3' in text
    assert 'flowcast_deadletters_total{reason="odd\\"quote"} 1' in text
    assert "flowcast_consumer_lag_total 17" in text
    assert "flowcast_close_to_ack_seconds_count 4" in text
    assert text.endswith("\n")
